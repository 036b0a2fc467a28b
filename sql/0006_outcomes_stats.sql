-- Koppel schema 0006: employment outcomes, the history of participant
-- statuses, programme statistics and partner reports; the follow-up worklist
-- gains outcome_due. Statistics and reports are computed on request in one
-- statement each (programme_stats, partner_report); nothing is stored.

-- ---------------------------------------------------------------- outcomes

-- An employment follow-up measurement of a mentee after their pair ended.
-- months_after_end counts whole months from the end of the mentee's last
-- closed pair to measured_on (as age() counts them), unless staff give it.
CREATE TABLE outcomes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  participant_id uuid NOT NULL REFERENCES participants ON DELETE CASCADE,
  measured_on date NOT NULL,
  months_after_end integer NOT NULL CHECK (months_after_end BETWEEN 0 AND 120),
  status text NOT NULL CHECK (status IN ('job_at_level', 'job_below_level', 'training', 'internship',
                                         'seeking', 'other')),
  employer_partner_id uuid REFERENCES partners,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- one measurement per person and day; a correction is a PATCH
  UNIQUE (participant_id, measured_on)
);
CREATE INDEX ON outcomes (participant_id, seq);
CREATE INDEX ON outcomes (employer_partner_id) WHERE employer_partner_id IS NOT NULL;
CREATE INDEX ON outcomes (updated_at);

CREATE TRIGGER outcomes_touch BEFORE UPDATE ON outcomes FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER outcomes_audit AFTER INSERT OR UPDATE OR DELETE ON outcomes FOR EACH ROW EXECUTE FUNCTION audit_row('id');

CREATE FUNCTION outcome_json(o outcomes) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', o.id, 'participant_id', o.participant_id, 'measured_on', o.measured_on,
    'months_after_end', o.months_after_end, 'status', o.status,
    'employer_partner_id', o.employer_partner_id,
    'created_at', o.created_at, 'updated_at', o.updated_at)
$$;

-- The day the participant's last closed (completed or ended) pair closed, or NULL.
CREATE FUNCTION participant_ended_on(pid uuid) RETURNS date LANGUAGE sql STABLE AS $$
  SELECT max(x.closed_on) FROM pairs x
   WHERE (x.mentee_id = pid OR x.mentor_id = pid) AND x.status IN ('completed', 'ended')
$$;

-- Whether a caller may read the outcomes of participant pid (in programme
-- prog): coordinators and coaches of the programme, and the participant.
CREATE FUNCTION outcomes_visible(prog uuid, pid uuid, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN role IN ('coordinator', 'coach') THEN all_prg OR prog = ANY(prg)
    WHEN role IN ('mentor', 'mentee') THEN pid = sub
    ELSE false END
$$;

-- ---------------------------------------------------------------- status history

-- Every status a participant took, when, and on leaving `waiting` since when
-- they had waited (the participants trigger clears waiting_since then). The
-- programme and kind never change, so they are copied for the statistics.
CREATE TABLE participant_status_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  participant_id uuid NOT NULL REFERENCES participants ON DELETE CASCADE,
  programme_id uuid NOT NULL,
  kind text NOT NULL,
  from_status text,
  to_status text NOT NULL,
  at timestamptz NOT NULL,
  waiting_since timestamptz
);
CREATE INDEX ON participant_status_history (participant_id, id);
CREATE INDEX participant_status_history_matches ON participant_status_history (programme_id, kind)
  INCLUDE (at, waiting_since) WHERE from_status = 'waiting' AND to_status = 'matched';

CREATE FUNCTION participants_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO participant_status_history (participant_id, programme_id, kind, from_status, to_status, at)
    VALUES (NEW.id, NEW.programme_id, NEW.kind, NULL, NEW.status,
            coalesce(NEW.waiting_since, NEW.status_changed_at));
  ELSIF NEW.status <> OLD.status THEN
    INSERT INTO participant_status_history (participant_id, programme_id, kind, from_status, to_status, at,
                                            waiting_since)
    VALUES (NEW.id, NEW.programme_id, NEW.kind, OLD.status, NEW.status, NEW.status_changed_at,
            CASE WHEN OLD.status = 'waiting' THEN OLD.waiting_since END);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER participants_history AFTER INSERT OR UPDATE OF status ON participants
  FOR EACH ROW EXECUTE FUNCTION participants_history();

