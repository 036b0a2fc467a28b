-- Koppel schema 0014: mentor trainings with enrolments (completion awards a
-- certificate, sql/0013), the certified-mentor register, and programme
-- activities with registrations; both with a capacity and a waiting list.
--
-- Capacity under concurrency: every write on the enrolments of a training
-- (or the registrations of an activity) first locks the training's (the
-- activity's) row, then counts in a statement of its own. The functions are
-- VOLATILE plpgsql, so under READ COMMITTED each statement takes a fresh
-- snapshot after the lock was granted and sees every committed seat: of N
-- parallel requests for the last seat exactly one is registered, the others
-- are waitlisted. Cancelling a registered seat moves the first waitlisted
-- (in the order they came) up, in the same transaction.
--
-- Errors meant for the client are raised as KPnnn (the HTTP status), with
-- DETAIL a JSON pointer into the body when a field is at fault.

CREATE TABLE trainings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  partner_id uuid NOT NULL REFERENCES partners,
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  held_on date NOT NULL,
  mode text NOT NULL CHECK (mode IN ('online', 'in_person')),
  capacity integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
  certificate_kind text NOT NULL CHECK (certificate_kind ~ '^[a-z0-9_]{1,64}$'),
  validity_months integer CHECK (validity_months BETWEEN 1 AND 600),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON trainings (partner_id);
CREATE INDEX ON trainings (held_on);

CREATE TABLE training_enrolments (
  training_id uuid NOT NULL REFERENCES trainings ON DELETE CASCADE,
  participant_id uuid NOT NULL REFERENCES participants ON DELETE CASCADE,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  status text NOT NULL CHECK (status IN ('registered', 'waitlisted')),
  attended_at timestamptz,
  completed_on date,
  certificate_id uuid REFERENCES certificates ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (training_id, participant_id),
  CHECK (completed_on IS NULL OR status = 'registered'),
  CHECK (attended_at IS NULL OR status = 'registered'),
  -- completing implies attending (training_complete records both)
  CHECK (completed_on IS NULL OR attended_at IS NOT NULL)
);
CREATE INDEX ON training_enrolments (participant_id);
CREATE INDEX ON training_enrolments (training_id, status, seq);

ALTER TABLE certificates ADD CONSTRAINT certificates_training_id_fkey
  FOREIGN KEY (training_id) REFERENCES trainings ON DELETE SET NULL;
CREATE INDEX ON certificates (training_id);

CREATE TABLE activities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  programme_id uuid NOT NULL REFERENCES programmes,
  kind text NOT NULL CHECK (kind IN ('orientation', 'workshop', 'exchange', 'training', 'event')),
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  held_on date NOT NULL,
  place text CHECK (char_length(place) <= 200),
  capacity integer NOT NULL CHECK (capacity BETWEEN 1 AND 10000),
  audience text NOT NULL CHECK (audience IN ('mentors', 'mentees', 'both')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON activities (programme_id, held_on);

CREATE TABLE activity_registrations (
  activity_id uuid NOT NULL REFERENCES activities ON DELETE CASCADE,
  participant_id uuid NOT NULL REFERENCES participants ON DELETE CASCADE,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  status text NOT NULL CHECK (status IN ('registered', 'waitlisted')),
  attended_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (activity_id, participant_id),
  CHECK (attended_at IS NULL OR status = 'registered')
);
CREATE INDEX ON activity_registrations (participant_id);
CREATE INDEX ON activity_registrations (activity_id, status, seq);

CREATE TRIGGER trainings_touch BEFORE UPDATE ON trainings FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER training_enrolments_touch BEFORE UPDATE ON training_enrolments
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- A completion written without an attendance (a direct load such as the demo
-- data) records the attendance at the same time, as training_complete does.
CREATE FUNCTION training_enrolments_attended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.completed_on IS NOT NULL AND NEW.attended_at IS NULL THEN
    NEW.attended_at := now();
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER training_enrolments_attended BEFORE INSERT OR UPDATE ON training_enrolments
  FOR EACH ROW EXECUTE FUNCTION training_enrolments_attended();
CREATE TRIGGER activities_touch BEFORE UPDATE ON activities FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER activity_registrations_touch BEFORE UPDATE ON activity_registrations
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER trainings_audit AFTER INSERT OR UPDATE OR DELETE ON trainings
  FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER training_enrolments_audit AFTER INSERT OR UPDATE OR DELETE ON training_enrolments
  FOR EACH ROW EXECUTE FUNCTION audit_row('participant_id');
CREATE TRIGGER activities_audit AFTER INSERT OR UPDATE OR DELETE ON activities
  FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER activity_registrations_audit AFTER INSERT OR UPDATE OR DELETE ON activity_registrations
  FOR EACH ROW EXECUTE FUNCTION audit_row('participant_id');

-- ---------------------------------------------------------------- JSON

-- the same as in sql/0013 (defined there once the participant shows its certificates)
CREATE OR REPLACE FUNCTION certificate_json(c certificates) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', c.id, 'kind', c.kind, 'issued_on', c.issued_on, 'expires_on', c.expires_on,
                            'issued_by_partner_id', c.issued_by_partner_id, 'training_id', c.training_id)
