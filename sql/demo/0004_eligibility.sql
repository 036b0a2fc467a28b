-- Demo screening for the teaching pilot: eligibility rules, mentors' birth
-- years and employment, and a rejected applicant referred to the public
-- employment service. GET /v1/participants/{id}/eligibility then shows every
-- result: mentor 1 passes everything, mentor 12 (2 years in teaching) fails
-- the experience rule, mentor 9 (retired well over a year ago) fails the
-- employment rule, mentor 10 (no birth year on file) is unknown on age.
-- Mentors already waiting stay so: the rules gate the next move to waiting.
-- Loading twice changes nothing.
SELECT set_config('koppel.actor', 'seed-demo', true), set_config('koppel.role', 'system', true);

UPDATE programmes SET
  elig_min_language_code = 'nl', elig_min_language_level = 'B2', elig_required_fields = '{job_target}',
  elig_min_years_experience = 3, elig_min_age = 25, elig_working_or_recently_retired = true
WHERE id = '11111111-1111-4111-8111-111111111111';

UPDATE participants p SET birth_year = m.born, employment_status = m.employment,
  employment_retired_on = CASE WHEN m.retired_days_ago IS NOT NULL THEN current_date - m.retired_days_ago END
FROM (VALUES
  (1, 1978, 'working', NULL), (2, 1985, 'working', NULL), (3, 1972, 'working', NULL),
  (4, 1990, 'working', NULL), (5, 1969, 'working', NULL), (6, 1988, 'working', NULL),
  (7, 1975, 'working', NULL), (8, 1983, 'working', NULL), (9, 1957, 'retired', 500),
  (10, NULL, 'working', NULL), (11, 1960, 'retired', 200), (12, 1996, 'working', NULL))
  AS m(n, born, employment, retired_days_ago)
WHERE p.id = ('20000000-0000-4000-8000-0000000000' || lpad(m.n::text, 2, '0'))::uuid
  AND p.employment_status IS NULL;

UPDATE participants SET birth_year = 1987, work_permit = true
WHERE id = '30000000-0000-4000-8000-000000000009' AND birth_year IS NULL;

INSERT INTO partners (id, name, kind, contact_name, contact_email, contact_phone, agreement_kind,
                      agreement_signed_on, active, notes)
VALUES ('40000000-0000-4000-8000-000000000005', 'VDAB Antwerpen', 'referral', 'Ilse Bogaerts',
        'ilse.bogaerts@vdab.example', '+32 3 555 05 05', 'ad_hoc', NULL, true,
        'Public employment service: refers candidates and takes over those the pilot cannot help.')
ON CONFLICT (id) DO NOTHING;

INSERT INTO participants (id, programme_id, kind, given_name, family_name, email, status, sectors,
  occupations, region, languages, years_experience, education_level, job_target,
  employer_partner_id, consent_data_processing, consent_research, consent_given_at)
VALUES ('30000000-0000-4000-8000-000000000014', '11111111-1111-4111-8111-111111111111', 'mentee',
        'Yara', 'Haddad', 'yara.haddad@noordbank.example', 'applied', '{64.19}', '{4211}', 'Antwerpen',
        '[{"code": "nl", "level": "B1"}, {"code": "ar", "level": "C2"}]', 3, 'bachelor', NULL,
        '40000000-0000-4000-8000-000000000001', true, false, '2022-05-26T09:00:00Z')
ON CONFLICT (id) DO NOTHING;

UPDATE participants SET status = 'rejected',
  rejection_reason = 'No teaching target yet and Dutch at B1 (the pilot asks B2); referred to VDAB for a career orientation.',
  rejection_referred_to_partner_id = '40000000-0000-4000-8000-000000000005'
WHERE id = '30000000-0000-4000-8000-000000000014' AND status = 'applied';