-- Participants that exist already start their history with their status now.
INSERT INTO participant_status_history (participant_id, programme_id, kind, from_status, to_status, at)
SELECT id, programme_id, kind, NULL, status, coalesce(waiting_since, status_changed_at) FROM participants;

-- The statistics group by these without reading the rows.
CREATE INDEX participants_programme_kind_status ON participants (programme_id, kind, status);
CREATE INDEX pairs_programme_status ON pairs (programme_id, status) INCLUDE (end_reason, started_on);

-- ---------------------------------------------------------------- small cells

-- n as shown: NULL when suppression applies and n is below the threshold t.
CREATE FUNCTION stats_cell(n bigint, t integer, suppress boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN suppress AND n < t THEN NULL ELSE n END
$$;

-- A map {key: count} as shown. With suppression every count below t
-- (0 included) becomes null; when that hides exactly one cell, the smallest
-- other cell is hidden too, so that the hidden one cannot be recovered as
-- the group's total minus the cells shown.
CREATE FUNCTION stats_map(counts jsonb, t integer, suppress boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN NOT suppress THEN counts ELSE (
    WITH c AS (SELECT key, value::bigint AS n FROM jsonb_each(counts)),
    small AS (SELECT key FROM c WHERE n < t),
    hidden AS (SELECT key FROM small
               UNION ALL
               (SELECT key FROM c WHERE n >= t AND (SELECT count(*) FROM small) = 1 ORDER BY n, key LIMIT 1))
    SELECT jsonb_object_agg(c.key, CASE WHEN c.key IN (SELECT key FROM hidden) THEN NULL ELSE c.n END) FROM c) END
$$;

-- Whether a shown map hides a cell.
CREATE FUNCTION stats_hides(shown jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT EXISTS (SELECT 1 FROM jsonb_each(shown) WHERE value = 'null'::jsonb)
$$;

-- {key: count} with every key of keys (0 when absent from the counted rows).
CREATE FUNCTION stats_zero_map(keys text[], counted jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_object_agg(k, coalesce(counted -> k, '0'::jsonb)) FROM unnest(keys) AS k
$$;

-- x as a JSON number without trailing zeros, rounded to places.
CREATE FUNCTION stats_num(x numeric, places integer) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
  SELECT trim_scale(round(x, places))
$$;

-- ---------------------------------------------------------------- survey figures
-- Surveys come with sql/0005; these functions read only its tables surveys
-- (programme_id, title, phase, audience, questions) and survey_responses
-- (survey_id, respondent_id, answers). They ask the catalogue first, and
-- plpgsql parses a statement only when it runs, so on a schema without
-- surveys they answer NULL instead of failing.

-- Response rate of every survey of programme pid, in creation order:
-- invited as a survey's results count them (sql/0005: the participants of
-- its audience in the programme who are not withdrawn or rejected, given
-- here as present {"mentors": n, "mentees": n}, and those who are but
-- answered), responded, response_rate. Counted set-wise for all surveys at
-- once: per survey and participant it took minutes on 100,000 people. With
-- suppression, responded and the non-responders are the cells of one group
-- (stats_map); the rate is null when either is hidden.
CREATE FUNCTION stats_survey_rates(pid uuid, present jsonb, t integer, suppress boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  items jsonb;
BEGIN
  IF to_regclass('surveys') IS NULL OR to_regclass('survey_responses') IS NULL THEN
    RETURN NULL;
  END IF;
  WITH gone AS MATERIALIZED (SELECT id, kind FROM participants
                              WHERE programme_id = pid AND status IN ('withdrawn', 'rejected')),
  c AS MATERIALIZED (
    SELECT s.seq, s.id, s.title, s.phase, s.audience,
           CASE s.audience WHEN 'both' THEN (present ->> 'mentors')::bigint + (present ->> 'mentees')::bigint
                           ELSE coalesce((present ->> s.audience)::bigint, 0) END
           + (SELECT count(*) FROM gone JOIN survey_responses r ON r.respondent_id = gone.id
               WHERE r.survey_id = s.id AND s.audience IN ('both', gone.kind || 's')) AS invited,
           (SELECT count(*) FROM survey_responses r WHERE r.survey_id = s.id) AS responded
      FROM surveys s WHERE s.programme_id = pid),
  m AS MATERIALIZED (
    SELECT c.*, stats_map(jsonb_build_object('responded', responded, 'not_responded', invited - responded),
                          t, suppress) AS shown
      FROM c)
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'survey_id', id, 'title', title, 'phase', phase, 'audience', audience,
           'invited', stats_cell(invited, t, suppress), 'responded', shown -> 'responded',
           'response_rate', CASE WHEN invited > 0 AND NOT (suppress AND (invited < t OR stats_hides(shown)))
                                 THEN stats_num(responded::numeric / invited, 4) END,
           'suppressed', suppress AND (invited < t OR stats_hides(shown))) ORDER BY seq), '[]')
    INTO items FROM m;
  RETURN items;
END $$;

-- Mentor satisfaction: for every post survey addressed to mentors in the
-- programmes of the mentors mentor_ids, the number of those mentors who
-- answered it, and per likert5 or scale10 question the number of their
-- numeric answers ("not_used" is no answer) and the mean. With suppress,
-- counts below the survey's programme threshold and their means are null.
CREATE FUNCTION partner_satisfaction(mentor_ids uuid[], suppress boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  items jsonb;
BEGIN
  IF to_regclass('surveys') IS NULL OR to_regclass('survey_responses') IS NULL THEN
    RETURN NULL;
  END IF;
  WITH s AS (SELECT s.*, g.small_group_threshold AS t,
                    (SELECT count(*) FROM survey_responses r
                      WHERE r.survey_id = s.id AND r.respondent_id = ANY(mentor_ids)) AS respondents
               FROM surveys s JOIN programmes g ON g.id = s.programme_id
              WHERE s.phase = 'post' AND s.audience IN ('mentors', 'both')
                AND s.programme_id IN (SELECT programme_id FROM participants WHERE id = ANY(mentor_ids))),
  q AS (SELECT s.id AS survey_id, q.position, q.q ->> 'key' AS key, q.q ->> 'type' AS type, s.t, a.n, a.mean
          FROM s CROSS JOIN LATERAL jsonb_array_elements(s.questions) WITH ORDINALITY AS q(q, position)
          CROSS JOIN LATERAL (SELECT count(*) AS n, avg((r.answers ->> (q.q ->> 'key'))::numeric) AS mean
                                FROM survey_responses r
                               WHERE r.survey_id = s.id AND r.respondent_id = ANY(mentor_ids)
                                 AND jsonb_typeof(r.answers -> (q.q ->> 'key')) = 'number') a
         WHERE q.q ->> 'type' IN ('likert5', 'scale10'))
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'survey_id', s.id, 'programme_id', s.programme_id, 'title', s.title,
           'respondents', stats_cell(s.respondents, s.t, suppress),
           'questions', coalesce((SELECT jsonb_agg(jsonb_build_object(
                           'key', q.key, 'type', q.type, 'n', stats_cell(q.n, q.t, suppress),
                           'mean', CASE WHEN NOT (suppress AND q.n < q.t) THEN stats_num(q.mean, 2) END,
                           'suppressed', suppress AND q.n < q.t) ORDER BY q.position)
                                    FROM q WHERE q.survey_id = s.id), '[]'),
           'suppressed', suppress AND (s.respondents < s.t OR EXISTS (SELECT 1 FROM q WHERE q.survey_id = s.id
                                                                      AND q.n < q.t)))
           ORDER BY s.seq), '[]')
    INTO items FROM s;
  RETURN items;