$$;

CREATE FUNCTION training_json(t trainings) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', t.id, 'partner_id', t.partner_id, 'title', t.title, 'held_on', t.held_on, 'mode', t.mode,
    'capacity', t.capacity, 'certificate_kind', t.certificate_kind, 'validity_months', t.validity_months,
    'registered', (SELECT count(*) FROM training_enrolments e WHERE e.training_id = t.id AND e.status = 'registered'),
    'waitlisted', (SELECT count(*) FROM training_enrolments e WHERE e.training_id = t.id AND e.status = 'waitlisted'),
    'created_at', t.created_at, 'updated_at', t.updated_at)
$$;

-- position: 1 for the first on the waiting list; null when registered.
CREATE FUNCTION enrolment_json(e training_enrolments) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'training_id', e.training_id, 'participant_id', e.participant_id, 'status', e.status,
    'position', CASE WHEN e.status = 'waitlisted' THEN (SELECT count(*) FROM training_enrolments w
                  WHERE w.training_id = e.training_id AND w.status = 'waitlisted' AND w.seq <= e.seq) END,
    'attended_at', e.attended_at, 'completed_on', e.completed_on,
    'certificate', (SELECT certificate_json(c) FROM certificates c WHERE c.id = e.certificate_id),
    'created_at', e.created_at, 'updated_at', e.updated_at)
$$;

CREATE FUNCTION activity_json(a activities) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', a.id, 'programme_id', a.programme_id, 'kind', a.kind, 'title', a.title, 'held_on', a.held_on,
    'place', a.place, 'capacity', a.capacity, 'audience', a.audience,
    'registered', (SELECT count(*) FROM activity_registrations x WHERE x.activity_id = a.id AND x.status = 'registered'),
    'waitlisted', (SELECT count(*) FROM activity_registrations x WHERE x.activity_id = a.id AND x.status = 'waitlisted'),
    'attended', (SELECT count(*) FROM activity_registrations x WHERE x.activity_id = a.id AND x.attended_at IS NOT NULL),
    'created_at', a.created_at, 'updated_at', a.updated_at)
$$;

CREATE FUNCTION registration_json(x activity_registrations) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'activity_id', x.activity_id, 'participant_id', x.participant_id, 'status', x.status,
    'position', CASE WHEN x.status = 'waitlisted' THEN (SELECT count(*) FROM activity_registrations w
                  WHERE w.activity_id = x.activity_id AND w.status = 'waitlisted' AND w.seq <= x.seq) END,
    'attended_at', x.attended_at, 'created_at', x.created_at, 'updated_at', x.updated_at)
$$;

-- ---------------------------------------------------------------- scope

