-- Koppel schema 0016: the GDPR rights of access and erasure (issue 8).
--   participant_export(p)  everything held about a participant, as one JSON
--                          document (GET /v1/participants/{id}/export)
--   participant_erase(pid) erases what identifies them and keeps the
--                          pseudonymised rows programme figures are made of
--                          (DELETE /v1/participants/{id})
-- Tables added by other modules are read when they exist (to_regclass), so
-- this file does not depend on their migrations being present.

ALTER TABLE participants ADD COLUMN erased_at timestamptz;

-- An erasure is audited as its own action, with the names of what it erased.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check
  CHECK (action IN ('create', 'update', 'delete', 'erase'));

-- The participant's JSON gains erased_at once they are erased (and only
-- then, so every other read keeps its shape). The earlier definition is kept
-- under another name and wrapped, whatever later migrations made of it.
ALTER FUNCTION participant_json(participants) RENAME TO participant_json_0016;
CREATE FUNCTION participant_json(p participants) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT participant_json_0016(p)
    || CASE WHEN p.erased_at IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('erased_at', p.erased_at) END
$$;

-- What an erasure sets; an erased participant's identifying fields stay so.
CREATE FUNCTION participant_erased_name() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT '[erased]' $$;

CREATE FUNCTION participants_erased_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.erased_at IS NOT NULL AND (
       NEW.erased_at IS NULL
       OR (NEW.given_name, NEW.family_name, NEW.email, NEW.phone, NEW.job_target, NEW.motivation,
           NEW.short_profile, NEW.cv_url, NEW.external_ref)
          IS DISTINCT FROM
          (OLD.given_name, OLD.family_name, OLD.email, OLD.phone, OLD.job_target, OLD.motivation,
           OLD.short_profile, OLD.cv_url, OLD.external_ref)) THEN
    RAISE EXCEPTION 'participant % was erased: names, contact data, free text and external reference cannot be set again', OLD.id
      USING ERRCODE = 'KP409';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER participants_erased_guard BEFORE UPDATE ON participants
  FOR EACH ROW EXECUTE FUNCTION participants_erased_guard();

-- Rows of table t whose column col is one of ids, each as to_jsonb without
-- its internal seq, ordered by created_at (when it has one), then by the
-- row itself — for tables this migration knows only by name.
CREATE FUNCTION privacy_rows(t text, col text, ids uuid[]) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  res jsonb;
BEGIN
  IF to_regclass(t) IS NULL THEN
    RETURN '[]'::jsonb;
  END IF;
  EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x) - ''seq'' ORDER BY to_jsonb(x) ->> ''created_at'', '
                 'to_jsonb(x)::text), ''[]'') FROM %I x WHERE x.%I = ANY($1)', t, col)
    INTO res USING ids;
  RETURN res;
END $$;

-- Everything held about participant p. Sections: the profile (every column,
-- as the API shows it), status history, pairs with their decisions, coach
-- notes, meetings, feedback, survey responses with every answer, outcomes,
-- certificates, any other table that refers to the participant or their
-- pairs (other_records, by table name), and the audit entries about any of
-- these rows.
CREATE FUNCTION participant_export(p participants) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  pair_ids uuid[];
  ids text[];
  other jsonb := '{}'::jsonb;
  fk record;
  known text[] := ARRAY['participants', 'pairs', 'pair_events', 'pair_notes', 'meetings', 'survey_responses',
                        'response_answers', 'outcomes', 'participant_status_history', 'certificates',
                        'pair_feedback', 'audit_log'];
  doc jsonb;