END $$;

-- ---------------------------------------------------------------- programme statistics

-- The statistics of programme pid as GET /v1/programmes/{id}/stats answers
-- them; with suppress (researchers), small cells are null (stats_map) and
-- each group says whether it hides any.
CREATE FUNCTION programme_stats(pid uuid, suppress boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  g programmes;
  t integer;
  statuses constant text[] := ARRAY['applied', 'screened', 'waiting', 'matched', 'active', 'completed',
                                    'withdrawn', 'rejected'];
  pair_statuses constant text[] := ARRAY['proposed', 'accepted', 'active', 'completed', 'ended', 'declined'];
  reasons constant text[] := ARRAY['goal_reached', 'no_click', 'mentee_stopped', 'mentor_stopped', 'moved',
                                   'other'];
  outcome_statuses constant text[] := ARRAY['job_at_level', 'job_below_level', 'training', 'internship',
                                            'seeking', 'other'];
  participants_j jsonb;
  present_j jsonb;
  waiting_j jsonb;
  pairs_j jsonb;
  pairs_shown jsonb;
  pairs_total bigint;
  meetings_j jsonb;
  on_track_j jsonb;
  closures_j jsonb;
  surveys_j jsonb;
  outcomes_j jsonb;
BEGIN
  SELECT * INTO g FROM programmes WHERE id = pid;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  t := g.small_group_threshold;

  -- participants by kind and status; those not withdrawn or rejected are
  -- the invited of a survey (below)
  WITH c AS (SELECT kind, jsonb_object_agg(status, n) AS counted, sum(n) AS total,
                    sum(n) FILTER (WHERE status NOT IN ('withdrawn', 'rejected')) AS present
               FROM (SELECT kind, status, count(*) AS n FROM participants WHERE programme_id = pid
                      GROUP BY kind, status) x GROUP BY kind),
  k AS (SELECT k.kind, stats_cell(coalesce(c.total, 0)::bigint, t, suppress) AS total,
               stats_map(stats_zero_map(statuses, coalesce(c.counted, '{}')), t, suppress) AS shown,
               coalesce(c.present, 0) AS present
          FROM unnest(ARRAY['mentor', 'mentee']) AS k(kind) LEFT JOIN c ON c.kind = k.kind)
  SELECT jsonb_build_object('suppressed', bool_or(total IS NULL OR stats_hides(shown)))
         || jsonb_object_agg(kind, jsonb_build_object('total', total, 'by_status', shown)),
         jsonb_object_agg(kind || 's', present)
    INTO participants_j, present_j FROM k;

  -- waiting time from waiting to matched, per waiting episode that ended in a match
  WITH d AS (SELECT h.kind, count(*) AS n,
                    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
                      ORDER BY extract(epoch FROM h.at - h.waiting_since)::float8 / 86400) AS q
               FROM participant_status_history h
              WHERE h.programme_id = pid AND h.from_status = 'waiting' AND h.to_status = 'matched'
                AND h.waiting_since IS NOT NULL
              GROUP BY h.kind),
  k AS (SELECT k.kind, coalesce(d.n, 0) AS n, d.q[1] AS median, d.q[2] AS p90
          FROM unnest(ARRAY['mentee', 'mentor']) AS k(kind) LEFT JOIN d ON d.kind = k.kind)
  SELECT jsonb_build_object('suppressed', bool_or(suppress AND n < t))
         || jsonb_object_agg(kind, CASE WHEN suppress AND n < t
              THEN jsonb_build_object('n', NULL, 'median_days', NULL, 'p90_days', NULL)
              ELSE jsonb_build_object('n', n, 'median_days', stats_num(median::numeric, 2),
                                      'p90_days', stats_num(p90::numeric, 2)) END)
    INTO waiting_j FROM k;

  -- pairs by status
  SELECT stats_zero_map(pair_statuses, coalesce(jsonb_object_agg(status, n), '{}')), coalesce(sum(n), 0)
    INTO pairs_shown, pairs_total
    FROM (SELECT status, count(*) AS n FROM pairs WHERE programme_id = pid GROUP BY status) x;
  pairs_shown := stats_map(pairs_shown, t, suppress);
  pairs_j := jsonb_build_object('suppressed', suppress AND (pairs_total < t OR stats_hides(pairs_shown)),
                                'total', stats_cell(pairs_total, t, suppress), 'by_status', pairs_shown);

  -- meetings per active pair, and the share of active pairs on track (as pair_progress counts it)
  WITH a AS (SELECT x.id, x.started_on, coalesce(m.n, 0) AS n
               FROM pairs x
               LEFT JOIN LATERAL (SELECT count(*) AS n FROM meetings WHERE meetings.pair_id = x.id) m ON true
              WHERE x.programme_id = pid AND x.status = 'active'),
  s AS (SELECT count(*) AS pairs, coalesce(sum(n), 0) AS meetings, avg(n) AS mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY n) AS median,
               -- in integers, multiplying before dividing: exact, as pair_progress counts it
               count(*) FILTER (WHERE started_on IS NOT NULL AND n >= (g.min_meetings
                 * least(current_date - started_on, greatest(g.min_duration_days, 1)))
                 / greatest(g.min_duration_days, 1)) AS on_track,
               count(*) FILTER (WHERE started_on IS NOT NULL) AS known
          FROM a)
  SELECT CASE WHEN suppress AND pairs < t
           THEN jsonb_build_object('suppressed', true, 'active_pairs', NULL, 'meetings_held', NULL,
                                   'mean_per_pair', NULL, 'median_per_pair', NULL)
           ELSE jsonb_build_object('suppressed', false, 'active_pairs', pairs, 'meetings_held', meetings,
                                   'mean_per_pair', stats_num(mean, 2),
                                   'median_per_pair', stats_num(median::numeric, 2)) END,
         jsonb_build_object('known', known, 'map', stats_map(jsonb_build_object('on_track', on_track,
                            'not_on_track', known - on_track), t, suppress))
    INTO meetings_j, on_track_j FROM s;
  on_track_j := jsonb_build_object(
    'suppressed', suppress AND ((on_track_j ->> 'known')::bigint < t OR stats_hides(on_track_j -> 'map')),
    'active_pairs', stats_cell((on_track_j ->> 'known')::bigint, t, suppress),
    'on_track', on_track_j -> 'map' -> 'on_track',
    'not_on_track', on_track_j -> 'map' -> 'not_on_track',
    'share', CASE WHEN (on_track_j ->> 'known')::bigint > 0
                   AND NOT (suppress AND ((on_track_j ->> 'known')::bigint < t OR stats_hides(on_track_j -> 'map')))
                  THEN stats_num((on_track_j -> 'map' ->> 'on_track')::numeric / (on_track_j ->> 'known')::numeric, 4)
                  END);

  -- completion and dropout of closed pairs, with their end reasons; the
  -- rates only where both counts are shown in the pairs group
  WITH c AS (SELECT status, jsonb_object_agg(end_reason, n) AS counted, sum(n) AS total
               FROM (SELECT status, end_reason, count(*) AS n FROM pairs
                      WHERE programme_id = pid AND status IN ('completed', 'ended') AND end_reason IS NOT NULL
                      GROUP BY status, end_reason) x GROUP BY status),
  k AS (SELECT k.status, stats_map(stats_zero_map(reasons, coalesce(c.counted, '{}')), t, suppress) AS shown
          FROM unnest(ARRAY['completed', 'ended']) AS k(status) LEFT JOIN c ON c.status = k.status)
  SELECT jsonb_build_object(
           'completion_rate', CASE WHEN jsonb_typeof(pairs_shown -> 'completed') = 'number'
                                    AND jsonb_typeof(pairs_shown -> 'ended') = 'number'
                                    AND (pairs_shown ->> 'completed')::bigint + (pairs_shown ->> 'ended')::bigint > 0
             THEN stats_num((pairs_shown ->> 'completed')::numeric
                            / ((pairs_shown ->> 'completed')::numeric + (pairs_shown ->> 'ended')::numeric), 4) END,
           'dropout_rate', CASE WHEN jsonb_typeof(pairs_shown -> 'completed') = 'number'
                                 AND jsonb_typeof(pairs_shown -> 'ended') = 'number'
                                 AND (pairs_shown ->> 'completed')::bigint + (pairs_shown ->> 'ended')::bigint > 0
             THEN stats_num((pairs_shown ->> 'ended')::numeric
                            / ((pairs_shown ->> 'completed')::numeric + (pairs_shown ->> 'ended')::numeric), 4) END,
           'end_reasons', jsonb_object_agg(status, shown),
           'suppressed', suppress AND (bool_or(stats_hides(shown)) OR pairs_shown -> 'completed' = 'null'
                                       OR pairs_shown -> 'ended' = 'null'))
    INTO closures_j FROM k;

  -- response rates of the programme's surveys
  surveys_j := stats_survey_rates(pid, present_j, t, suppress);
  surveys_j := CASE WHEN surveys_j IS NULL
    THEN jsonb_build_object('suppressed', false, 'available', false, 'items', '[]'::jsonb)
    ELSE jsonb_build_object('suppressed', coalesce((SELECT bool_or((i ->> 'suppressed')::boolean)
                                                      FROM jsonb_array_elements(surveys_j) i), false),
                            'available', true, 'items', surveys_j) END;

  -- outcomes by status about 3, 6 and 12 months after the end: each
  -- mentee's latest measurement with months_after_end in the window
  WITH w(point, lo, hi) AS (VALUES (3, 2, 4), (6, 5, 7), (12, 11, 13)),
  latest AS (SELECT DISTINCT ON (w.point, o.participant_id) w.point, o.status
               FROM outcomes o JOIN participants p ON p.id = o.participant_id
               JOIN w ON o.months_after_end BETWEEN w.lo AND w.hi
              WHERE p.programme_id = pid
              ORDER BY w.point, o.participant_id, o.measured_on DESC, o.seq DESC),
  c AS (SELECT point, jsonb_object_agg(status, n) AS counted, sum(n) AS total
          FROM (SELECT point, status, count(*) AS n FROM latest GROUP BY point, status) x GROUP BY point),
  k AS (SELECT w.point, w.lo, w.hi, stats_cell(coalesce(c.total, 0)::bigint, t, suppress) AS total,
               stats_map(stats_zero_map(outcome_statuses, coalesce(c.counted, '{}')), t, suppress) AS shown
          FROM w LEFT JOIN c ON c.point = w.point)
  SELECT jsonb_build_object('suppressed', bool_or(total IS NULL OR stats_hides(shown)))
         || jsonb_object_agg('at_' || point || '_months',
              jsonb_build_object('months_from', lo, 'months_to', hi, 'participants', total, 'by_status', shown))
    INTO outcomes_j FROM k;

  RETURN jsonb_build_object(
    'programme_id', pid, 'as_of', current_date,
    'suppression', jsonb_build_object('applied', suppress, 'threshold', t),
    'participants', participants_j, 'waiting', waiting_j, 'pairs', pairs_j, 'meetings', meetings_j,
    'on_track', on_track_j, 'closures', closures_j, 'surveys', surveys_j, 'outcomes', outcomes_j);