-- Whether staff with this claim work in programme pid.
CREATE FUNCTION staff_in(pid uuid, all_prg boolean, prg uuid[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT all_prg OR pid = ANY(prg)
$$;

-- Whether a caller sees the enrolment of participant p: staff when p is in
-- their programmes, a mentor their own. Trainings are organisation-wide (a
-- partner's session any programme's mentors attend); their enrolment lists
-- are not: a coordinator of one programme never sees another's mentors.
CREATE FUNCTION enrolment_visible(p participants, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN role IN ('coordinator', 'coach') THEN staff_in(p.programme_id, all_prg, prg)
              WHEN role = 'mentor' THEN p.id = sub ELSE false END
$$;

-- Whether a caller sees activity a: staff of its programme; mentors and
-- mentees of its programme when the audience includes them.
CREATE FUNCTION activity_visible(a activities, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN role IN ('coordinator', 'coach') THEN staff_in(a.programme_id, all_prg, prg)
              WHEN role IN ('mentor', 'mentee') THEN
                (a.audience = 'both' OR a.audience = role || 's')
                AND EXISTS (SELECT 1 FROM participants x WHERE x.id = sub AND x.kind = role
                              AND x.programme_id = a.programme_id)
              ELSE false END
$$;

-- ---------------------------------------------------------------- trainings

CREATE FUNCTION training_enrol(tid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t trainings;
  p participants;
  n bigint;
  e training_enrolments;
BEGIN
  SELECT * INTO t FROM trainings WHERE id = tid FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no training % is visible to you', tid USING ERRCODE = 'KP404';
  END IF;
  IF role = 'mentor' AND pid <> sub THEN
    RAISE EXCEPTION 'a mentor enrols only themselves: participant_id must be your own id'
      USING ERRCODE = 'KP403', DETAIL = '/participant_id';
  END IF;
  SELECT * INTO p FROM participants WHERE id = pid;
  IF NOT FOUND OR NOT enrolment_visible(p, role, sub, all_prg, prg) THEN
    RAISE EXCEPTION 'no participant % is visible to you', pid USING ERRCODE = 'KP422', DETAIL = '/participant_id';
  END IF;
  IF p.kind <> 'mentor' THEN
    RAISE EXCEPTION 'participant % is a mentee: mentor trainings are for mentors', pid
      USING ERRCODE = 'KP422', DETAIL = '/participant_id';
  END IF;
  IF p.status IN ('withdrawn', 'rejected') THEN
    RAISE EXCEPTION 'participant % is %: only current participants enrol', pid, p.status USING ERRCODE = 'KP409';
  END IF;
  IF role = 'mentor' AND t.held_on < current_date THEN
    RAISE EXCEPTION 'the training was held on %: mentors enrol until that day (a coordinator may still record it)',
      t.held_on USING ERRCODE = 'KP409';
  END IF;
  IF EXISTS (SELECT 1 FROM training_enrolments WHERE training_id = tid AND participant_id = pid) THEN
    RAISE EXCEPTION 'participant % is enrolled in this training already', pid USING ERRCODE = 'KP409';
  END IF;
  -- a statement of its own after the lock: sees every seat committed before it
  SELECT count(*) INTO n FROM training_enrolments WHERE training_id = tid AND status = 'registered';
  INSERT INTO training_enrolments (training_id, participant_id, status)
  VALUES (tid, pid, CASE WHEN n < t.capacity THEN 'registered' ELSE 'waitlisted' END)
  RETURNING * INTO e;
  RETURN enrolment_json(e);
END $$;

-- Cancels an enrolment (not a completed one); the first waitlisted moves up
-- when a registered seat frees.
CREATE FUNCTION training_cancel(tid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  e training_enrolments;
BEGIN
  PERFORM 1 FROM trainings WHERE id = tid FOR UPDATE;
  SELECT e0.* INTO e FROM training_enrolments e0 JOIN participants p ON p.id = e0.participant_id
   WHERE e0.training_id = tid AND e0.participant_id = pid AND enrolment_visible(p, role, sub, all_prg, prg);
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no enrolment of participant % in training % is visible to you', pid, tid
      USING ERRCODE = 'KP404';
  END IF;
  IF e.completed_on IS NOT NULL THEN
    RAISE EXCEPTION 'this enrolment was completed on % and awarded a certificate: it can no longer be cancelled',
      e.completed_on USING ERRCODE = 'KP409';
  END IF;
  IF e.attended_at IS NOT NULL THEN
    RAISE EXCEPTION 'participant % attended this training: the enrolment can no longer be cancelled', pid
      USING ERRCODE = 'KP409';
  END IF;
  DELETE FROM training_enrolments WHERE training_id = tid AND participant_id = pid;
  IF e.status = 'registered' THEN
    UPDATE training_enrolments SET status = 'registered'
     WHERE (training_id, participant_id) = (SELECT training_id, participant_id FROM training_enrolments
                                             WHERE training_id = tid AND status = 'waitlisted'
                                             ORDER BY seq LIMIT 1);
  END IF;
END $$;

-- The enrolment of pid in tid as the caller may see it (staff of the
-- mentor's programme, the mentor their own), locked; raises 404 otherwise.
CREATE FUNCTION training_enrolment_for(tid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS training_enrolments LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  e training_enrolments;
BEGIN
  SELECT e0.* INTO e FROM training_enrolments e0 JOIN participants p ON p.id = e0.participant_id
   WHERE e0.training_id = tid AND e0.participant_id = pid AND enrolment_visible(p, role, sub, all_prg, prg)
     FOR UPDATE OF e0;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no enrolment of participant % in training % is visible to you', pid, tid
      USING ERRCODE = 'KP404';
  END IF;
  RETURN e;
END $$;

-- Records that participant pid attended training tid (staff, from the day
-- it is held, a registered seat only, once). Attendance is not completion:
-- no certificate is awarded until training_complete.
CREATE FUNCTION training_attended(tid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  e training_enrolments;
  held date;
BEGIN
  e := training_enrolment_for(tid, pid, role, sub, all_prg, prg);
  SELECT held_on INTO held FROM trainings WHERE id = tid;
  IF e.attended_at IS NOT NULL THEN
    RAISE EXCEPTION 'the attendance of participant % was recorded already (at %)', pid, e.attended_at
      USING ERRCODE = 'KP409';
  END IF;
  IF e.status <> 'registered' THEN
    RAISE EXCEPTION 'participant % is on the waiting list of this training, not registered', pid
      USING ERRCODE = 'KP409';
  END IF;
  IF held > current_date THEN
    RAISE EXCEPTION 'the training is held on %: attendance is recorded from that day', held USING ERRCODE = 'KP409';
  END IF;
  UPDATE training_enrolments SET attended_at = now() WHERE training_id = tid AND participant_id = pid
  RETURNING * INTO e;
  RETURN enrolment_json(e);
END $$;

-- Records that participant pid completed training tid and awards the
-- certificate: kind from the training, issued on the day the training was
-- held, expiring validity_months later (never when validity_months is null),
-- issued by the training's partner. Once per enrolment (409 the second time).
-- Completing implies attending: without a recorded attendance, it is
-- recorded now, in the same statement.
CREATE FUNCTION training_complete(tid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t trainings;
  e training_enrolments;
  cid uuid;
BEGIN
  SELECT * INTO t FROM trainings WHERE id = tid;
  e := training_enrolment_for(tid, pid, role, sub, all_prg, prg);
  IF e.completed_on IS NOT NULL THEN
    RAISE EXCEPTION 'participant % completed this training already (recorded on %); the certificate was awarded then',
      pid, e.completed_on USING ERRCODE = 'KP409';
  END IF;
  IF e.status <> 'registered' THEN
    RAISE EXCEPTION 'participant % is on the waiting list of this training, not registered', pid
      USING ERRCODE = 'KP409';
  END IF;
  IF t.held_on > current_date THEN
    RAISE EXCEPTION 'the training is held on %: completion is recorded from that day', t.held_on
      USING ERRCODE = 'KP409';
  END IF;
  INSERT INTO certificates (participant_id, kind, issued_on, expires_on, issued_by_partner_id, training_id)
  VALUES (pid, t.certificate_kind, t.held_on,
          CASE WHEN t.validity_months IS NOT NULL
               THEN (t.held_on + make_interval(months => t.validity_months))::date END,
          t.partner_id, t.id)
  RETURNING id INTO cid;
  UPDATE training_enrolments SET completed_on = current_date, certificate_id = cid,
         attended_at = coalesce(attended_at, now())
   WHERE training_id = tid AND participant_id = pid RETURNING * INTO e;
  RETURN enrolment_json(e);
END $$;

-- ---------------------------------------------------------------- activities

CREATE FUNCTION activity_register(aid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  a activities;
  p participants;
  n bigint;
  x activity_registrations;
BEGIN
  SELECT * INTO a FROM activities WHERE id = aid FOR UPDATE;
  IF NOT FOUND OR NOT activity_visible(a, role, sub, all_prg, prg) THEN
    RAISE EXCEPTION 'no activity % is visible to you', aid USING ERRCODE = 'KP404';
  END IF;
  IF role IN ('mentor', 'mentee') AND pid <> sub THEN
    RAISE EXCEPTION 'you may register only yourself: participant_id must be your own id'
      USING ERRCODE = 'KP403', DETAIL = '/participant_id';
  END IF;
  SELECT * INTO p FROM participants WHERE id = pid;
  IF NOT FOUND OR p.programme_id <> a.programme_id THEN
    RAISE EXCEPTION 'participant % is not a participant of the activity''s programme %', pid, a.programme_id
      USING ERRCODE = 'KP422', DETAIL = '/participant_id';
  END IF;
  IF NOT (a.audience = 'both' OR a.audience = p.kind || 's') THEN
    RAISE EXCEPTION 'participant % is a %: this activity is for %', pid, p.kind, a.audience
      USING ERRCODE = 'KP422', DETAIL = '/participant_id';
  END IF;
  IF p.status IN ('withdrawn', 'rejected') THEN
    RAISE EXCEPTION 'participant % is %: only current participants register', pid, p.status USING ERRCODE = 'KP409';
  END IF;
  IF role IN ('mentor', 'mentee') AND a.held_on < current_date THEN
    RAISE EXCEPTION 'the activity was held on %: registration closed that day', a.held_on USING ERRCODE = 'KP409';
  END IF;
  IF EXISTS (SELECT 1 FROM activity_registrations WHERE activity_id = aid AND participant_id = pid) THEN
    RAISE EXCEPTION 'participant % is registered for this activity already', pid USING ERRCODE = 'KP409';
  END IF;
  SELECT count(*) INTO n FROM activity_registrations WHERE activity_id = aid AND status = 'registered';
  INSERT INTO activity_registrations (activity_id, participant_id, status)
  VALUES (aid, pid, CASE WHEN n < a.capacity THEN 'registered' ELSE 'waitlisted' END)
  RETURNING * INTO x;
  RETURN registration_json(x);
END $$;

-- The registration of pid for aid as the caller may see it (staff of the
-- programme any, a participant their own), locked; raises 404 otherwise.
CREATE FUNCTION activity_registration_for(aid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS activity_registrations LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  x activity_registrations;
BEGIN
  SELECT x0.* INTO x FROM activity_registrations x0 JOIN activities a ON a.id = x0.activity_id
   WHERE x0.activity_id = aid AND x0.participant_id = pid AND activity_visible(a, role, sub, all_prg, prg)
     AND (role IN ('coordinator', 'coach') OR pid = sub)
     FOR UPDATE OF x0;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no registration of participant % for activity % is visible to you', pid, aid
      USING ERRCODE = 'KP404';
  END IF;
  RETURN x;
END $$;

CREATE FUNCTION activity_cancel(aid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  x activity_registrations;
BEGIN
  PERFORM 1 FROM activities WHERE id = aid FOR UPDATE;
  x := activity_registration_for(aid, pid, role, sub, all_prg, prg);
  IF x.attended_at IS NOT NULL THEN
    RAISE EXCEPTION 'participant % attended this activity: the registration can no longer be cancelled', pid
      USING ERRCODE = 'KP409';
  END IF;
  DELETE FROM activity_registrations WHERE activity_id = aid AND participant_id = pid;
  IF x.status = 'registered' THEN
    UPDATE activity_registrations SET status = 'registered'
     WHERE (activity_id, participant_id) = (SELECT activity_id, participant_id FROM activity_registrations
                                             WHERE activity_id = aid AND status = 'waitlisted'
                                             ORDER BY seq LIMIT 1);
  END IF;
END $$;

CREATE FUNCTION activity_attended(aid uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  x activity_registrations;
  held date;
BEGIN
  x := activity_registration_for(aid, pid, role, sub, all_prg, prg);
  SELECT held_on INTO held FROM activities WHERE id = aid;
  IF x.attended_at IS NOT NULL THEN
    RAISE EXCEPTION 'the attendance of participant % was recorded already (at %)', pid, x.attended_at
      USING ERRCODE = 'KP409';
  END IF;
  IF x.status <> 'registered' THEN
    RAISE EXCEPTION 'participant % is on the waiting list of this activity, not registered', pid
      USING ERRCODE = 'KP409';
  END IF;
  IF held > current_date THEN
    RAISE EXCEPTION 'the activity is held on %: attendance is recorded from that day', held USING ERRCODE = 'KP409';
  END IF;
  UPDATE activity_registrations SET attended_at = now() WHERE activity_id = aid AND participant_id = pid
  RETURNING * INTO x;
  RETURN registration_json(x);
END $$;

-- ---------------------------------------------------------------- statistics

-- Attendance per activity kind of programme pid, over the activities held up
-- to today: activities held, seats registered, and of those attended and not
-- attended. With suppression (researchers) the registered people of a kind
-- are one group as everywhere in the statistics: a count below the threshold
-- is null, and when exactly one of attended / not attended is hidden the
-- other is too (stats_map); the rate is null when anything is hidden.
CREATE FUNCTION activity_stats(pid uuid, suppress boolean) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  WITH t AS (SELECT small_group_threshold AS t FROM programmes WHERE id = pid),
  held AS (SELECT a.kind, count(*) AS activities,
                  coalesce(sum(r.registered), 0)::bigint AS registered,
                  coalesce(sum(r.attended), 0)::bigint AS attended
             FROM activities a
             LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE x.status = 'registered') AS registered,
                                       count(*) FILTER (WHERE x.attended_at IS NOT NULL) AS attended
                                  FROM activity_registrations x WHERE x.activity_id = a.id) r ON true
            WHERE a.programme_id = pid AND a.held_on <= current_date
            GROUP BY a.kind),
  k AS (SELECT k.kind, coalesce(h.activities, 0) AS activities, coalesce(h.registered, 0) AS registered,
               stats_map(jsonb_build_object('attended', coalesce(h.attended, 0),
                                            'not_attended', coalesce(h.registered - h.attended, 0)),
                         (SELECT t FROM t), suppress) AS shown
          FROM unnest(ARRAY['orientation', 'workshop', 'exchange', 'training', 'event']) AS k(kind)
          LEFT JOIN held h ON h.kind = k.kind),
  s AS (SELECT k.*, suppress AND (registered < (SELECT t FROM t) OR stats_hides(shown)) AS hidden FROM k)
  SELECT jsonb_build_object('suppressed', bool_or(hidden), 'by_kind', jsonb_object_agg(kind, jsonb_build_object(
           'activities_held', activities,
           'registered', stats_cell(registered, (SELECT t FROM t), suppress),
           'attended', shown -> 'attended', 'not_attended', shown -> 'not_attended',
           'attendance_rate', CASE WHEN registered > 0 AND NOT hidden
                                   THEN stats_num((shown ->> 'attended')::numeric / registered, 4) END)))
    FROM s
$$;

-- ---------------------------------------------------------------- follow-ups

-- The worklist gains no_recent_activity: a waiting mentee without an open
-- pair who has not attended an activity of the programme (nor holds a
-- registered seat for one still to come) for the programme's
-- followup_interval_days, counted from the later of the day they started
-- waiting and the last activity they attended. Kind number 5 in the key.
ALTER FUNCTION followups(text, uuid, boolean, uuid[]) RENAME TO followups_before_activities;

CREATE FUNCTION followups(role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS TABLE (key bigint, kind text, pair_id uuid, participant_id uuid, programme_id uuid,
               due_since date, detail text)
LANGUAGE sql STABLE AS $$
  SELECT * FROM followups_before_activities(role, sub, all_prg, prg)
  UNION ALL
  SELECT ((i.due_since - date '1900-01-01')::bigint << 36) | (5::bigint << 33) | i.seq,
         'no_recent_activity', NULL::uuid, i.id, i.programme_id, i.due_since, i.detail
    FROM (SELECT p.id, p.seq, p.programme_id,
                 greatest(p.waiting_since::date, l.last) + g.followup_interval_days AS due_since,
                 CASE WHEN l.last IS NULL OR l.last < p.waiting_since::date
                   THEN format('%s %s has been waiting since %s and has not attended an activity of the programme '
                               'since then; the programme expects contact at least every %s days.',
                               p.given_name, p.family_name, p.waiting_since::date, g.followup_interval_days)
                   ELSE format('%s %s, waiting since %s, last attended an activity on %s; the programme expects '
                               'contact at least every %s days.', p.given_name, p.family_name,
                               p.waiting_since::date, l.last, g.followup_interval_days) END AS detail
            FROM participants p
            JOIN programmes g ON g.id = p.programme_id
            LEFT JOIN LATERAL (SELECT max(a.held_on) AS last FROM activity_registrations x
                                 JOIN activities a ON a.id = x.activity_id
                                WHERE x.participant_id = p.id AND x.attended_at IS NOT NULL) l ON true
           WHERE p.kind = 'mentee' AND p.status = 'waiting'
             AND role IN ('coordinator', 'coach') AND (all_prg OR p.programme_id = ANY(prg))
             AND greatest(p.waiting_since::date, l.last) + g.followup_interval_days <= current_date
             AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = p.id
                               AND x.status IN ('proposed', 'accepted', 'active'))
             AND NOT EXISTS (SELECT 1 FROM activity_registrations x JOIN activities a ON a.id = x.activity_id
                              WHERE x.participant_id = p.id AND x.status = 'registered'
                                AND a.held_on >= current_date)) i
$$;

-- ---------------------------------------------------------------- changes

-- Applies merge patch p (checked by the API: title, held_on, mode, capacity,
-- validity_months) to training tid, locked like an enrolment. The capacity
-- never drops below the seats taken (409); a larger one moves the waiting
-- list up in order. held_on stays once an attendance was recorded on it or
-- a completion awarded a certificate issued on it (409). A new validity_months applies to later completions.
CREATE FUNCTION training_update(tid uuid, p jsonb) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  t trainings;
  n bigint;
  cap integer;
BEGIN
  SELECT * INTO t FROM trainings WHERE id = tid FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no training % is visible to you', tid USING ERRCODE = 'KP404';
  END IF;
  cap := coalesce((p ->> 'capacity')::integer, t.capacity);
  SELECT count(*) INTO n FROM training_enrolments WHERE training_id = tid AND status = 'registered';
  IF cap < n THEN
    RAISE EXCEPTION 'capacity % is below the % seats taken: cancel enrolments first', cap, n
      USING ERRCODE = 'KP409', DETAIL = '/capacity';
  END IF;
  IF p ? 'held_on' AND (p ->> 'held_on')::date <> t.held_on
     AND EXISTS (SELECT 1 FROM training_enrolments WHERE training_id = tid AND completed_on IS NOT NULL) THEN
    RAISE EXCEPTION 'completions were recorded and certificates issued on %: the date can no longer change',
      t.held_on USING ERRCODE = 'KP409', DETAIL = '/held_on';
  END IF;
  IF p ? 'held_on' AND (p ->> 'held_on')::date <> t.held_on
     AND EXISTS (SELECT 1 FROM training_enrolments WHERE training_id = tid AND attended_at IS NOT NULL) THEN
    RAISE EXCEPTION 'attendance was recorded for %: the date can no longer change', t.held_on
      USING ERRCODE = 'KP409', DETAIL = '/held_on';
  END IF;
  UPDATE trainings SET
    title = CASE WHEN p ? 'title' THEN p ->> 'title' ELSE title END,
    held_on = CASE WHEN p ? 'held_on' THEN (p ->> 'held_on')::date ELSE held_on END,
    mode = CASE WHEN p ? 'mode' THEN p ->> 'mode' ELSE mode END,
    capacity = cap,
    validity_months = CASE WHEN p ? 'validity_months' THEN (p ->> 'validity_months')::integer
                           ELSE validity_months END
  WHERE id = tid RETURNING * INTO t;
  UPDATE training_enrolments SET status = 'registered'
   WHERE training_id = tid AND participant_id IN (
     SELECT participant_id FROM training_enrolments WHERE training_id = tid AND status = 'waitlisted'
      ORDER BY seq LIMIT cap - n);
  RETURN training_json(t);
END $$;

-- The same for activity aid (kind, title, held_on, place, capacity,
-- audience). The audience cannot shut out people registered already, and
-- the date stays once attendance was recorded (409 each).
CREATE FUNCTION activity_update(aid uuid, p jsonb) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  a activities;
  n bigint;
  cap integer;
  aud text;
BEGIN
  SELECT * INTO a FROM activities WHERE id = aid FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no activity % is visible to you', aid USING ERRCODE = 'KP404';
  END IF;
  cap := coalesce((p ->> 'capacity')::integer, a.capacity);
  aud := coalesce(p ->> 'audience', a.audience);
  SELECT count(*) INTO n FROM activity_registrations WHERE activity_id = aid AND status = 'registered';
  IF cap < n THEN
    RAISE EXCEPTION 'capacity % is below the % seats taken: cancel registrations first', cap, n
      USING ERRCODE = 'KP409', DETAIL = '/capacity';
  END IF;
  IF aud <> 'both' AND EXISTS (SELECT 1 FROM activity_registrations x JOIN participants q ON q.id = x.participant_id
                                WHERE x.activity_id = aid AND q.kind || 's' <> aud) THEN
    RAISE EXCEPTION 'people outside the audience % are registered: cancel their registrations first', aud
      USING ERRCODE = 'KP409', DETAIL = '/audience';
  END IF;
  IF p ? 'held_on' AND (p ->> 'held_on')::date <> a.held_on
     AND EXISTS (SELECT 1 FROM activity_registrations WHERE activity_id = aid AND attended_at IS NOT NULL) THEN
    RAISE EXCEPTION 'attendance was recorded for %: the date can no longer change', a.held_on
      USING ERRCODE = 'KP409', DETAIL = '/held_on';
  END IF;
  UPDATE activities SET
    kind = CASE WHEN p ? 'kind' THEN p ->> 'kind' ELSE kind END,
    title = CASE WHEN p ? 'title' THEN p ->> 'title' ELSE title END,
    held_on = CASE WHEN p ? 'held_on' THEN (p ->> 'held_on')::date ELSE held_on END,
    place = CASE WHEN p ? 'place' THEN p ->> 'place' ELSE place END,
    capacity = cap,
    audience = aud
  WHERE id = aid RETURNING * INTO a;
  UPDATE activity_registrations SET status = 'registered'
   WHERE activity_id = aid AND participant_id IN (
     SELECT participant_id FROM activity_registrations WHERE activity_id = aid AND status = 'waitlisted'
      ORDER BY seq LIMIT cap - n);
  RETURN activity_json(a);
END $$;
