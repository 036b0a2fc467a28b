-- Demo data: the career-switch-into-teaching pilot 2 from DOMAIN.md
-- (June-December 2022, 12 mentors for 13 mentees). Fixed ids so that
-- `make run` can print working tokens; loading twice changes nothing.
SELECT set_config('koppel.actor', 'seed-demo', true), set_config('koppel.role', 'system', true);

INSERT INTO programmes (id, name, description, starts_on, ends_on, status, min_meetings,
                        min_duration_days, max_mentees_per_mentor, waiting_alert_days,
                        followup_interval_days, small_group_threshold)
VALUES ('11111111-1111-4111-8111-111111111111', 'Van bank naar klas — pilot 2',
        'Bank employees who consider a switch into teaching, mentored by former bank employees who became teachers or school leaders.',
        '2022-06-01', '2022-12-31', 'running', 6, 90, 2, 30, 90, 5)
ON CONFLICT (id) DO NOTHING;

INSERT INTO programme_topics (programme_id, key, label, position)
SELECT '11111111-1111-4111-8111-111111111111', key, label, ord
FROM (VALUES
  ('work_life_balance', 'Work–life balance', 1),
  ('training_tips', 'Practical tips for the teacher training', 2),
  ('teaching_tips', 'Practical tips for teaching', 3),
  ('transition', 'Transition into education', 4),
  ('internships', 'Orientation on internships', 5),
  ('training_programmes', 'Orientation on training programmes', 6),
  ('applying', 'Orientation on applying', 7),
  ('education_sectors', 'Education sectors', 8),
  ('finances', 'Finances', 9),
  ('other', 'Other', 10)) AS t(key, label, ord)
ON CONFLICT DO NOTHING;

INSERT INTO partners (id, name, kind, contact_name, contact_email, contact_phone, agreement_kind,
                      agreement_signed_on, active, notes)
VALUES
  ('40000000-0000-4000-8000-000000000001', 'Noordbank HR', 'employer', 'Els Janssens',
   'els.janssens@noordbank.example', '+32 2 555 01 01', 'formal', '2022-04-15', true,
   'Supplies mentees: employees exploring a switch into teaching.'),
  ('40000000-0000-4000-8000-000000000002', 'Hogeschool Lerarenopleiding', 'training', 'Pieter Claes',
   'pieter.claes@hogeschool.example', '+32 9 555 02 02', 'ad_hoc', NULL, true,
   'Teacher training; information sessions for mentees.'),
  ('40000000-0000-4000-8000-000000000003', 'Scholengroep Rivierenland', 'employer', 'An Peeters',
   'an.peeters@rivierenland.example', '+32 3 555 03 03', 'formal', '2022-05-02', true,
   'School group employing several mentors.'),
  ('40000000-0000-4000-8000-000000000004', 'Fonds Overstap', 'funder', 'Joris Maes',
   'joris.maes@overstap.example', NULL, 'formal', '2022-03-01', true, 'Funds the pilot.')
ON CONFLICT (id) DO NOTHING;

INSERT INTO staff (id, name, email, role) VALUES
  ('0c000000-0000-4000-8000-000000000001', 'Sofie Wouters', 'sofie.wouters@koppel.example', 'coordinator'),
  ('0c000000-0000-4000-8000-000000000002', 'Bram De Smet', 'bram.desmet@koppel.example', 'coach')
ON CONFLICT (id) DO NOTHING;
INSERT INTO staff_programmes (staff_id, programme_id) VALUES
  ('0c000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111'),
  ('0c000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111')
ON CONFLICT DO NOTHING;

-- 12 mentors: former bank employees now teaching (NACE 85.x education; ISCO 23xx teachers).
INSERT INTO participants (id, programme_id, kind, given_name, family_name, email, phone, status,
  sectors, occupations, region, availability, languages, years_experience, education_level,
  employer_partner_id, capacity, short_profile, consent_data_processing, consent_research, consent_given_at)