END $$;

-- ---------------------------------------------------------------- partner report

-- What employer partner pid asks for, over the programmes the caller sees
-- (all_prg or prg): the mentors it supplied (participants with
-- employer_partner_id = pid, kind mentor), their pairs by status, mentor
-- satisfaction from post surveys, the outcomes of the mentees paired with
-- them (accepted at least; each mentee's latest measurement) and the mentees
-- it hired (outcomes with employer_partner_id = pid and a job status). With
-- suppress (the partner's own integration client), satisfaction means and
-- mentee outcome counts below the threshold are null: they are about other
-- people than the partner's employees, and small groups would name them.
CREATE FUNCTION partner_report(pid uuid, suppress boolean, all_prg boolean, prg uuid[]) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  statuses constant text[] := ARRAY['applied', 'screened', 'waiting', 'matched', 'active', 'completed',
                                    'withdrawn', 'rejected'];
  pair_statuses constant text[] := ARRAY['proposed', 'accepted', 'active', 'completed', 'ended', 'declined'];
  outcome_statuses constant text[] := ARRAY['job_at_level', 'job_below_level', 'training', 'internship',
                                            'seeking', 'other'];
  mentor_ids uuid[];
  t integer;
  mentors_j jsonb;
  pairs_j jsonb;
  outcomes_j jsonb;
  hires_j jsonb;
  satisfaction_j jsonb;
  notes jsonb := '[]';
BEGIN
  SELECT coalesce(array_agg(id), '{}') INTO mentor_ids FROM participants
   WHERE employer_partner_id = pid AND kind = 'mentor' AND (all_prg OR programme_id = ANY(prg));
  SELECT coalesce(jsonb_object_agg(status, n), '{}') INTO mentors_j
    FROM (SELECT status, count(*) AS n FROM participants WHERE id = ANY(mentor_ids) GROUP BY status) x;
  mentors_j := jsonb_build_object('supplied', cardinality(mentor_ids),
                                  'by_status', stats_zero_map(statuses, mentors_j));

  -- the strictest threshold of the programmes involved (5 when none is)
  SELECT coalesce(max(g.small_group_threshold), 5) INTO t
    FROM programmes g WHERE g.id IN (SELECT programme_id FROM participants WHERE id = ANY(mentor_ids));

  SELECT jsonb_build_object('total', coalesce(sum(n), 0),
                            'by_status', stats_zero_map(pair_statuses, coalesce(jsonb_object_agg(status, n), '{}')))
    INTO pairs_j
    FROM (SELECT status, count(*) AS n FROM pairs WHERE mentor_id = ANY(mentor_ids) GROUP BY status) x;

  WITH mentees AS (SELECT DISTINCT x.mentee_id AS id FROM pairs x
                    WHERE x.mentor_id = ANY(mentor_ids) AND x.status IN ('accepted', 'active', 'completed', 'ended')),
  latest AS (SELECT DISTINCT ON (o.participant_id) o.status FROM outcomes o JOIN mentees m ON m.id = o.participant_id
              ORDER BY o.participant_id, o.measured_on DESC, o.seq DESC),
  c AS (SELECT coalesce(jsonb_object_agg(status, n), '{}') AS counted, coalesce(sum(n), 0) AS measured
          FROM (SELECT status, count(*) AS n FROM latest GROUP BY status) x)
  SELECT jsonb_build_object(
           'mentees', (SELECT count(*) FROM mentees),
           'measured', stats_cell(c.measured::bigint, t, suppress),
           'by_status', stats_map(stats_zero_map(outcome_statuses, c.counted), t, suppress),
           'suppressed', suppress AND (c.measured < t OR stats_hides(stats_map(stats_zero_map(outcome_statuses,
                                                                                 c.counted), t, suppress))))
    INTO outcomes_j FROM c;

  -- hires: each hired mentee counted once, by the status of their latest hire measurement
  WITH latest AS (SELECT DISTINCT ON (o.participant_id) o.status FROM outcomes o
                   JOIN participants p ON p.id = o.participant_id
                  WHERE o.employer_partner_id = pid AND o.status IN ('job_at_level', 'job_below_level')
                    AND (all_prg OR p.programme_id = ANY(prg))
                  ORDER BY o.participant_id, o.measured_on DESC, o.seq DESC)
  SELECT jsonb_build_object('mentees_hired', count(*),
                            'job_at_level', count(*) FILTER (WHERE status = 'job_at_level'),
                            'job_below_level', count(*) FILTER (WHERE status = 'job_below_level'))
    INTO hires_j FROM latest;

  satisfaction_j := partner_satisfaction(mentor_ids, suppress);
  IF satisfaction_j IS NULL THEN
    notes := notes || to_jsonb('mentor satisfaction is not available: this installation has no surveys yet'::text);
  ELSE
    satisfaction_j := jsonb_build_object(
      'suppressed', coalesce((SELECT bool_or((i ->> 'suppressed')::boolean) FROM jsonb_array_elements(satisfaction_j) i),
                             false),
      'surveys', satisfaction_j);
  END IF;

  RETURN jsonb_build_object(
    'partner_id', pid, 'as_of', current_date,
    'suppression', jsonb_build_object('applied', suppress, 'threshold', t),
    'mentors', mentors_j, 'pairs', pairs_j, 'satisfaction', satisfaction_j,
    'mentee_outcomes', outcomes_j, 'hires', hires_j, 'notes', notes);
END $$;

-- ---------------------------------------------------------------- follow-ups

-- The worklist of sql/0004 with one more kind, after the others in the
-- sort order:
--   outcome_due  a mentee without an open pair whose last pair closed:
--                a measurement is due every followup_interval_days after
--                closed_on while that is within 12 months of it; the
--                latest due date is listed (until the next one would be
--                due) while no outcome has been measured on or after it.
--                A coach sees it when they coached that last pair.
-- The key keeps its order (due_since, kind, object) with one more bit for
-- the kind: days since 1900-01-01 << 36 | kind number << 33 | seq
-- (seq < 2^33), below 2^53 until 2258.
CREATE OR REPLACE FUNCTION followups(role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS TABLE (key bigint, kind text, pair_id uuid, participant_id uuid, programme_id uuid,
               due_since date, detail text)
LANGUAGE sql STABLE AS $$
  WITH scoped AS (
    SELECT x.*, g.followup_interval_days,
           coalesce(greatest(x.mentor_accepted_at, x.mentee_accepted_at), x.started_on::timestamptz) AS began,
           mr.given_name || ' ' || mr.family_name AS mentor_name,
           me.given_name || ' ' || me.family_name AS mentee_name
      FROM pairs x
      JOIN programmes g ON g.id = x.programme_id
      JOIN participants mr ON mr.id = x.mentor_id
      JOIN participants me ON me.id = x.mentee_id
     WHERE x.status IN ('proposed', 'accepted', 'active')
       AND (all_prg OR x.programme_id = ANY(prg))
       AND (role = 'coordinator' OR (role = 'coach' AND x.coach_id = sub))),
  closed AS (
    SELECT DISTINCT ON (x.mentee_id) x.mentee_id, x.programme_id, x.coach_id, x.closed_on,
           g.followup_interval_days AS every,
           (current_date - x.closed_on) / g.followup_interval_days AS k,
           ((x.closed_on + interval '12 months')::date - x.closed_on) / g.followup_interval_days AS last_k
      FROM pairs x JOIN programmes g ON g.id = x.programme_id
     WHERE x.status IN ('completed', 'ended') AND x.closed_on IS NOT NULL
       AND role IN ('coordinator', 'coach') AND (all_prg OR x.programme_id = ANY(prg))
     ORDER BY x.mentee_id, x.closed_on DESC, x.seq DESC),
  items AS (
    SELECT 0 AS k, 'decision_pending' AS kind, s.id AS pair_id, NULL::uuid AS participant_id,
           s.programme_id, s.seq, s.created_at::date + 7 AS due_since,
           format('Proposed on %s; still waiting for the decision of %s.', s.created_at::date,
                  CASE WHEN s.mentor_accepted_at IS NULL AND s.mentee_accepted_at IS NULL
                         THEN format('the mentor %s and the mentee %s', s.mentor_name, s.mentee_name)
                       WHEN s.mentor_accepted_at IS NULL THEN format('the mentor %s', s.mentor_name)
                       ELSE format('the mentee %s', s.mentee_name) END) AS detail
      FROM scoped s
     WHERE s.status = 'proposed' AND s.created_at::date + 7 <= current_date
    UNION ALL
    SELECT 1, 'first_month_call', s.id, NULL, s.programme_id, s.seq, s.began::date + 30,
           format('Call %s (mentor) and %s (mentee): their relationship began on %s and no coach note '
                  'has been logged since.', s.mentor_name, s.mentee_name, s.began::date)
      FROM scoped s
     WHERE s.status IN ('accepted', 'active') AND s.began IS NOT NULL
       AND s.began::date + 30 <= current_date
       AND NOT EXISTS (SELECT 1 FROM pair_notes n WHERE n.pair_id = s.id AND n.created_at >= s.began)
    UNION ALL
    SELECT 2, 'no_recent_meeting', s.id, NULL, s.programme_id, s.seq,
           coalesce(m.last, s.started_on, s.began::date) + s.followup_interval_days,
           CASE WHEN m.last IS NOT NULL
             THEN format('No meeting of %s and %s since %s (the last one); the programme expects contact '
                         'at least every %s days.', s.mentor_name, s.mentee_name, m.last,
                         s.followup_interval_days)
             ELSE format('No meeting of %s and %s logged since the start on %s; the programme expects '
                         'contact at least every %s days.', s.mentor_name, s.mentee_name,
                         coalesce(s.started_on, s.began::date), s.followup_interval_days) END
      FROM scoped s
      LEFT JOIN LATERAL (SELECT max(held_on) AS last FROM meetings WHERE meetings.pair_id = s.id) m ON true
     WHERE s.status = 'active' AND coalesce(m.last, s.started_on, s.began::date) IS NOT NULL
       AND coalesce(m.last, s.started_on, s.began::date) + s.followup_interval_days <= current_date
    UNION ALL
    SELECT 3, 'waiting_too_long', NULL, p.id, p.programme_id, p.seq,
           p.waiting_since::date + g.waiting_alert_days,
           format('%s %s has been waiting for a mentor since %s (%s days; the programme''s alert is %s days).',
                  p.given_name, p.family_name, p.waiting_since::date, current_date - p.waiting_since::date,
                  g.waiting_alert_days)
      FROM participants p JOIN programmes g ON g.id = p.programme_id
     WHERE p.kind = 'mentee' AND p.status = 'waiting'
       AND role IN ('coordinator', 'coach') AND (all_prg OR p.programme_id = ANY(prg))
       AND p.waiting_since::date + g.waiting_alert_days <= current_date
       AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = p.id
                         AND x.status IN ('proposed', 'accepted', 'active'))
    UNION ALL
    SELECT 4, 'outcome_due', NULL, p.id, c.programme_id, p.seq, c.closed_on + c.k * c.every,
           format('Measure the employment outcome of %s %s: their pair closed on %s and an outcome is due every '
                  '%s days for 12 months; this measurement (%s days after the end) is due since %s.',
                  p.given_name, p.family_name, c.closed_on, c.every, c.k * c.every, c.closed_on + c.k * c.every)
      FROM closed c JOIN participants p ON p.id = c.mentee_id
     WHERE c.k BETWEEN 1 AND c.last_k
       AND (role = 'coordinator' OR c.coach_id = sub)
       AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = c.mentee_id
                         AND x.status IN ('proposed', 'accepted', 'active'))
       AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.participant_id = c.mentee_id
                         AND o.measured_on >= c.closed_on + c.k * c.every))
  SELECT ((i.due_since - date '1900-01-01')::bigint << 36) | (i.k::bigint << 33) | i.seq,
         i.kind, i.pair_id, i.participant_id, i.programme_id, i.due_since, i.detail
    FROM items i
$$;
