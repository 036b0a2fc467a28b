-- Demo trainings and activities for the teaching pilot, dated relative to
-- today: a mentor training by the university college held two months ago
-- (five mentors completed it and hold a certificate, so the certified-mentor
-- register has entries), one still to come with enrolments, an orientation
-- session that took place (attendance recorded), an exchange evening for
-- mentors and a full workshop for mentees with a waiting list. Loading twice
-- changes nothing (fixed ids, ON CONFLICT DO NOTHING).
SELECT set_config('koppel.actor', 'seed-demo', true), set_config('koppel.role', 'system', true);

INSERT INTO trainings (id, partner_id, title, held_on, mode, capacity, certificate_kind, validity_months)
VALUES
  ('70000000-0000-4000-8000-000000000001', '40000000-0000-4000-8000-000000000002',
   'Mentor training for workplace mentors (dual learning)', current_date - 60, 'in_person', 8,
   'workplace_mentor', 36),
  ('70000000-0000-4000-8000-000000000002', '40000000-0000-4000-8000-000000000002',
   'Mentor training, online edition', current_date + 21, 'online', 10, 'workplace_mentor', 36)
ON CONFLICT (id) DO NOTHING;

-- mentors 1..5 completed the first training: a certificate each, issued the day it was held
INSERT INTO certificates (id, participant_id, kind, issued_on, expires_on, issued_by_partner_id, training_id)
SELECT ('71000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       ('20000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       'workplace_mentor', current_date - 60, ((current_date - 60) + interval '36 months')::date,
       '40000000-0000-4000-8000-000000000002', '70000000-0000-4000-8000-000000000001'
FROM generate_series(1, 5) AS n
ON CONFLICT (id) DO NOTHING;

INSERT INTO training_enrolments (training_id, participant_id, status, completed_on, certificate_id, created_at)
SELECT '70000000-0000-4000-8000-000000000001',
       ('20000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid, 'registered',
       CASE WHEN n <= 5 THEN current_date - 59 END,
       CASE WHEN n <= 5 THEN ('71000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid END,
       now() - interval '80 days'
FROM generate_series(1, 6) AS n
ON CONFLICT (training_id, participant_id) DO NOTHING;

INSERT INTO training_enrolments (training_id, participant_id, status)
SELECT '70000000-0000-4000-8000-000000000002',
       ('20000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid, 'registered'
FROM generate_series(7, 9) AS n
ON CONFLICT (training_id, participant_id) DO NOTHING;

INSERT INTO activities (id, programme_id, kind, title, held_on, place, capacity, audience)
VALUES
  ('72000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'orientation',
   'Orientation: from the bank to the classroom', current_date - 20, 'Noordbank auditorium, Antwerpen', 15,
   'mentees'),
  ('72000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', 'exchange',
   'Exchange evening for mentors', current_date + 14, 'Stadsbibliotheek Gent, room 2', 12, 'mentors'),
  ('72000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', 'workshop',
   'Workshop: applying for a teaching job', current_date + 7, 'Hogeschool Lerarenopleiding, Leuven', 2,
   'mentees')
ON CONFLICT (id) DO NOTHING;

-- the orientation: mentees 1..6 registered, 1..5 came
INSERT INTO activity_registrations (activity_id, participant_id, status, attended_at, created_at)
SELECT '72000000-0000-4000-8000-000000000001',
       ('30000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid, 'registered',
       CASE WHEN n <= 5 THEN (current_date - 20)::timestamptz + interval '21 hours' END,
       now() - interval '30 days'
FROM generate_series(1, 6) AS n
ON CONFLICT (activity_id, participant_id) DO NOTHING;

-- the exchange evening: mentors 1..4
INSERT INTO activity_registrations (activity_id, participant_id, status)
SELECT '72000000-0000-4000-8000-000000000002',
       ('20000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid, 'registered'
FROM generate_series(1, 4) AS n
ON CONFLICT (activity_id, participant_id) DO NOTHING;

-- the workshop is full: mentees 7 and 8 hold the two seats, 10 waits (in this order)
INSERT INTO activity_registrations (activity_id, participant_id, status)
SELECT '72000000-0000-4000-8000-000000000003',
       ('30000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       CASE WHEN n <= 8 THEN 'registered' ELSE 'waitlisted' END
FROM (VALUES (7), (8), (10)) AS v(n)
ON CONFLICT (activity_id, participant_id) DO NOTHING;
