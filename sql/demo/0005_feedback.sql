-- Demo closing feedback: the completed pair 5 (closed 10 days ago). The mentee
-- has written theirs, the mentor not yet, so the mentor sees it as `hidden`
-- until they write their own or 14 days have passed since closure.
SELECT set_config('koppel.actor', 'seed-demo', true), set_config('koppel.role', 'system', true);

INSERT INTO pair_feedback (pair_id, author_role, author_id, rating, text, created_at, updated_at)
SELECT x.id, 'mentee', x.mentee_id, 9,
       'Thank you for the school visits and for reading my lesson plans. I start my teacher training in September.',
       now() - interval '8 days', now() - interval '8 days'
FROM pairs x WHERE x.id = '50000000-0000-4000-8000-000000000005' AND x.status = 'completed'
ON CONFLICT (pair_id, author_role) DO NOTHING;
