-- GET /v1/audit: the audit log as coordinators read it (api/audit.c).
--
-- An audit row names its entity by table and id, not by programme. A
-- coordinator of some programmes sees the rows whose entity belongs to one
-- of them, found from the entity's row as it is now; an organisation-wide
-- coordinator ("*") sees every row. Organisation-level entities (staff,
-- partners, trainings, webhooks) and rows whose entity no longer exists
-- belong to no programme, so only "*" coordinators see them.

-- The programme an audit row's entity belongs to, or NULL.
CREATE FUNCTION audit_programme(entity text, entity_id text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
  eid uuid;
BEGIN
  IF entity_id !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
    RETURN NULL;
  END IF;
  eid := entity_id::uuid;
  RETURN CASE entity
    WHEN 'programmes' THEN (SELECT g.id FROM programmes g WHERE g.id = eid)
    WHEN 'programme_topics' THEN (SELECT g.id FROM programmes g WHERE g.id = eid)
    -- entity_id is the participant for these (sql/0013, 0014) and for overrides
    WHEN 'participants' THEN (SELECT p.programme_id FROM participants p WHERE p.id = eid)
    WHEN 'eligibility_overrides' THEN (SELECT p.programme_id FROM participants p WHERE p.id = eid)
    WHEN 'certificates' THEN (SELECT p.programme_id FROM participants p WHERE p.id = eid)
    WHEN 'training_enrolments' THEN (SELECT p.programme_id FROM participants p WHERE p.id = eid)
    WHEN 'activity_registrations' THEN (SELECT p.programme_id FROM participants p WHERE p.id = eid)
    WHEN 'pairs' THEN (SELECT x.programme_id FROM pairs x WHERE x.id = eid)
    WHEN 'pair_feedback' THEN (SELECT x.programme_id FROM pairs x WHERE x.id = eid)
    WHEN 'meetings' THEN (SELECT x.programme_id FROM meetings m JOIN pairs x ON x.id = m.pair_id
                           WHERE m.id = eid)
    WHEN 'pair_notes' THEN (SELECT x.programme_id FROM pair_notes n JOIN pairs x ON x.id = n.pair_id
                             WHERE n.id = eid)
    WHEN 'outcomes' THEN (SELECT p.programme_id FROM outcomes o JOIN participants p ON p.id = o.participant_id
                           WHERE o.id = eid)
    WHEN 'surveys' THEN (SELECT s.programme_id FROM surveys s WHERE s.id = eid)
    WHEN 'survey_responses' THEN (SELECT s.programme_id FROM survey_responses r JOIN surveys s ON s.id = r.survey_id
                                   WHERE r.id = eid)
    WHEN 'activities' THEN (SELECT a.programme_id FROM activities a WHERE a.id = eid)
    ELSE NULL END;
END $$;

-- One audit row as the API shows it.
CREATE FUNCTION audit_entry_json(a audit_log) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', a.id, 'at', a.at, 'actor', a.actor, 'actor_role', a.actor_role, 'request_id', a.request_id,
    'action', a.action, 'entity', a.entity, 'entity_id', a.entity_id,
    'changed_fields', to_jsonb(a.changed_fields), 'reason', a.reason,
    'programme_id', audit_programme(a.entity, a.entity_id))
$$;

-- Filters by time and by who acted read the newest rows first.
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
