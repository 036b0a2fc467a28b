-- Koppel schema 0013: certificates held by participants (mentor training and
-- certificates earned elsewhere), the basis of the certified-mentor register
-- and of the programme rule `rules.eligibility.mentor.required_certificates`.
-- A certificate is valid on a day D when issued_on <= D and (expires_on IS
-- NULL or D <= expires_on).
CREATE TABLE certificates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  participant_id uuid NOT NULL REFERENCES participants ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind ~ '^[a-z0-9_]{1,64}$'),
  issued_on date NOT NULL,
  expires_on date CHECK (expires_on IS NULL OR expires_on >= issued_on),
  issued_by_partner_id uuid REFERENCES partners,
  training_id uuid,           -- the training that awarded it (foreign key added with trainings)
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON certificates (participant_id, kind);
CREATE INDEX ON certificates (kind, expires_on);
CREATE TRIGGER certificates_audit AFTER INSERT OR UPDATE OR DELETE ON certificates
  FOR EACH ROW EXECUTE FUNCTION audit_row('participant_id');
CREATE TRIGGER certificates_touch BEFORE UPDATE ON certificates FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- ---------------------------------------------------------------- screening fields
-- What screening needs to know of a person: the birth year (the minimum age
-- of mentors; a year only, as programmes ask it), whether they may work in
-- the country, their employment (mentors: working, or retired under a year)
-- and, for a rejected candidate, why and to whom they were referred. A
-- rejection exists only while the status is rejected.
ALTER TABLE participants
  ADD COLUMN birth_year integer CHECK (birth_year BETWEEN 1900 AND 2100),
  ADD COLUMN work_permit boolean,
  ADD COLUMN employment_status text CHECK (employment_status IN ('working', 'retired', 'other')),
  ADD COLUMN employment_retired_on date,
  ADD COLUMN rejection_reason text,
  ADD COLUMN rejection_referred_to_partner_id uuid REFERENCES partners,
  ADD CONSTRAINT participants_retired_on CHECK (employment_retired_on IS NULL OR employment_status = 'retired'),
  ADD CONSTRAINT participants_rejection CHECK (rejection_reason IS NULL OR status = 'rejected'),
  ADD CONSTRAINT participants_rejection_referral CHECK (rejection_referred_to_partner_id IS NULL OR rejection_reason IS NOT NULL);
CREATE INDEX ON participants (rejection_referred_to_partner_id, seq) WHERE rejection_referred_to_partner_id IS NOT NULL;

-- Leaving the status rejected (rejected → applied) drops the rejection: the
-- audit log keeps that there was one. Fires after participants_check.
CREATE FUNCTION participants_screening() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> 'rejected' THEN
    NEW.rejection_reason := NULL;
    NEW.rejection_referred_to_partner_id := NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER participants_screening BEFORE INSERT OR UPDATE ON participants
  FOR EACH ROW EXECUTE FUNCTION participants_screening();

