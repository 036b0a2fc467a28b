-- Benchmark fixture for GET /v1/participants/{id}/suggestions: one programme
-- with :mentors mentors (psql -v mentors=10000), :mentees waiting mentees, a
-- fifth of the mentees already proposed to a mentor (so capacity counts are
-- real), and the mentee whose suggestions are measured. Deterministic
-- (setseed); fixed ids for the programme and the measured mentee.
--   psql -v mentors=10000 -v mentees=3000 -f tests/bench/suggestions_fixture.sql
\set ON_ERROR_STOP on
BEGIN;
SELECT setseed(0.4242);
SELECT set_config('koppel.actor', 'bench-fixture', true), set_config('koppel.role', 'system', true);

INSERT INTO programmes (id, name, status, max_mentees_per_mentor)
VALUES ('b0000000-0000-4000-8000-000000000001', 'Benchmark programme', 'running', 2);

CREATE TEMP TABLE vocab AS SELECT
  ARRAY['2330', '2341', '2342', '2310', '2320', '1345', '2411', '2412', '2413', '2421', '2422', '2431',
        '2511', '2512', '2631', '3311', '3312', '3313', '4211', '4311', '5120', '7411', '8322', '9112']
    AS isco,
  ARRAY['85.31', '85.32', '85.20', '85.42', '85.10', '64.19', '64.20', '66.12', '62.01', '62.02',
        '86.10', '86.21', '47.11', '49.41', '41.20', '43.21', '10.71', '25.62', '70.22', '78.10',
        '84.11', '56.10', 'P', '85', '64']
    AS nace,
  ARRAY['Antwerpen', 'Gent', 'Leuven', 'Brussel', 'Mechelen', 'Hasselt', 'Brugge', 'Kortrijk', 'Namur',
        'Liège'] AS regions,
  ARRAY['nl', 'fr', 'en', 'de', 'ar', 'tr', 'es', 'pl'] AS langs,
  ARRAY['A1', 'A2', 'B1', 'B2', 'C1', 'C2'] AS levels;

-- n-th pick of a list, uniformly at random
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
  $$ SELECT a[1 + floor(random() * cardinality(a))::int] $$;

INSERT INTO participants (programme_id, kind, given_name, family_name, status, sectors, occupations,
                          region, availability, languages, capacity)
SELECT 'b0000000-0000-4000-8000-000000000001', 'mentor', 'Mentor', 'M' || i, 'waiting',
       ARRAY(SELECT DISTINCT pg_temp.pick(v.nace) FROM generate_series(1, 1 + (i % 2)) WHERE i > 0),
       ARRAY(SELECT DISTINCT pg_temp.pick(v.isco) FROM generate_series(1, 1 + (i % 3 = 0)::int) WHERE i > 0),
       pg_temp.pick(v.regions),
       ARRAY(SELECT a FROM unnest(ARRAY['working_hours', 'evenings', 'weekends']) a WHERE random() < 0.5 AND i > 0),
       (SELECT jsonb_agg(DISTINCT jsonb_build_object('code', l, 'level', pg_temp.pick(v.levels)))
          FROM (SELECT 'nl' AS l UNION SELECT pg_temp.pick(v.langs) FROM generate_series(1, 2) WHERE i > 0) x),
       CASE WHEN i % 10 = 0 THEN 2 WHEN i % 25 = 0 THEN NULL ELSE 1 END
  FROM generate_series(1, :mentors) i, vocab v;

INSERT INTO participants (programme_id, kind, given_name, family_name, status, sectors, occupations,
                          region, availability, languages)
SELECT 'b0000000-0000-4000-8000-000000000001', 'mentee', 'Mentee', 'E' || i, 'waiting',
       ARRAY(SELECT DISTINCT pg_temp.pick(v.nace) FROM generate_series(1, 2) WHERE i > 0),
       ARRAY(SELECT DISTINCT pg_temp.pick(v.isco) FROM generate_series(1, 1 + (i % 2)) WHERE i > 0),
       pg_temp.pick(v.regions),
       ARRAY(SELECT a FROM unnest(ARRAY['working_hours', 'evenings', 'weekends']) a WHERE random() < 0.6 AND i > 0),
       jsonb_build_array(jsonb_build_object('code', 'nl', 'level', pg_temp.pick(v.levels)),
                         jsonb_build_object('code', pg_temp.pick(v.langs), 'level', pg_temp.pick(v.levels)))
  FROM generate_series(1, :mentees) i, vocab v;

-- a fifth of the mentees proposed to a mentor (never beyond the mentor's place)
INSERT INTO pairs (programme_id, mentor_id, mentee_id, status)
SELECT 'b0000000-0000-4000-8000-000000000001', mr.id, me.id, 'proposed'
  FROM (SELECT id, row_number() OVER (ORDER BY seq) AS n FROM participants
         WHERE programme_id = 'b0000000-0000-4000-8000-000000000001' AND kind = 'mentee') me
  JOIN (SELECT id, row_number() OVER (ORDER BY seq) AS n FROM participants
         WHERE programme_id = 'b0000000-0000-4000-8000-000000000001' AND kind = 'mentor') mr
    ON mr.n = me.n * 3
 WHERE me.n % 5 = 0;

-- the measured mentee: a teacher-to-be from banking, as in the teaching pilot
INSERT INTO participants (id, programme_id, kind, given_name, family_name, status, sectors, occupations,
                          region, availability, languages)
VALUES ('b0000000-0000-4000-8000-00000000beef', 'b0000000-0000-4000-8000-000000000001', 'mentee',
        'Bench', 'Mentee', 'waiting', ARRAY['64.19', '85.31'], ARRAY['3312', '2330'], 'Antwerpen',
        ARRAY['evenings', 'weekends'], '[{"code": "nl", "level": "B2"}, {"code": "fr", "level": "C1"}]');
COMMIT;
ANALYZE participants;
ANALYZE pairs;
ANALYZE programmes;