BEGIN
  SELECT coalesce(array_agg(x.id ORDER BY x.seq), '{}') INTO pair_ids
    FROM pairs x WHERE x.mentor_id = p.id OR x.mentee_id = p.id;
  ids := ARRAY[p.id::text]
    || ARRAY(SELECT unnest(pair_ids)::text)
    || ARRAY(SELECT m.id::text FROM meetings m WHERE m.pair_id = ANY(pair_ids))
    || ARRAY(SELECT n.id::text FROM pair_notes n WHERE n.pair_id = ANY(pair_ids))
    || ARRAY(SELECT r.id::text FROM survey_responses r WHERE r.respondent_id = p.id)
    || ARRAY(SELECT o.id::text FROM outcomes o WHERE o.participant_id = p.id);
  -- every other table with a foreign key to participants or pairs: its rows about them
  FOR fk IN
    SELECT c.conrelid::regclass::text AS tbl, a.attname::text AS col, c.confrelid::regclass::text AS target
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
       AND c.confrelid IN ('participants'::regclass, 'pairs'::regclass)
       AND c.connamespace = 'public'::regnamespace
     ORDER BY 1, 2
  LOOP
    CONTINUE WHEN fk.tbl = ANY(known);
    other := jsonb_set(other, ARRAY[fk.tbl],
                       coalesce(other -> fk.tbl, '[]'::jsonb)
                       || privacy_rows(fk.tbl, fk.col,
                                       CASE WHEN fk.target = 'participants' THEN ARRAY[p.id] ELSE pair_ids END));
  END LOOP;
  doc := jsonb_build_object(
    'participant_id', p.id,
    'exported_at', now(),
    'profile', participant_json(p),
    'status_history', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'from_status', h.from_status, 'to_status', h.to_status, 'at', h.at, 'waiting_since', h.waiting_since)
        ORDER BY h.id) FROM participant_status_history h WHERE h.participant_id = p.id), '[]'),
    'pairs', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'role', CASE WHEN x.mentor_id = p.id THEN 'mentor' ELSE 'mentee' END, 'pair', pair_json(x))
        ORDER BY x.seq) FROM pairs x WHERE x.id = ANY(pair_ids)), '[]'),
    'pair_notes', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'id', n.id, 'pair_id', n.pair_id, 'author', n.author, 'text', n.text, 'created_at', n.created_at)
        ORDER BY n.seq) FROM pair_notes n WHERE n.pair_id = ANY(pair_ids)), '[]'),
    'meetings', coalesce((SELECT jsonb_agg(meeting_json(m) ORDER BY m.held_on, m.seq)
        FROM meetings m WHERE m.pair_id = ANY(pair_ids)), '[]'),
    'feedback', privacy_rows('pair_feedback', 'pair_id', pair_ids),
    'survey_responses', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'survey', jsonb_build_object('id', s.id, 'title', s.title, 'phase', s.phase),
        'response', survey_response_json(r)) ORDER BY r.seq)
        FROM survey_responses r JOIN surveys s ON s.id = r.survey_id WHERE r.respondent_id = p.id), '[]'),
    'outcomes', coalesce((SELECT jsonb_agg(outcome_json(o) ORDER BY o.measured_on, o.seq)
        FROM outcomes o WHERE o.participant_id = p.id), '[]'),
    'certificates', privacy_rows('certificates', 'participant_id', ARRAY[p.id]),
    'other_records', other,
    'audit_log', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'at', a.at, 'actor', a.actor, 'actor_role', a.actor_role, 'request_id', a.request_id,
        'action', a.action, 'entity', a.entity, 'entity_id', a.entity_id,
        'changed_fields', to_jsonb(a.changed_fields), 'reason', a.reason) ORDER BY a.id)
        FROM audit_log a WHERE a.entity_id = ANY(ids)), '[]'));
  RETURN doc;
END $$;

-- Erases participant pid in the caller's transaction and returns the names
-- of what it erased (for the audit entry, never the values):
--   the participant's names (set to '[erased]'), email, phone, job target,
--   motivation, short profile, CV link, external reference and the reason
--   of a rejection ('[erased]'; the referral to a partner stays);
--   in their pairs: the goals, the decline reason and the reasons of the
--   decisions, the coach notes' text, the meetings' summaries and next steps
--   (written by or about them), both sides' feedback texts;
--   in their survey responses: the answers to text questions ('[erased]',
--   so an answer still counts as given);
--   the reasons of eligibility overrides in the audit log ('[erased]');
--   stored Idempotency-Key responses that name them or their pairs.
-- Kept: ids, programme, kind, status and its history, dates, sectors,
-- occupations, region, availability, languages, experience, education,
-- capacity, consents, pairs and their statuses, meeting dates, durations,
-- modes and topics, numeric and choice answers, outcomes, certificates:
-- the pseudonymised rows programme statistics, reports and exports count.
-- Running it again erases whatever was written since.
CREATE FUNCTION participant_erase(pid uuid) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  pair_ids uuid[];
  erased text[] := ARRAY['given_name', 'family_name', 'email', 'phone', 'job_target', 'motivation',
                         'short_profile', 'cv_url', 'external_ref', 'rejection_reason'];
  n bigint;
