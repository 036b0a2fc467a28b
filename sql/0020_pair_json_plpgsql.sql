-- Koppel schema 0020: pair_json and pair_progress in PL/pgSQL, same results.
--
-- A LANGUAGE sql function whose body has a FROM clause is never inlined, and
-- PostgreSQL 15 plans its statement again on every call from a new query: a
-- single GET /v1/pairs/{id} planned the progress query and the decisions
-- subquery each time. PL/pgSQL keeps its plans for the connection. Measured
-- on the make bench database, pgbench -M prepared -c1, one pair:
-- pair_progress 4,200–5,900 calls/s as SQL against 15,900/s as PL/pgSQL.
-- The bodies are the statements of sql/0003 (pair_json) and sql/0012
-- (pair_progress), unchanged.

CREATE OR REPLACE FUNCTION pair_progress(p pairs) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (
    SELECT jsonb_build_object(
      'meetings_held', m.n, 'meetings_required', g.min_meetings, 'minutes_total', m.minutes,
      'last_meeting_on', m.last,
      'days_since_last_meeting', CASE WHEN m.last IS NOT NULL THEN current_date - m.last END,
      'on_track', CASE
        WHEN p.status = 'active' AND p.started_on IS NOT NULL THEN
          m.n >= (g.min_meetings * least(current_date - p.started_on, greatest(g.min_duration_days, 1)))
                 / greatest(g.min_duration_days, 1)
        WHEN p.status IN ('completed', 'ended') THEN m.n >= g.min_meetings
        END)
    FROM programmes g,
         (SELECT count(*)::int AS n, coalesce(sum(duration_minutes), 0)::int AS minutes, max(held_on) AS last
            FROM meetings WHERE pair_id = p.id) m
    WHERE g.id = p.programme_id);
END $$;

CREATE OR REPLACE FUNCTION pair_json(p pairs) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN jsonb_build_object(
    'id', p.id, 'programme_id', p.programme_id, 'mentor_id', p.mentor_id, 'mentee_id', p.mentee_id,
    'coach_id', p.coach_id, 'status', p.status, 'generalist', p.generalist,
    'match_score', p.match_score, 'match_reasons', p.match_reasons,
    'agreements', jsonb_build_object('frequency', p.agreement_frequency,
                                     'contact_modes', to_jsonb(p.agreement_contact_modes),
                                     'planned_end_on', p.agreement_planned_end_on),
    'goals', to_jsonb(p.goals),
    'mentor_accepted_at', p.mentor_accepted_at, 'mentee_accepted_at', p.mentee_accepted_at,
    'mentor_confirmed_at', p.mentor_confirmed_at, 'mentee_confirmed_at', p.mentee_confirmed_at,
    'declined_by', p.declined_by, 'decline_reason', p.decline_reason,
    'started_on', p.started_on, 'closed_on', p.closed_on, 'end_reason', p.end_reason,
    'decisions', coalesce((SELECT jsonb_agg(jsonb_build_object('action', e.action, 'by', e.actor,
                                   'role', e.actor_role, 'at', e.at, 'reason', e.reason) ORDER BY e.id)
                             FROM pair_events e WHERE e.pair_id = p.id), '[]'),
    'progress', pair_progress(p),
    'created_at', p.created_at, 'updated_at', p.updated_at);
END $$;
