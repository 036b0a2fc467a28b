-- Koppel schema 0001: programmes, topics, staff, partners, participants,
-- pairs (table only; its endpoints come later) and the audit log.
-- JSON representations are built here, next to the tables, so every module
-- returns the same shape and the API never formats timestamps by hand.

CREATE TABLE programmes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL,
  description text,
  starts_on date,
  ends_on date,
  status text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'running', 'closed')),
  min_meetings integer NOT NULL DEFAULT 6 CHECK (min_meetings BETWEEN 0 AND 1000),
  min_duration_days integer NOT NULL DEFAULT 90 CHECK (min_duration_days BETWEEN 0 AND 3650),
  max_mentees_per_mentor integer NOT NULL DEFAULT 1 CHECK (max_mentees_per_mentor BETWEEN 1 AND 100),
  waiting_alert_days integer NOT NULL DEFAULT 30 CHECK (waiting_alert_days BETWEEN 1 AND 3650),
  followup_interval_days integer NOT NULL DEFAULT 90 CHECK (followup_interval_days BETWEEN 1 AND 3650),
  small_group_threshold integer NOT NULL DEFAULT 5 CHECK (small_group_threshold BETWEEN 1 AND 1000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on)
);

CREATE TABLE programme_topics (
  programme_id uuid NOT NULL REFERENCES programmes ON DELETE CASCADE,
  key text NOT NULL,
  label text NOT NULL,
  position integer NOT NULL,
  PRIMARY KEY (programme_id, key)
);