BEGIN
  UPDATE participants SET given_name = participant_erased_name(), family_name = participant_erased_name(),
         email = NULL, phone = NULL, job_target = NULL, motivation = NULL, short_profile = NULL,
         cv_url = NULL, external_ref = NULL, erased_at = coalesce(erased_at, clock_timestamp()),
         -- a referral to a partner needs a reason (sql/0013): the reason is erased, the referral kept
         rejection_reason = CASE WHEN rejection_reason IS NOT NULL THEN participant_erased_name() END
   WHERE id = pid;
  SELECT coalesce(array_agg(x.id), '{}') INTO pair_ids FROM pairs x WHERE x.mentor_id = pid OR x.mentee_id = pid;

  UPDATE pairs SET goals = '{}', decline_reason = NULL
   WHERE id = ANY(pair_ids) AND (goals <> '{}' OR decline_reason IS NOT NULL);
  erased := erased || ARRAY['pairs.goals', 'pairs.decline_reason'];
  UPDATE pair_events SET reason = NULL WHERE pair_id = ANY(pair_ids) AND reason IS NOT NULL;
  erased := erased || 'pair_events.reason'::text;
  UPDATE pair_notes SET text = participant_erased_name()
   WHERE pair_id = ANY(pair_ids) AND text <> participant_erased_name();
  erased := erased || 'pair_notes.text'::text;
  UPDATE meetings SET summary = NULL, next_steps = NULL
   WHERE pair_id = ANY(pair_ids) AND (summary IS NOT NULL OR next_steps IS NOT NULL);
  erased := erased || ARRAY['meetings.summary', 'meetings.next_steps'];
  IF to_regclass('pair_feedback') IS NOT NULL THEN
    EXECUTE 'UPDATE pair_feedback SET text = NULL WHERE pair_id = ANY($1) AND text IS NOT NULL' USING pair_ids;
    erased := erased || 'pair_feedback.text'::text;
  END IF;

  UPDATE survey_responses r
     SET answers = r.answers || t.erase
    FROM (SELECT r2.id, jsonb_object_agg(q.q ->> 'key', participant_erased_name()) AS erase
            FROM survey_responses r2
            JOIN surveys s ON s.id = r2.survey_id
           CROSS JOIN LATERAL jsonb_array_elements(s.questions) AS q(q)
           WHERE r2.respondent_id = pid AND q.q ->> 'type' = 'text' AND r2.answers ? (q.q ->> 'key')
             AND r2.answers -> (q.q ->> 'key') <> to_jsonb(participant_erased_name())
           GROUP BY r2.id) t
   WHERE r.id = t.id;
  erased := erased || 'survey_responses.answers(text)'::text;

  -- the only free text of the audit log: the reason of an eligibility override (sql/0013)
  UPDATE audit_log SET reason = participant_erased_name()
   WHERE entity_id IN (SELECT pid::text UNION ALL SELECT unnest(pair_ids)::text)
     AND reason IS NOT NULL AND reason <> participant_erased_name();
  erased := erased || 'audit_log.reason'::text;

  DELETE FROM idempotency_keys k
   WHERE k.body LIKE '%' || pid::text || '%' OR k.path LIKE '%' || pid::text || '%'
      OR EXISTS (SELECT 1 FROM unnest(pair_ids) x
                  WHERE k.body LIKE '%' || x::text || '%' OR k.path LIKE '%' || x::text || '%');
  GET DIAGNOSTICS n = ROW_COUNT;
  erased := erased || 'idempotency_keys'::text;

  INSERT INTO audit_log (actor, actor_role, request_id, action, entity, entity_id, changed_fields)
  VALUES (coalesce(nullif(current_setting('koppel.actor', true), ''), 'system'),
          coalesce(nullif(current_setting('koppel.role', true), ''), 'system'),
          coalesce(current_setting('koppel.request_id', true), ''),
          'erase', 'participants', pid::text, erased);
  RETURN erased;
END $$;