SELECT ('20000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       '11111111-1111-4111-8111-111111111111', 'mentor', m.given, m.family,
       lower(m.given) || '.' || lower(replace(m.family, ' ', '')) || '@school.example',
       '+32 470 10 20 ' || lpad(n::text, 2, '0'), 'waiting',
       ARRAY['85', m.sector]::text[], ARRAY[m.isco]::text[], m.region,
       m.avail::text[], '[{"code": "nl", "level": "C2"}, {"code": "en", "level": "C1"}]'::jsonb,
       m.years, 'master',
       CASE WHEN n % 3 = 0 THEN '40000000-0000-4000-8000-000000000003'::uuid END,
       CASE WHEN n = 1 THEN 2 ELSE 1 END, m.profile, true, n % 4 <> 0, '2022-05-20T10:00:00Z'
FROM (VALUES
  (1, 'Marc', 'Van den Broeck', '85.31', '2330', 'Antwerpen', '{evenings}', 6, 'Ex-credit analyst, now teaches economics in secondary school.'),
  (2, 'Hilde', 'Jacobs', '85.20', '2341', 'Gent', '{working_hours,evenings}', 4, 'Former branch manager, primary school teacher since 2018.'),
  (3, 'Koen', 'Mertens', '85.32', '2320', 'Leuven', '{evenings,weekends}', 7, 'Former IT auditor, teaches ICT in vocational education.'),
  (4, 'Lies', 'Willems', '85.31', '2330', 'Brussel', '{evenings}', 3, 'Former risk officer, teaches mathematics.'),
  (5, 'Dirk', 'Goossens', '85.42', '2310', 'Antwerpen', '{working_hours}', 9, 'Former treasury dealer, lecturer in finance at a university college.'),
  (6, 'Sarah', 'Wuyts', '85.20', '2341', 'Mechelen', '{evenings,weekends}', 5, 'Former customer adviser, primary school teacher.'),
  (7, 'Tom', 'Hermans', '85.31', '1345', 'Gent', '{evenings}', 11, 'Former HR manager, now a secondary school principal.'),
  (8, 'Ann', 'Michiels', '85.32', '2320', 'Hasselt', '{working_hours,evenings}', 6, 'Former compliance officer, teaches business in vocational education.'),
  (9, 'Wim', 'Aerts', '85.31', '2330', 'Brugge', '{weekends}', 4, 'Former economist, teaches economics and geography.'),
  (10, 'Katrien', 'Smets', '85.20', '2342', 'Leuven', '{evenings}', 8, 'Former trainer at the bank, now a kindergarten teacher.'),
  (11, 'Bart', 'Vermeulen', '85.42', '2310', 'Brussel', '{working_hours}', 10, 'Former investment adviser, teaches at a university college.'),
  (12, 'Nathalie', 'Claes', '85.31', '2330', 'Antwerpen', '{evenings,weekends}', 2, 'Former marketing analyst, teaches French.'))
  AS m(n, given, family, sector, isco, region, avail, years, profile)
ON CONFLICT (id) DO NOTHING;

-- 13 mentees: bank employees who consider teaching (NACE 64.19 banking; ISCO 33xx/24xx).
INSERT INTO participants (id, programme_id, kind, given_name, family_name, email, phone, status,
  sectors, occupations, region, availability, languages, years_experience, education_level,
  job_target, motivation, employer_partner_id, referred_by_partner_id,
  consent_data_processing, consent_research, consent_given_at)
SELECT ('30000000-0000-4000-8000-0000000000' || lpad(n::text, 2, '0'))::uuid,
       '11111111-1111-4111-8111-111111111111', 'mentee', m.given, m.family,
       lower(m.given) || '.' || lower(replace(m.family, ' ', '')) || '@noordbank.example',
       '+32 471 30 40 ' || lpad(n::text, 2, '0'), m.status,
       ARRAY['64.19', '85']::text[], ARRAY[m.isco]::text[], m.region, m.avail::text[],
       '[{"code": "nl", "level": "C2"}, {"code": "fr", "level": "B2"}]'::jsonb, m.years, m.edu,
       m.target, 'Wants work with more meaning and contact with young people.',
       '40000000-0000-4000-8000-000000000001', '40000000-0000-4000-8000-000000000001',
       true, n % 5 <> 0, '2022-05-25T09:00:00Z'
FROM (VALUES
  (1, 'Jonas', 'Peeters', 'waiting', '3312', 'Antwerpen', '{evenings}', 12, 'master', 'Teacher of economics, secondary education'),
  (2, 'Lotte', 'Janssens', 'waiting', '2411', 'Gent', '{evenings,weekends}', 8, 'master', 'Primary school teacher'),
  (3, 'Pieter', 'Maes', 'waiting', '2511', 'Leuven', '{evenings}', 15, 'master', 'ICT teacher, vocational education'),
  (4, 'Eline', 'Dubois', 'waiting', '3311', 'Brussel', '{working_hours}', 6, 'bachelor', 'Mathematics teacher'),
  (5, 'Stijn', 'Lambrechts', 'waiting', '2412', 'Antwerpen', '{evenings}', 20, 'master', 'Lecturer in finance'),
  (6, 'Fien', 'De Backer', 'waiting', '4211', 'Mechelen', '{weekends}', 5, 'bachelor', 'Primary school teacher'),
  (7, 'Wouter', 'Segers', 'waiting', '1211', 'Gent', '{evenings}', 18, 'master', 'School leadership'),
  (8, 'Sien', 'Desmet', 'waiting', '2422', 'Hasselt', '{evenings}', 9, 'master', 'Business teacher, vocational education'),
  (9, 'Robbe', 'Verhoeven', 'screened', '2631', 'Brugge', '{weekends}', 7, 'master', 'Economics and geography teacher'),
  (10, 'Margot', 'Pauwels', 'waiting', '2424', 'Leuven', '{evenings}', 11, 'bachelor', 'Kindergarten teacher'),
  (11, 'Arne', 'Cools', 'waiting', '2413', 'Brussel', '{working_hours}', 14, 'master', 'Lecturer, university college'),
  (12, 'Noor', 'Van Damme', 'waiting', '2431', 'Antwerpen', '{evenings,weekends}', 4, 'master', 'French teacher'),
  (13, 'Lars', 'Wouters', 'applied', '3312', 'Antwerpen', '{evenings}', 10, 'bachelor', 'Teacher of economics'))
  AS m(n, given, family, status, isco, region, avail, years, edu, target)
ON CONFLICT (id) DO NOTHING;