CREATE TABLE staff (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL,
  email text,
  role text NOT NULL CHECK (role IN ('coordinator', 'coach')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff_programmes (
  staff_id uuid NOT NULL REFERENCES staff ON DELETE CASCADE,
  programme_id uuid NOT NULL REFERENCES programmes,
  PRIMARY KEY (staff_id, programme_id)
);
CREATE INDEX ON staff_programmes (programme_id);

CREATE TABLE partners (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('referral', 'employer', 'funder', 'training', 'education', 'other')),
  contact_name text,
  contact_email text,
  contact_phone text,
  agreement_kind text CHECK (agreement_kind IN ('formal', 'ad_hoc')),
  agreement_signed_on date,
  active boolean NOT NULL DEFAULT true,
  notes text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  programme_id uuid NOT NULL REFERENCES programmes,
  kind text NOT NULL CHECK (kind IN ('mentor', 'mentee')),
  given_name text NOT NULL,
  family_name text NOT NULL,
  email text,
  phone text,
  status text NOT NULL DEFAULT 'applied'
    CHECK (status IN ('applied', 'screened', 'waiting', 'matched', 'active', 'completed', 'withdrawn', 'rejected')),
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  waiting_since timestamptz,
  sectors text[] NOT NULL DEFAULT '{}' CHECK (cardinality(sectors) <= 2),
  occupations text[] NOT NULL DEFAULT '{}' CHECK (cardinality(occupations) <= 2),
  region text,
  availability text[] NOT NULL DEFAULT '{}'
    CHECK (availability <@ ARRAY['working_hours', 'evenings', 'weekends']),
  languages jsonb NOT NULL DEFAULT '[]',
  years_experience integer CHECK (years_experience BETWEEN 0 AND 80),
  education_level text CHECK (education_level IN ('primary', 'lower_secondary', 'upper_secondary',
    'post_secondary', 'short_tertiary', 'bachelor', 'master', 'doctorate')),
  job_target text,
  motivation text,
  arrival_on date,
  referred_by_partner_id uuid REFERENCES partners,
  employer_partner_id uuid REFERENCES partners,
  external_ref text,
  capacity integer CHECK (capacity BETWEEN 0 AND 100),
  short_profile text,
  cv_url text,
  consent_data_processing boolean NOT NULL DEFAULT false,
  consent_research boolean NOT NULL DEFAULT false,
  consent_given_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON participants (programme_id, seq);
CREATE INDEX ON participants (employer_partner_id, seq);
CREATE INDEX ON participants (referred_by_partner_id);
CREATE INDEX ON participants (updated_at);
CREATE UNIQUE INDEX participants_external_ref ON participants (employer_partner_id, external_ref)
  WHERE external_ref IS NOT NULL;

CREATE TABLE pairs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  programme_id uuid NOT NULL REFERENCES programmes,
  mentor_id uuid NOT NULL REFERENCES participants,
  mentee_id uuid NOT NULL REFERENCES participants,
  coach_id uuid REFERENCES staff,
  status text NOT NULL DEFAULT 'proposed'
    CHECK (status IN ('proposed', 'accepted', 'active', 'completed', 'ended', 'declined')),
  mentor_accepted_at timestamptz,
  mentee_accepted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (mentor_id <> mentee_id)
);
CREATE INDEX ON pairs (mentor_id);
CREATE INDEX ON pairs (mentee_id);
CREATE INDEX ON pairs (programme_id);

CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  actor_role text NOT NULL,
  request_id text NOT NULL,
  action text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
  entity text NOT NULL,
  entity_id text NOT NULL,
  changed_fields text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX ON audit_log (entity, entity_id);

-- updated_at moves only when something really changed.
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF row(NEW.*) IS DISTINCT FROM row(OLD.*) THEN
    NEW.updated_at := clock_timestamp();
  END IF;
  RETURN NEW;
END $$;

-- Every write is audited in its own transaction: who (set by the service with
-- set_config('koppel.actor', ...)), when, which entity, which fields changed.
-- Field names only: personal data never lands in the audit log.
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text[] := '{}';
  o jsonb;
  n jsonb;
  k text;
  rid text;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    o := to_jsonb(OLD) - 'updated_at' - 'seq';
    n := to_jsonb(NEW) - 'updated_at' - 'seq';
    FOR k IN SELECT jsonb_object_keys(n) LOOP
      IF o -> k IS DISTINCT FROM n -> k THEN changed := changed || k; END IF;
    END LOOP;
    IF cardinality(changed) = 0 THEN RETURN NULL; END IF;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT coalesce(array_agg(key ORDER BY key), '{}') INTO changed
      FROM jsonb_each(to_jsonb(NEW)) WHERE value <> 'null'::jsonb AND key NOT IN ('seq', 'created_at', 'updated_at');
  END IF;
  rid := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ->> TG_ARGV[0] ELSE to_jsonb(NEW) ->> TG_ARGV[0] END;
  INSERT INTO audit_log (actor, actor_role, request_id, action, entity, entity_id, changed_fields)
  VALUES (coalesce(nullif(current_setting('koppel.actor', true), ''), 'system'),
          coalesce(nullif(current_setting('koppel.role', true), ''), 'system'),
          coalesce(current_setting('koppel.request_id', true), ''),
          lower(CASE TG_OP WHEN 'INSERT' THEN 'create' ELSE TG_OP END), TG_TABLE_NAME, rid, changed);
  RETURN NULL;
END $$;

CREATE TRIGGER programmes_touch BEFORE UPDATE ON programmes FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER staff_touch BEFORE UPDATE ON staff FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER partners_touch BEFORE UPDATE ON partners FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER pairs_touch BEFORE UPDATE ON pairs FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER programmes_audit AFTER INSERT OR UPDATE OR DELETE ON programmes FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER programme_topics_audit AFTER INSERT OR UPDATE OR DELETE ON programme_topics FOR EACH ROW EXECUTE FUNCTION audit_row('programme_id');
CREATE TRIGGER staff_audit AFTER INSERT OR UPDATE OR DELETE ON staff FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER staff_programmes_audit AFTER INSERT OR DELETE ON staff_programmes FOR EACH ROW EXECUTE FUNCTION audit_row('staff_id');
CREATE TRIGGER partners_audit AFTER INSERT OR UPDATE OR DELETE ON partners FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER participants_audit AFTER INSERT OR UPDATE OR DELETE ON participants FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER pairs_audit AFTER INSERT OR UPDATE OR DELETE ON pairs FOR EACH ROW EXECUTE FUNCTION audit_row('id');

-- A participant's path (DOMAIN.md). Pairs move statuses through the same check.
CREATE FUNCTION participant_transition_ok(old_status text, new_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT old_status = new_status OR (old_status, new_status) IN (
    ('applied', 'screened'), ('applied', 'rejected'), ('applied', 'withdrawn'),
    ('screened', 'waiting'), ('screened', 'rejected'), ('screened', 'withdrawn'),
    ('waiting', 'matched'), ('waiting', 'withdrawn'),
    ('matched', 'active'), ('matched', 'waiting'), ('matched', 'withdrawn'),
    ('active', 'completed'), ('active', 'withdrawn'), ('active', 'waiting'),
    ('completed', 'waiting'),
    ('withdrawn', 'applied'), ('rejected', 'applied'))
$$;

CREATE FUNCTION participants_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.programme_id <> OLD.programme_id OR NEW.kind <> OLD.kind THEN
      RAISE EXCEPTION 'programme_id and kind cannot change once a participant exists'
        USING ERRCODE = 'KP409';
    END IF;
    IF NEW.status <> OLD.status THEN
      IF NOT participant_transition_ok(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'status cannot move from % to %', OLD.status, NEW.status
          USING ERRCODE = 'KP409', DETAIL = '/status';
      END IF;
      NEW.status_changed_at := clock_timestamp();
    END IF;
    IF row(NEW.*) IS DISTINCT FROM row(OLD.*) THEN
      NEW.updated_at := clock_timestamp();
    END IF;
  ELSIF NEW.status NOT IN ('applied', 'screened', 'waiting') THEN
    RAISE EXCEPTION 'a new participant starts as applied, screened or waiting'
      USING ERRCODE = 'KP422', DETAIL = '/status';
  END IF;
  IF NEW.status = 'waiting' AND (TG_OP = 'INSERT' OR OLD.status <> 'waiting') THEN
    NEW.waiting_since := clock_timestamp();
  ELSIF NEW.status <> 'waiting' THEN
    NEW.waiting_since := NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER participants_check BEFORE INSERT OR UPDATE ON participants
  FOR EACH ROW EXECUTE FUNCTION participants_before_write();

-- ---------------------------------------------------------------- JSON shapes

CREATE FUNCTION programme_json(p programmes) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'name', p.name, 'description', p.description,
    'starts_on', p.starts_on, 'ends_on', p.ends_on, 'status', p.status,
    'rules', jsonb_build_object(
      'min_meetings', p.min_meetings, 'min_duration_days', p.min_duration_days,
      'max_mentees_per_mentor', p.max_mentees_per_mentor, 'waiting_alert_days', p.waiting_alert_days,
      'followup_interval_days', p.followup_interval_days,
      'small_group_threshold', p.small_group_threshold),
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

CREATE FUNCTION staff_json(s staff) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', s.id, 'name', s.name, 'email', s.email, 'role', s.role,
    'programmes', coalesce((SELECT jsonb_agg(sp.programme_id ORDER BY sp.programme_id)
                              FROM staff_programmes sp WHERE sp.staff_id = s.id), '[]'),
    'created_at', s.created_at, 'updated_at', s.updated_at)
$$;

-- with_contact = false drops the contact person (researchers).
CREATE FUNCTION partner_json(p partners, with_contact boolean) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'name', p.name, 'kind', p.kind,
    'agreement', jsonb_build_object('kind', p.agreement_kind, 'signed_on', p.agreement_signed_on),
    'active', p.active, 'notes', p.notes,
    'created_at', p.created_at, 'updated_at', p.updated_at)
  || CASE WHEN with_contact THEN jsonb_build_object('contact', jsonb_build_object(
       'name', p.contact_name, 'email', p.contact_email, 'phone', p.contact_phone))
     ELSE '{}'::jsonb END
$$;

CREATE FUNCTION participant_json(p participants) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'programme_id', p.programme_id, 'kind', p.kind,
    'given_name', p.given_name, 'family_name', p.family_name, 'email', p.email, 'phone', p.phone,
    'status', p.status, 'status_changed_at', p.status_changed_at, 'waiting_since', p.waiting_since,
    'sectors', to_jsonb(p.sectors), 'occupations', to_jsonb(p.occupations), 'region', p.region,
    'availability', to_jsonb(p.availability), 'languages', p.languages,
    'years_experience', p.years_experience, 'education_level', p.education_level,
    'job_target', p.job_target, 'motivation', p.motivation, 'arrival_on', p.arrival_on,
    'referred_by_partner_id', p.referred_by_partner_id, 'employer_partner_id', p.employer_partner_id,
    'external_ref', p.external_ref, 'capacity', p.capacity, 'short_profile', p.short_profile,
    'cv_url', p.cv_url,
    'consent', jsonb_build_object('data_processing', p.consent_data_processing,
                                  'research', p.consent_research, 'given_at', p.consent_given_at),
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- What a caller sees of participant p, or NULL when it is not visible to them.
-- Staff and integration clients see the full record in their scope; mentors
-- and mentees see themselves in full; a mentor sees the full profile of the
-- mentees in their pairs, a mentee the short profile of their mentor; the
-- counterpart's e-mail and phone appear only once both have accepted.
CREATE FUNCTION participant_view(p participants, role text, sub uuid, all_prg boolean,
                                 prg uuid[], partner uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  pr pairs;
  contact boolean;
BEGIN
  IF role IN ('coordinator', 'coach') THEN
    RETURN CASE WHEN all_prg OR p.programme_id = ANY(prg) THEN participant_json(p) END;
  ELSIF role = 'integration' THEN
    RETURN CASE WHEN p.employer_partner_id = partner THEN participant_json(p) END;
  ELSIF role NOT IN ('mentor', 'mentee') THEN
    RETURN NULL;
  END IF;
  IF p.id = sub THEN
    RETURN participant_json(p);
  END IF;
  SELECT * INTO pr FROM pairs x
   WHERE x.status <> 'declined'
     AND ((role = 'mentor' AND x.mentor_id = sub AND x.mentee_id = p.id)
       OR (role = 'mentee' AND x.mentee_id = sub AND x.mentor_id = p.id))
   ORDER BY (x.mentor_accepted_at IS NOT NULL AND x.mentee_accepted_at IS NOT NULL) DESC, x.created_at DESC
   LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  contact := pr.mentor_accepted_at IS NOT NULL AND pr.mentee_accepted_at IS NOT NULL;
  IF role = 'mentor' THEN
    RETURN CASE WHEN contact THEN participant_json(p) ELSE participant_json(p) - 'email' - 'phone' END;
  END IF;
  RETURN jsonb_build_object(
    'id', p.id, 'programme_id', p.programme_id, 'kind', p.kind,
    'given_name', p.given_name, 'family_name', p.family_name,
    'sectors', to_jsonb(p.sectors), 'occupations', to_jsonb(p.occupations), 'region', p.region,
    'languages', p.languages, 'years_experience', p.years_experience,
    'short_profile', p.short_profile)
   || CASE WHEN contact THEN jsonb_build_object('email', p.email, 'phone', p.phone) ELSE '{}'::jsonb END;
END $$;

-- Whether a caller may read programme pid: staff and researchers within
-- their prg claim, mentors and mentees the programme they take part in.
CREATE FUNCTION programme_visible(pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN role IN ('coordinator', 'coach', 'researcher') THEN all_prg OR pid = ANY(prg)
    WHEN role IN ('mentor', 'mentee') THEN EXISTS (
      SELECT 1 FROM participants x WHERE x.id = sub AND x.programme_id = pid AND x.kind = role)
    ELSE false END
$$;
