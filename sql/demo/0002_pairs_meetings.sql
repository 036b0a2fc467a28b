-- Demo pairs and meetings for the teaching pilot, dated relative to today so
-- that the coach's follow-up worklist has something in it. Loading twice
-- changes nothing (fixed ids, guarded status moves).
SELECT set_config('koppel.actor', 'seed-demo', true), set_config('koppel.role', 'system', true);

CREATE TEMP TABLE demo_pairs ON COMMIT DROP AS
SELECT ('50000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid AS id,
       ('20000000-0000-4000-8000-0000000000' || lpad(mentor::text, 2, '0'))::uuid AS mentor_id,
       ('30000000-0000-4000-8000-0000000000' || lpad(mentee::text, 2, '0'))::uuid AS mentee_id,
       status, current_date - proposed_ago AS proposed_on, accepted_ago, started_ago, end_reason, freq
FROM (VALUES
  (1, 1, 1, 'active', 70, 65, 60, NULL, 'every_two_weeks'),
  (2, 2, 2, 'active', 120, 115, 110, NULL, 'monthly'),
  (3, 3, 3, 'accepted', 40, 35, NULL, NULL, 'monthly'),
  (4, 4, 4, 'proposed', 10, NULL, NULL, NULL, NULL),
  (5, 5, 5, 'completed', 200, 195, 190, 'goal_reached', 'every_two_weeks'),
  (6, 6, 6, 'declined', 20, NULL, NULL, NULL, NULL),
  (7, 1, 12, 'active', 45, 40, 38, NULL, 'weekly'))
  AS v(n, mentor, mentee, status, proposed_ago, accepted_ago, started_ago, end_reason, freq);

INSERT INTO pairs (id, programme_id, mentor_id, mentee_id, coach_id, status, proposed_by, generalist,
  match_score, match_reasons, agreement_frequency, agreement_contact_modes, goals,
  mentor_accepted_at, mentee_accepted_at, mentor_confirmed_at, mentee_confirmed_at,
  declined_by, declined_at, decline_reason, started_on, closed_on, closed_by, end_reason, created_at)
SELECT d.id, '11111111-1111-4111-8111-111111111111', d.mentor_id, d.mentee_id,
       '0c000000-0000-4000-8000-000000000002', d.status, '0c000000-0000-4000-8000-000000000002',
       (e.evaluation->>'generalist')::boolean, (e.evaluation->>'score')::numeric, e.evaluation->'reasons',
       d.freq, CASE WHEN d.freq IS NULL THEN '{}' ELSE '{phone,video}' END::text[],
       ARRAY['Get to know daily school life', 'Decide on a teacher training programme'],
       CASE WHEN d.accepted_ago IS NOT NULL THEN current_date - d.accepted_ago END,
       CASE WHEN d.accepted_ago IS NOT NULL THEN current_date - d.accepted_ago END,
       CASE WHEN d.started_ago IS NOT NULL THEN current_date - d.started_ago END,
       CASE WHEN d.started_ago IS NOT NULL THEN current_date - d.started_ago END,
       CASE WHEN d.status = 'declined' THEN 'mentee' END, CASE WHEN d.status = 'declined' THEN d.proposed_on + 3 END,
       CASE WHEN d.status = 'declined' THEN 'We found we want different things from the programme.' END,
       CASE WHEN d.started_ago IS NOT NULL THEN current_date - d.started_ago END,
       CASE WHEN d.status = 'completed' THEN current_date - 10 END,
       CASE WHEN d.status = 'completed' THEN '0c000000-0000-4000-8000-000000000002'::uuid END,
       d.end_reason, d.proposed_on
FROM demo_pairs d, match_explain(ARRAY[d.mentor_id], ARRAY[d.mentee_id]) e
WHERE e.mentor_id = d.mentor_id AND e.mentee_id = d.mentee_id
ON CONFLICT (id) DO NOTHING;

INSERT INTO pair_events (pair_id, action, actor, actor_role, at, reason)
SELECT d.id, e.action, e.actor, e.role, e.at, e.reason
FROM demo_pairs d
CROSS JOIN LATERAL (VALUES
  ('proposed', '0c000000-0000-4000-8000-000000000002'::uuid, 'coach', d.proposed_on::timestamptz, NULL::text),
  ('accepted', d.mentor_id, 'mentor', (current_date - d.accepted_ago)::timestamptz, NULL),
  ('accepted', d.mentee_id, 'mentee', (current_date - d.accepted_ago)::timestamptz, NULL),
  ('declined', d.mentee_id, 'mentee', (d.proposed_on + 3)::timestamptz, 'We found we want different things from the programme.'),
  ('activated', d.mentee_id, 'mentee', (current_date - d.started_ago)::timestamptz, NULL),
  ('closed', '0c000000-0000-4000-8000-000000000002'::uuid, 'coach', (current_date - 10)::timestamptz, d.end_reason))
  AS e(action, actor, role, at, reason)
WHERE e.at IS NOT NULL
  AND (e.action <> 'declined' OR d.status = 'declined')
  AND (e.action <> 'closed' OR d.status = 'completed')
  AND NOT EXISTS (SELECT 1 FROM pair_events x WHERE x.pair_id = d.id);

-- meetings: every 14 days from the start for active and completed pairs
INSERT INTO meetings (id, pair_id, held_on, duration_minutes, mode, place, topics, initiated_by,
                      summary, next_steps, reported_by, created_at)
SELECT md5(d.id::text || k)::uuid, d.id, current_date - d.started_ago + 14 * (k - 1),
       60 + 15 * (k % 3), CASE WHEN k % 2 = 0 THEN 'video' ELSE 'in_person' END,
       CASE WHEN k % 2 = 0 THEN 'online' ELSE 'cafe' END,
       CASE k % 5 WHEN 1 THEN ARRAY['transition', 'education_sectors'] WHEN 2 THEN ARRAY['training_programmes', 'finances']
                  WHEN 3 THEN ARRAY['teaching_tips'] WHEN 4 THEN ARRAY['applying', 'internships']
                  ELSE ARRAY['work_life_balance'] END,
       'mentee', 'Talked through the questions the mentee brought.', 'Mentee looks into the next step.',
       d.mentee_id, now()
FROM demo_pairs d, generate_series(1, CASE d.status WHEN 'completed' THEN 6 WHEN 'active' THEN 3 ELSE 0 END) k
WHERE d.started_ago IS NOT NULL
  AND current_date - d.started_ago + 14 * (k - 1) <= CASE WHEN d.id = '50000000-0000-4000-8000-000000000002'
                                                         THEN current_date - 100 ELSE current_date END
ON CONFLICT (id) DO NOTHING;

-- the people follow their pairs
UPDATE participants p SET status = 'matched'
  FROM demo_pairs d WHERE p.status = 'waiting' AND d.status IN ('proposed', 'accepted', 'active', 'completed')
   AND p.id IN (d.mentor_id, d.mentee_id);
UPDATE participants p SET status = 'active'
  FROM demo_pairs d WHERE p.status = 'matched' AND d.status IN ('active', 'completed')
   AND p.id IN (d.mentor_id, d.mentee_id);
UPDATE participants p SET status = 'completed'
  FROM demo_pairs d WHERE p.status = 'active' AND d.status = 'completed'
   AND p.id IN (d.mentor_id, d.mentee_id);

-- two mentees have waited longer than the programme's alert (30 days)
UPDATE participants SET waiting_since = now() - interval '40 days'
 WHERE id IN ('30000000-0000-4000-8000-000000000007', '30000000-0000-4000-8000-000000000008')
   AND status = 'waiting' AND waiting_since > now() - interval '30 days';