-- ---------------------------------------------------------------- eligibility rules
-- rules.eligibility of a programme; a rule left NULL (or false, or an empty
-- list) is not configured and is not evaluated.
ALTER TABLE programmes
  ADD COLUMN elig_max_years_since_arrival integer CHECK (elig_max_years_since_arrival BETWEEN 0 AND 100),
  ADD COLUMN elig_min_language_code text CHECK (elig_min_language_code ~ '^[a-z]{2}$'),
  ADD COLUMN elig_min_language_level text CHECK (elig_min_language_level IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2')),
  ADD COLUMN elig_required_fields text[] NOT NULL DEFAULT '{}',
  ADD COLUMN elig_min_years_experience integer CHECK (elig_min_years_experience BETWEEN 0 AND 80),
  ADD COLUMN elig_min_age integer CHECK (elig_min_age BETWEEN 14 AND 100),
  ADD COLUMN elig_working_or_recently_retired boolean NOT NULL DEFAULT false,
  ADD COLUMN elig_required_certificates text[] NOT NULL DEFAULT '{}',
  ADD CONSTRAINT programmes_min_language CHECK ((elig_min_language_code IS NULL) = (elig_min_language_level IS NULL)),
  ADD CONSTRAINT programmes_required_fields CHECK (elig_required_fields <@ ARRAY['job_target', 'work_permit',
    'education_level', 'arrival_on', 'languages', 'sectors', 'occupations', 'region', 'availability',
    'motivation', 'cv_url', 'years_experience', 'birth_year', 'employment']),
  ADD CONSTRAINT programmes_required_certificates CHECK (
    array_to_string(elig_required_certificates, ' ') ~ '^([a-z0-9_]{1,64}( |$))*$');

-- The elements of a JSON array of strings, in order; '{}' for anything else.
CREATE FUNCTION koppel_text_array(j jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'array'
    THEN ARRAY(SELECT e FROM jsonb_array_elements_text(j) WITH ORDINALITY AS t(e, o) ORDER BY o)
    ELSE '{}'::text[] END
$$;

-- programme_json gains rules.eligibility, always in full: a rule that is not
-- configured is null, false or [].
CREATE OR REPLACE FUNCTION programme_json(p programmes) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'name', p.name, 'description', p.description,
    'starts_on', p.starts_on, 'ends_on', p.ends_on, 'status', p.status,
    'rules', jsonb_build_object(
      'min_meetings', p.min_meetings, 'min_duration_days', p.min_duration_days,
      'max_mentees_per_mentor', p.max_mentees_per_mentor, 'waiting_alert_days', p.waiting_alert_days,
      'followup_interval_days', p.followup_interval_days,
      'small_group_threshold', p.small_group_threshold,
      'match_weights', jsonb_build_object(
        'occupation', p.match_weight_occupation, 'sector', p.match_weight_sector,
        'region', p.match_weight_region, 'availability', p.match_weight_availability,
        'language', p.match_weight_language),
      'eligibility', jsonb_build_object(
        'mentee', jsonb_build_object(
          'max_years_since_arrival', p.elig_max_years_since_arrival,
          'min_language', CASE WHEN p.elig_min_language_code IS NOT NULL THEN jsonb_build_object(
            'code', p.elig_min_language_code, 'level', p.elig_min_language_level) END,
          'required_fields', to_jsonb(p.elig_required_fields)),
        'mentor', jsonb_build_object(
          'min_years_experience', p.elig_min_years_experience, 'min_age', p.elig_min_age,
          'working_or_recently_retired', p.elig_working_or_recently_retired,
          'required_certificates', to_jsonb(p.elig_required_certificates)))),
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- ---------------------------------------------------------------- participant shapes

CREATE FUNCTION certificate_json(c certificates) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', c.id, 'kind', c.kind, 'issued_on', c.issued_on, 'expires_on', c.expires_on,
                            'issued_by_partner_id', c.issued_by_partner_id, 'training_id', c.training_id)
$$;

CREATE OR REPLACE FUNCTION participant_json(p participants) RETURNS jsonb LANGUAGE sql STABLE AS $$
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
  || jsonb_build_object(
    'birth_year', p.birth_year, 'work_permit', p.work_permit,
    'employment', CASE WHEN p.employment_status IS NOT NULL THEN jsonb_build_object(
      'status', p.employment_status, 'retired_on', p.employment_retired_on) END,
    'rejection', CASE WHEN p.rejection_reason IS NOT NULL THEN jsonb_build_object(
      'reason', p.rejection_reason, 'referred_to_partner_id', p.rejection_referred_to_partner_id) END,
    'certificates', coalesce((SELECT jsonb_agg(certificate_json(c) ORDER BY c.issued_on, c.kind, c.id)
                                FROM certificates c WHERE c.participant_id = p.id), '[]'))
$$;

-- As in 0001, and: integration clients see their employees' screening data
-- but not a rejection (the programme's judgement, not the employer's); a
-- mentor sees the mentees of their pairs without birth_year, work_permit and
-- rejection (screening data stays with staff and the person).
CREATE OR REPLACE FUNCTION participant_view(p participants, role text, sub uuid, all_prg boolean,
                                            prg uuid[], partner uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  pr pairs;
  contact boolean;
BEGIN
  IF role IN ('coordinator', 'coach') THEN
    RETURN CASE WHEN all_prg OR p.programme_id = ANY(prg) THEN participant_json(p) END;
  ELSIF role = 'integration' THEN
    RETURN CASE WHEN p.employer_partner_id = partner THEN participant_json(p) - 'rejection' END;
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
    RETURN participant_json(p) - 'birth_year' - 'work_permit' - 'rejection'
           - CASE WHEN contact THEN '{}'::text[] ELSE ARRAY['email', 'phone'] END;
  END IF;
  RETURN jsonb_build_object(
    'id', p.id, 'programme_id', p.programme_id, 'kind', p.kind,
    'given_name', p.given_name, 'family_name', p.family_name,
    'sectors', to_jsonb(p.sectors), 'occupations', to_jsonb(p.occupations), 'region', p.region,
    'languages', p.languages, 'years_experience', p.years_experience,
    'short_profile', p.short_profile)
   || CASE WHEN contact THEN jsonb_build_object('email', p.email, 'phone', p.phone) ELSE '{}'::jsonb END;
END $$;

-- ---------------------------------------------------------------- evaluation

-- The certificate kinds of kinds that participant pid holds no valid
-- certificate of on day d, in the order given.
CREATE FUNCTION missing_certificates(pid uuid, kinds text[], d date) RETURNS text[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(k ORDER BY o), '{}') FROM unnest(kinds) WITH ORDINALITY AS t(k, o)
  WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.participant_id = pid AND c.kind = t.k
                      AND c.issued_on <= d AND (c.expires_on IS NULL OR d <= c.expires_on))
$$;

-- {eligible, rules [{rule, result, reason}]} of participant p on day d: each
-- configured rule of the programme for the participant's kind, pass, fail,
-- or unknown when the data it needs is missing. eligible only when every
-- rule passes (true when none is configured).
CREATE FUNCTION participant_eligibility(p participants, d date) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  g programmes;
  out jsonb := '[]';
  res text;
  why text;
  lvl text;
  f text;
  v jsonb;
  j jsonb;
  problems text[];
  y integer := extract(year FROM d)::integer;
BEGIN
  SELECT * INTO g FROM programmes WHERE id = p.programme_id;
  IF p.kind = 'mentee' THEN
    IF g.elig_max_years_since_arrival IS NOT NULL THEN
      IF p.arrival_on IS NULL THEN
        res := 'unknown'; why := 'the arrival date is not recorded';
      ELSIF (p.arrival_on + make_interval(years => g.elig_max_years_since_arrival))::date >= d THEN
        res := 'pass'; why := format('arrived on %s, at most %s years ago', p.arrival_on, g.elig_max_years_since_arrival);
      ELSE
        res := 'fail'; why := format('arrived on %s, more than %s years ago', p.arrival_on, g.elig_max_years_since_arrival);
      END IF;
      out := out || jsonb_build_object('rule', 'max_years_since_arrival', 'result', res, 'reason', why);
    END IF;
    IF g.elig_min_language_code IS NOT NULL THEN
      SELECT l->>'level' INTO lvl FROM jsonb_array_elements(p.languages) l
       WHERE l->>'code' = g.elig_min_language_code LIMIT 1;
      IF lvl IS NULL AND jsonb_array_length(p.languages) = 0 THEN
        res := 'unknown'; why := 'no languages are recorded';
      ELSIF lvl IS NULL THEN
        res := 'fail'; why := format('%s is not among the recorded languages', g.elig_min_language_code);
      ELSIF lvl >= g.elig_min_language_level THEN  -- CEFR levels sort as text: A1 < A2 < ... < C2
        res := 'pass'; why := format('%s at %s, at least %s', g.elig_min_language_code, lvl, g.elig_min_language_level);
      ELSE
        res := 'fail'; why := format('%s at %s, below %s', g.elig_min_language_code, lvl, g.elig_min_language_level);
      END IF;
      out := out || jsonb_build_object('rule', 'min_language', 'result', res, 'reason', why);
    END IF;
    IF cardinality(g.elig_required_fields) > 0 THEN
      j := participant_json(p);
      problems := '{}';
      FOREACH f IN ARRAY g.elig_required_fields LOOP
        v := j -> f;
        IF v IS NULL OR v = 'null' OR v = '[]' OR v = '""' THEN
          problems := array_append(problems, format('%s is missing', f));
        ELSIF f = 'work_permit' AND v = 'false' THEN
          problems := array_append(problems, 'there is no work permit');
        END IF;
      END LOOP;
      IF cardinality(problems) = 0 THEN
        res := 'pass'; why := format('%s recorded', array_to_string(g.elig_required_fields, ', '));
      ELSE
        res := 'fail'; why := array_to_string(problems, '; ');
      END IF;
      out := out || jsonb_build_object('rule', 'required_fields', 'result', res, 'reason', why);
    END IF;
  ELSE
    IF g.elig_min_years_experience IS NOT NULL THEN
      IF p.years_experience IS NULL THEN
        res := 'unknown'; why := 'the years of experience are not recorded';
      ELSIF p.years_experience >= g.elig_min_years_experience THEN
        res := 'pass'; why := format('%s years of experience, at least %s', p.years_experience, g.elig_min_years_experience);
      ELSE
        res := 'fail'; why := format('%s years of experience, fewer than %s', p.years_experience, g.elig_min_years_experience);
      END IF;
      out := out || jsonb_build_object('rule', 'min_years_experience', 'result', res, 'reason', why);
    END IF;
    IF g.elig_min_age IS NOT NULL THEN
      -- only the birth year is known: y - birth_year is the age reached this
      -- year, one less before the birthday
      IF p.birth_year IS NULL THEN
        res := 'unknown'; why := 'the birth year is not recorded';
      ELSIF y - p.birth_year - 1 >= g.elig_min_age THEN
        res := 'pass'; why := format('born in %s: at least %s years old', p.birth_year, y - p.birth_year - 1);
      ELSIF y - p.birth_year < g.elig_min_age THEN
        res := 'fail'; why := format('born in %s: at most %s years old in %s, under %s', p.birth_year,
                                     y - p.birth_year, y, g.elig_min_age);
      ELSE
        res := 'unknown'; why := format('born in %s: turns %s in %s, on a birthday that is not recorded',
                                        p.birth_year, g.elig_min_age, y);
      END IF;
      out := out || jsonb_build_object('rule', 'min_age', 'result', res, 'reason', why);
    END IF;
    IF g.elig_working_or_recently_retired THEN
      IF p.employment_status IS NULL THEN
        res := 'unknown'; why := 'the employment is not recorded';
      ELSIF p.employment_status = 'working' THEN
        res := 'pass'; why := 'working';
      ELSIF p.employment_status = 'retired' AND p.employment_retired_on IS NULL THEN
        res := 'unknown'; why := 'retired, on a date that is not recorded';
      ELSIF p.employment_status = 'retired' AND (p.employment_retired_on + interval '1 year')::date >= d THEN
        res := 'pass'; why := format('retired on %s, less than a year ago', p.employment_retired_on);
      ELSIF p.employment_status = 'retired' THEN
        res := 'fail'; why := format('retired on %s, more than a year ago', p.employment_retired_on);
      ELSE
        res := 'fail'; why := 'neither working nor retired';
      END IF;
      out := out || jsonb_build_object('rule', 'working_or_recently_retired', 'result', res, 'reason', why);
    END IF;
    IF cardinality(g.elig_required_certificates) > 0 THEN
      problems := missing_certificates(p.id, g.elig_required_certificates, d);
      IF cardinality(problems) = 0 THEN
        res := 'pass'; why := format('holds a valid certificate of kind %s', array_to_string(g.elig_required_certificates, ', '));
      ELSE
        res := 'fail'; why := format('no valid certificate of kind %s', array_to_string(problems, ', '));
      END IF;
      out := out || jsonb_build_object('rule', 'required_certificates', 'result', res, 'reason', why);
    END IF;
  END IF;
  RETURN jsonb_build_object(
    'eligible', NOT EXISTS (SELECT 1 FROM jsonb_array_elements(out) r WHERE r->>'result' <> 'pass'),
    'rules', out);
END $$;

-- ---------------------------------------------------------------- the screening gate
-- Entering waiting from screening (applied, screened, a new participant, or
-- completed for a second round) needs every eligibility rule to pass, or an
-- override with its reason; returning to waiting from a pair (matched,
-- active) is not screening. Called by the service after the write, in the
-- same transaction: was is the status before (NULL for a new participant).
-- An override is recorded in the audit log as the creation of an
-- eligibility override of the participant: action 'create', entity
-- 'eligibility_overrides', entity_id the participant, the rules overridden
-- as changed_fields, and the reason (in a column of its own: the only free
-- text the audit log holds). The action list of audit_log stays as it is
-- (sql/0016 redefines it).
ALTER TABLE audit_log ADD COLUMN reason text;

CREATE FUNCTION participant_screening_gate(pid uuid, was text, override text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  p participants;
  e jsonb;
  failed text[];
  said text;
BEGIN
  SELECT * INTO p FROM participants WHERE id = pid;
  IF NOT FOUND OR p.status <> 'waiting' OR coalesce(was, '') IN ('waiting', 'matched', 'active') THEN
    RETURN;
  END IF;
  e := participant_eligibility(p, current_date);
  SELECT array_agg(r->>'rule' ORDER BY o),
         string_agg(format('%s (%s: %s)', r->>'rule', r->>'result', r->>'reason'), '; ' ORDER BY o)
    INTO failed, said
    FROM jsonb_array_elements(e->'rules') WITH ORDINALITY AS t(r, o) WHERE r->>'result' <> 'pass';
  IF failed IS NULL THEN
    RETURN;
  END IF;
  IF override IS NULL THEN
    RAISE EXCEPTION 'the participant does not meet the programme''s eligibility rules: %; to move them to waiting anyway, send override_reason with the status', said
      USING ERRCODE = 'KP409', DETAIL = '/status';
  END IF;
  INSERT INTO audit_log (actor, actor_role, request_id, action, entity, entity_id, changed_fields, reason)
  VALUES (coalesce(nullif(current_setting('koppel.actor', true), ''), 'system'),
          coalesce(nullif(current_setting('koppel.role', true), ''), 'system'),
          coalesce(current_setting('koppel.request_id', true), ''),
          'create', 'eligibility_overrides', pid::text, failed, override);
END $$;
