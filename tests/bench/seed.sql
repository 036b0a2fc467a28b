-- Benchmark data set (tests/bench/run.sh): :n participants (psql -v n=100000)
-- in 10 running programmes, pairs in every state with their decisions, and
-- meetings. Set-based (generate_series), so a million participants load in
-- about a minute.
--
-- Triggers are off for the load: session_replication_role = replica (the
-- cluster's user is its superuser). That skips the audit rows, updated_at
-- touches and the participants' status check — which is why nothing here is
-- updated after the fact: every participant is inserted once, already in the
-- status its pair gives it, with waiting_since and status_changed_at set the
-- way the trigger would set them. Foreign keys are not checked either; every
-- id below is taken from rows inserted in the same transaction. The unique
-- index "one open pair per mentee" still holds (indexes are never skipped).
--
-- Shape, per programme (participants are spread round-robin in blocks of 5,
-- so every programme's rows interleave along seq as real sign-ups would):
--   40 % mentors, 60 % mentees; three quarters of the mentors have one pair
--   with the mentee of the same rank: 60 % active (4 meetings), 7 % accepted
--   (1 meeting), 13 % proposed, 13 % completed (7 meetings), 7 % ended
--   (2 meetings). Unpaired people: 10 % applied, 10 % screened, the rest waiting.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT setseed(0.2024) \g /dev/null

INSERT INTO programmes (id, name, description, starts_on, status, min_meetings, min_duration_days,
                        max_mentees_per_mentor, created_at, updated_at)
SELECT ('b1000000-0000-4000-8000-0000000000' || lpad(g::text, 2, '0'))::uuid, 'Bench programme ' || g,
       'A programme of the benchmark data set.', current_date - 730, 'running', 6, 180, 1,
       now() - interval '800 days', now() - interval '800 days'
  FROM generate_series(1, 10) g;

INSERT INTO programme_topics (programme_id, key, label, position)
SELECT g.id, t.key, t.label, t.pos
  FROM programmes g
 CROSS JOIN (VALUES ('cv', 'CV and letters', 1), ('interview', 'Job interviews', 2), ('network', 'Network', 3),
                    ('language', 'Language at work', 4), ('sector', 'Knowing the sector', 5)) t(key, label, pos)
 WHERE g.id::text LIKE 'b1000000-%';

-- one coach per programme
INSERT INTO staff (id, name, email, role)
SELECT ('b2000000-0000-4000-8000-0000000000' || lpad(g::text, 2, '0'))::uuid, 'Coach ' || g,
       'coach' || g || '@example.org', 'coach'
  FROM generate_series(1, 10) g;
INSERT INTO staff_programmes (staff_id, programme_id)
SELECT ('b2000000-0000-4000-8000-0000000000' || lpad(g::text, 2, '0'))::uuid,
       ('b1000000-0000-4000-8000-0000000000' || lpad(g::text, 2, '0'))::uuid
  FROM generate_series(1, 10) g;

-- who is who: i -> programme (blocks of 5), kind, rank within programme and kind
CREATE TEMP TABLE src ON COMMIT DROP AS
SELECT i, gen_random_uuid() AS id, 1 + (i / 5) % 10 AS prg, (i % 5 < 2) AS is_mentor,
       row_number() OVER (PARTITION BY 1 + (i / 5) % 10, i % 5 < 2 ORDER BY i) AS k,
       now() - make_interval(days => (30 + i::bigint * 7919 % 700)::int) AS created
  FROM generate_series(1, :n) i;

-- the pairs: mentor of rank k with the mentee of rank k, for 3 in 4 mentors
CREATE TEMP TABLE plan ON COMMIT DROP AS
SELECT gen_random_uuid() AS id, mr.prg, mr.id AS mentor_id, me.id AS mentee_id, mr.k,
       s.status,
       now() - make_interval(days => (CASE WHEN s.status IN ('completed', 'ended') THEN 300 ELSE 100 END
                                      + mr.k * 31 % 200)::int) AS created
  FROM src mr
  JOIN src me ON me.prg = mr.prg AND NOT me.is_mentor AND me.k = mr.k
 CROSS JOIN LATERAL (SELECT CASE WHEN mr.k % 20 < 12 THEN 'active' WHEN mr.k % 20 < 14 THEN 'accepted'
                                 WHEN mr.k % 20 < 16 THEN 'proposed' WHEN mr.k % 20 < 19 THEN 'completed'
                                 ELSE 'ended' END AS status) s
 WHERE mr.is_mentor AND mr.k % 4 <> 0;

CREATE TEMP TABLE vocab ON COMMIT DROP AS SELECT
  ARRAY['2330', '2341', '2342', '2310', '2320', '1345', '2411', '2412', '2413', '2421', '2422', '2431',
        '2511', '2512', '2631', '3311', '3312', '3313', '4211', '4311', '5120', '7411', '8322', '9112'] AS isco,
  ARRAY['85.31', '85.32', '85.20', '85.42', '85.10', '64.19', '64.20', '66.12', '62.01', '62.02',
        '86.10', '86.21', '47.11', '49.41', '41.20', '43.21', '10.71', '25.62', '70.22', '78.10',
        '84.11', '56.10', 'P', '85', '64'] AS nace,
  ARRAY['Antwerpen', 'Gent', 'Leuven', 'Brussel', 'Mechelen', 'Hasselt', 'Brugge', 'Kortrijk', 'Namur',
        'Liège'] AS regions,
  ARRAY['nl', 'fr', 'en', 'de', 'ar', 'tr', 'es', 'pl'] AS langs,
  ARRAY['A1', 'A2', 'B1', 'B2', 'C1', 'C2'] AS levels,
  ARRAY['Amina', 'Bram', 'Chloé', 'Dries', 'Elif', 'Farid', 'Griet', 'Hamza', 'Ines', 'Jonas', 'Karima',
        'Lotte', 'Mehmet', 'Nora', 'Omar', 'Pieter', 'Rania', 'Sander', 'Tamara', 'Yusuf'] AS given,
  ARRAY['Peeters', 'Janssens', 'Maes', 'Jacobs', 'Mertens', 'Willems', 'Claes', 'Goossens', 'Wouters',
        'De Smet', 'Dubois', 'Lambert', 'El Amrani', 'Yilmaz', 'Kowalski', 'Haddad', 'Nowak', 'Diallo'] AS family,
  ARRAY['primary', 'lower_secondary', 'upper_secondary', 'post_secondary', 'short_tertiary', 'bachelor',
        'master', 'doctorate'] AS edu;

INSERT INTO participants (id, programme_id, kind, given_name, family_name, email, phone, status,
  status_changed_at, waiting_since, sectors, occupations, region, availability, languages,
  years_experience, education_level, job_target, motivation, arrival_on, capacity, short_profile,
  consent_data_processing, consent_research, consent_given_at, created_at, updated_at)
SELECT s.id, ('b1000000-0000-4000-8000-0000000000' || lpad(s.prg::text, 2, '0'))::uuid,
       CASE WHEN s.is_mentor THEN 'mentor' ELSE 'mentee' END,
       v.given[1 + s.i % 20], v.family[1 + (s.i / 20) % 18],
       'person' || s.i || '@example.org', '+32 470 ' || lpad((s.i % 1000000)::text, 6, '0'),
       st.status,
       coalesce(x.created + interval '2 days', s.created),
       CASE WHEN st.status = 'waiting' THEN coalesce(x.created + interval '200 days', s.created) END,
       CASE WHEN s.i % 3 = 0 THEN ARRAY[v.nace[1 + s.i % 25], v.nace[1 + (s.i + 7) % 25]]
            ELSE ARRAY[v.nace[1 + s.i % 25]] END,
       CASE WHEN s.i % 2 = 0 THEN ARRAY[v.isco[1 + s.i % 24], v.isco[1 + (s.i + 5) % 24]]
            ELSE ARRAY[v.isco[1 + s.i % 24]] END,
       v.regions[1 + (s.i / 3) % 10],
       CASE s.i % 4 WHEN 0 THEN ARRAY['working_hours'] WHEN 1 THEN ARRAY['evenings']
                    WHEN 2 THEN ARRAY['evenings', 'weekends'] ELSE ARRAY['working_hours', 'evenings', 'weekends'] END,
       jsonb_build_array(jsonb_build_object('code', 'nl', 'level', v.levels[1 + s.i % 6]),
                         jsonb_build_object('code', v.langs[2 + s.i % 7], 'level', v.levels[1 + (s.i / 7) % 6])),
       s.i % 40, v.edu[1 + s.i % 8],
       CASE WHEN NOT s.is_mentor THEN 'Work as ' || v.isco[1 + s.i % 24] || ' in ' || v.regions[1 + (s.i / 3) % 10] END,
       'I would like to find work that uses what I learned and did before I came here, and to understand '
         || 'how applying and working in this sector goes in practice.',
       CASE WHEN NOT s.is_mentor THEN current_date - 100 - s.i % 900 END,
       CASE WHEN s.is_mentor THEN 1 END,
       CASE WHEN s.is_mentor THEN 'Twenty years in the sector; happy to share how hiring works and to open my network.'
            ELSE 'Experienced professional, new to the country, looking for a first job at my level.' END,
       true, s.i % 3 <> 0, s.created, s.created, coalesce(x.created + interval '2 days', s.created)
  FROM src s
  LEFT JOIN (SELECT mentor_id AS pid, status, created FROM plan
             UNION ALL SELECT mentee_id, status, created FROM plan) x ON x.pid = s.id
 CROSS JOIN vocab v
 CROSS JOIN LATERAL (SELECT CASE
         WHEN x.status = 'active' THEN 'active'
         WHEN x.status IN ('proposed', 'accepted') THEN 'matched'
         WHEN x.status = 'completed' THEN 'completed'
         WHEN x.status = 'ended' AND s.is_mentor THEN 'waiting'
         WHEN x.status = 'ended' THEN 'withdrawn'
         WHEN s.i % 10 = 0 THEN 'applied'
         WHEN s.i % 10 = 1 THEN 'screened'
         ELSE 'waiting' END AS status) st;

INSERT INTO pairs (id, programme_id, mentor_id, mentee_id, coach_id, status, generalist, match_score,
  match_reasons, agreement_frequency, agreement_contact_modes, agreement_planned_end_on, goals, proposed_by,
  mentor_accepted_at, mentee_accepted_at, mentor_confirmed_at, mentee_confirmed_at, started_on, closed_on,
  closed_by, end_reason, created_at, updated_at)
SELECT x.id, ('b1000000-0000-4000-8000-0000000000' || lpad(x.prg::text, 2, '0'))::uuid, x.mentor_id,
       x.mentee_id, ('b2000000-0000-4000-8000-0000000000' || lpad(x.prg::text, 2, '0'))::uuid, x.status,
       x.k % 9 = 0, 40 + (x.k * 13) % 60,
       '[{"criterion": "occupation", "points": 30, "detail": "same minor group"}, {"criterion": "region", "points": 15, "detail": "same region"}]',
       CASE WHEN x.status <> 'proposed' THEN 'every_two_weeks' END,
       CASE WHEN x.status <> 'proposed' THEN ARRAY['video', 'in_person'] ELSE '{}' END,
       CASE WHEN x.status <> 'proposed' THEN (x.created + interval '200 days')::date END,
       ARRAY['Understand how hiring works in the sector', 'Apply for three jobs at my level'],
       ('b2000000-0000-4000-8000-0000000000' || lpad(x.prg::text, 2, '0'))::uuid,
       CASE WHEN x.status <> 'proposed' THEN x.created + interval '2 days' END,
       CASE WHEN x.status <> 'proposed' THEN x.created + interval '3 days' END,
       CASE WHEN x.status IN ('active', 'completed', 'ended') THEN x.created + interval '14 days' END,
       CASE WHEN x.status IN ('active', 'completed', 'ended') THEN x.created + interval '15 days' END,
       CASE WHEN x.status IN ('active', 'completed', 'ended') THEN (x.created + interval '15 days')::date END,
       CASE WHEN x.status IN ('completed', 'ended') THEN (x.created + interval '200 days')::date END,
       CASE WHEN x.status IN ('completed', 'ended') THEN
         ('b2000000-0000-4000-8000-0000000000' || lpad(x.prg::text, 2, '0'))::uuid END,
       CASE x.status WHEN 'completed' THEN 'goal_reached' WHEN 'ended' THEN 'no_click' END,
       x.created, x.created + interval '15 days'
  FROM plan x;

INSERT INTO pair_events (pair_id, action, actor, actor_role, at, reason)
SELECT x.id, e.action,
       CASE e.who WHEN 'mentor' THEN x.mentor_id WHEN 'mentee' THEN x.mentee_id
                  ELSE ('b2000000-0000-4000-8000-0000000000' || lpad(x.prg::text, 2, '0'))::uuid END,
       e.who, x.created + e.after, CASE WHEN e.action = 'closed' THEN
         CASE x.status WHEN 'completed' THEN 'goal_reached' ELSE 'no_click' END END
  FROM plan x
  JOIN (VALUES ('proposed', 'coach', interval '0', 0), ('accepted', 'mentor', interval '2 days', 1),
               ('accepted', 'mentee', interval '3 days', 1), ('confirmed', 'mentor', interval '14 days', 2),
               ('confirmed', 'mentee', interval '15 days', 2), ('activated', 'mentee', interval '15 days', 2),
               ('closed', 'coach', interval '200 days', 3)) e(action, who, after, stage)
    ON e.stage <= CASE x.status WHEN 'proposed' THEN 0 WHEN 'accepted' THEN 1 WHEN 'active' THEN 2 ELSE 3 END
 ORDER BY x.k, x.prg, e.after;

INSERT INTO meetings (pair_id, held_on, duration_minutes, mode, place, topics, initiated_by, summary,
                      next_steps, reported_by, created_at, updated_at)
SELECT x.id, (x.created + make_interval(days => 14 * g))::date, 45 + (g * 15) % 60,
       CASE WHEN g % 2 = 0 THEN 'video' ELSE 'in_person' END, CASE WHEN g % 2 = 0 THEN 'online' ELSE 'cafe' END,
       CASE g % 4 WHEN 0 THEN ARRAY['cv'] WHEN 1 THEN ARRAY['interview', 'network'] WHEN 2 THEN ARRAY['language']
                  ELSE ARRAY['sector', 'cv'] END,
       CASE WHEN g % 3 = 0 THEN 'mentor' ELSE 'mentee' END,
       'Went through the questions the mentee brought and the next applications.',
       'Mentee sends two applications; mentor asks a colleague for an introduction.',
       x.mentee_id, x.created + make_interval(days => 14 * g), x.created + make_interval(days => 14 * g)
  FROM plan x
 CROSS JOIN LATERAL generate_series(1, CASE x.status WHEN 'active' THEN 4 WHEN 'accepted' THEN 1
                                                     WHEN 'completed' THEN 7 WHEN 'ended' THEN 2 ELSE 0 END) g;
COMMIT;
