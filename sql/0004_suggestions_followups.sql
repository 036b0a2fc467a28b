-- Koppel schema 0004: match suggestions and the coach's follow-up worklist.
-- Both are computed on request from the tables; nothing here stores state
-- except the programme's match weights.

-- ---------------------------------------------------------------- weights

-- How much each objective criterion counts in a programme. Weights are
-- relative: a candidate's score is 100 * sum(weight * fit) / sum(weights),
-- so the defaults (summing to 100) read directly as points.
ALTER TABLE programmes
  ADD COLUMN match_weight_occupation integer NOT NULL DEFAULT 30
    CHECK (match_weight_occupation BETWEEN 0 AND 100),
  ADD COLUMN match_weight_sector integer NOT NULL DEFAULT 30
    CHECK (match_weight_sector BETWEEN 0 AND 100),
  ADD COLUMN match_weight_region integer NOT NULL DEFAULT 15
    CHECK (match_weight_region BETWEEN 0 AND 100),
  ADD COLUMN match_weight_availability integer NOT NULL DEFAULT 10
    CHECK (match_weight_availability BETWEEN 0 AND 100),
  ADD COLUMN match_weight_language integer NOT NULL DEFAULT 15
    CHECK (match_weight_language BETWEEN 0 AND 100),
  ADD CONSTRAINT programmes_match_weights_positive CHECK (
    match_weight_occupation + match_weight_sector + match_weight_region
    + match_weight_availability + match_weight_language > 0);

-- programme_json gains rules.match_weights {occupation, sector, region,
-- availability, language}; everything else keeps its shape.
CREATE OR REPLACE FUNCTION programme_json(p programmes) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'name', p.name, 'description', p.description,
    'starts_on', p.starts_on, 'ends_on', p.ends_on, 'status', p.status,
    'rules', jsonb_build_object(
      'min_meetings', p.min_meetings, 'min_duration_days', p.min_duration_days,
      'max_mentees_per_mentor', p.max_mentees_per_mentor, 'waiting_alert_days', p.waiting_alert_days,
      'followup_interval_days', p.followup_interval_days,
      'small_group_threshold', p.small_group_threshold,
      'match_weights', jsonb_build_object(
        'occupation', p.match_weight_occupation, 'sector', p.match_weight_sector,
        'region', p.match_weight_region, 'availability', p.match_weight_availability,
        'language', p.match_weight_language)),
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- ---------------------------------------------------------------- code levels
-- The scalar helpers below are single-expression SQL functions so that the
-- planner inlines them: ranking 10,000 mentors must not pay a function call
-- per criterion per row.

-- Shared level of two ISCO-08 codes: 4 unit group, 3 minor group,
-- 2 sub-major group, 1 major group, 0 none. A code given only to a coarser
-- level ("23") shares at most that level.
CREATE FUNCTION isco_code_level(a text, b text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN a IS NULL OR b IS NULL THEN 0
    WHEN length(a) >= 4 AND length(b) >= 4 AND left(a, 4) = left(b, 4) THEN 4
    WHEN length(a) >= 3 AND length(b) >= 3 AND left(a, 3) = left(b, 3) THEN 3
    WHEN length(a) >= 2 AND length(b) >= 2 AND left(a, 2) = left(b, 2) THEN 2
    WHEN left(a, 1) = left(b, 1) THEN 1
    ELSE 0 END
$$;

-- The best shared level between two lists of at most two ISCO-08 codes.
CREATE FUNCTION isco_level(a text[], b text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(isco_code_level(a[1], b[1]), isco_code_level(a[1], b[2]),
                  isco_code_level(a[2], b[1]), isco_code_level(a[2], b[2]))
$$;

-- NACE Rev. 2 section letter of a code: the letter itself, or the section of
-- its division (the position in the string is the division number; '-'
-- marks numbers that are no division). NULL when unknown.
CREATE FUNCTION nace_section(code text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN code IS NULL OR code = '' THEN NULL
    WHEN length(code) = 1 THEN code
    ELSE nullif(substr('AAA-BBBBBCCCCCCCCCCCCCCCCCCCCCCCC-DEEEE-FFF-GGG-HHHHH-II-JJJJJJKKK-LMMMMMMM-'
                       'NNNNNN-OPQQQ-RRRRSSSTTU', CASE WHEN left(code, 2) ~ '^[0-9]{2}$'
                       THEN left(code, 2)::integer ELSE 0 END, 1), '-') END
$$;

-- Shared level of two NACE codes ("P", "85", "85.3", "85.31"): 4 class,
-- 3 group, 2 division, 1 section, 0 none.
CREATE FUNCTION nace_code_level(a text, b text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN a IS NULL OR b IS NULL THEN 0
    WHEN length(a) = 5 AND a = b THEN 4
    WHEN length(a) >= 4 AND length(b) >= 4 AND left(a, 4) = left(b, 4) THEN 3
    WHEN length(a) >= 2 AND length(b) >= 2 AND left(a, 2) = left(b, 2) THEN 2
    WHEN nace_section(a) = nace_section(b) THEN 1
    ELSE 0 END
$$;

CREATE FUNCTION nace_level(a text[], b text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(nace_code_level(a[1], b[1]), nace_code_level(a[1], b[2]),
                  nace_code_level(a[2], b[1]), nace_code_level(a[2], b[2]))
$$;

-- How many of the three availability slots two people share.
CREATE FUNCTION availability_overlap(a text[], b text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('working_hours' = ANY(a) AND 'working_hours' = ANY(b))::integer
       + ('evenings' = ANY(a) AND 'evenings' = ANY(b))::integer
       + ('weekends' = ANY(a) AND 'weekends' = ANY(b))::integer
$$;

-- Same region, compared without regard to case or surrounding spaces.
CREATE FUNCTION region_same(a text, b text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(lower(btrim(a)) = lower(btrim(b)), false)
$$;

-- Ranking many candidates against one person, the person's codes are turned
-- into key sets once and each candidate code is looked up level by level,
-- coarsest first (most candidates share nothing and stop there). The
-- results equal isco_level and nace_level, which match_explain uses.

-- The distinct first n characters of the codes that have at least n.
CREATE FUNCTION code_prefixes(codes text[], n integer) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT left(x, n)), '{}') FROM unnest(codes) x WHERE length(x) >= n
$$;

-- The first-two-character keys of every NACE code in the sections of codes:
-- their section letters, every division of those sections, and the codes'
-- own divisions. A code shares at least the section iff left(code, 2) is one.
CREATE FUNCTION nace_section_keys(codes text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT k), '{}') FROM (
    SELECT nace_section(x) AS k FROM unnest(codes) x
    UNION ALL
    SELECT left(x, 2) FROM unnest(codes) x WHERE length(x) >= 2
    UNION ALL
    SELECT to_char(d, 'FM00') FROM generate_series(1, 99) d, unnest(codes) x
     WHERE nace_section(to_char(d, 'FM00')) = nace_section(x)) y
   WHERE k IS NOT NULL
$$;

-- Level of ISCO-08 code c against key sets p4 (unit groups), p3, p2, p1.
CREATE FUNCTION isco_fit(c text, p4 text[], p3 text[], p2 text[], p1 text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN c IS NULL OR NOT left(c, 1) = ANY(p1) THEN 0
              WHEN c = ANY(p4) THEN 4 WHEN left(c, 3) = ANY(p3) THEN 3
              WHEN left(c, 2) = ANY(p2) THEN 2 ELSE 1 END
$$;

-- Level of NACE code c against key sets cls (classes), grp (groups "85.3"),
-- dvs (divisions) and sec (nace_section_keys).
CREATE FUNCTION nace_fit(c text, cls text[], grp text[], dvs text[], sec text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN c IS NULL OR NOT left(c, 2) = ANY(sec) THEN 0
              WHEN c = ANY(cls) THEN 4 WHEN left(c, 4) = ANY(grp) THEN 3
              WHEN left(c, 2) = ANY(dvs) THEN 2 ELSE 1 END
$$;

-- A jsonpath that matches a languages array [{code, level}] holding one of
-- langs at a sufficient level: for_mentor = true asks "does this mentor speak
-- one of the mentee's languages (langs) at least at the mentee's level", false
-- asks "does this mentee need one of the mentor's languages (langs) at most at
-- the mentor's level". CEFR levels A1 < A2 < B1 < B2 < C1 < C2 sort as text.
-- NULL when langs is empty (nothing can match).
CREATE FUNCTION language_fit_path(langs jsonb, for_mentor boolean) RETURNS jsonpath
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('$[*] ? (' || string_agg(
            '(@.code == ' || to_jsonb(l->>'code')::text || ' && @.level '
            || CASE WHEN for_mentor THEN '>=' ELSE '<=' END || ' ' || to_jsonb(l->>'level')::text || ')',
            ' || ') || ')')::jsonpath
    FROM jsonb_array_elements(langs) l
   WHERE l->>'code' IS NOT NULL AND l->>'level' IS NOT NULL
$$;

-- Points for one criterion in hundredths: weight w of the weights' sum ws,
-- times the fit n/d, on a 0..100 scale, rounded half up (integer arithmetic:
-- numeric per row would double the ranking time). A score is the sum of its
-- rounded points, so the reasons add up to the score exactly.
CREATE FUNCTION match_centi(w integer, ws integer, n integer, d integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN d > 0 AND ws > 0 THEN (20000::bigint * w * n + ws::bigint * d) / (2::bigint * ws * d)
              ELSE 0::bigint END
$$;

-- Hundredths as the number the API shows (12.5, not 12.50).
CREATE FUNCTION centi_number(c bigint) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT trim_scale(c / 100.0)
$$;

CREATE FUNCTION match_weight_sum(g programmes) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT g.match_weight_occupation + g.match_weight_sector + g.match_weight_region
       + g.match_weight_availability + g.match_weight_language
$$;

-- ---------------------------------------------------------------- one match

-- " (mentor a, mentee b)" when the two codes differ, for the reasons' sentences.
CREATE FUNCTION codes_told(a text, b text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a = b THEN '' ELSE format(' (mentor %s, mentee %s)', a, b) END
$$;

-- Who of the two lacks a value, in words.
CREATE FUNCTION match_missing(mentor_lacks boolean, mentee_lacks boolean) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN mentor_lacks AND mentee_lacks THEN 'the mentor and the mentee'
              WHEN mentor_lacks THEN 'the mentor' ELSE 'the mentee' END
$$;

-- The full evaluation of the n-th mentor of mentor_ids for the n-th mentee
-- of mentee_ids under the mentor's programme, one row per position ord:
-- evaluation = {score, generalist, reasons: [{criterion, points, max_points,
-- detail}]} with the criteria always in the order occupation, sector, region,
-- availability, language. The suggestions ranking computes the same points
-- with the same rules (and explains its top candidates here, in one set);
-- pairs may store the evaluation as match_score/match_reasons. A single
-- SELECT, so the planner inlines it into the caller.
CREATE FUNCTION match_explain(mentor_ids uuid[], mentee_ids uuid[])
RETURNS TABLE (ord bigint, mentor_id uuid, mentee_id uuid, evaluation jsonb)
LANGUAGE sql STABLE AS $$
  SELECT ids.ord, mr.id, me.id, jsonb_build_object(
    'score', centi_number(p.occ + p.sec + p.reg + p.av + p.lang),
    'generalist', v.sec = 0,
    'reasons', jsonb_build_array(
      jsonb_build_object('criterion', 'occupation', 'points', centi_number(p.occ),
        'max_points', centi_number(match_centi(g.match_weight_occupation, v.ws, 1, 1)),
        'detail', CASE
          WHEN v.mr_o = 0 OR v.me_o = 0 THEN
            format('no occupation given for %s', match_missing(v.mr_o = 0, v.me_o = 0))
          WHEN v.occ = 4 THEN format('same ISCO-08 unit group %s', left(o.a, 4))
          WHEN v.occ = 3 THEN format('same ISCO-08 minor group %s%s', left(o.a, 3), codes_told(o.a, o.b))
          WHEN v.occ = 2 THEN format('same ISCO-08 sub-major group %s%s', left(o.a, 2), codes_told(o.a, o.b))
          WHEN v.occ = 1 THEN format('same ISCO-08 major group %s%s', left(o.a, 1), codes_told(o.a, o.b))
          ELSE format('no shared ISCO-08 group (mentor %s, mentee %s)',
                      array_to_string(mr.occupations, ', '), array_to_string(me.occupations, ', ')) END),
      jsonb_build_object('criterion', 'sector', 'points', centi_number(p.sec),
        'max_points', centi_number(match_centi(g.match_weight_sector, v.ws, 1, 1)),
        'detail', CASE
          WHEN v.mr_s = 0 OR v.me_s = 0 THEN
            format('no sector given for %s, so this is a generalist match', match_missing(v.mr_s = 0, v.me_s = 0))
          WHEN v.sec = 4 THEN format('same NACE class %s', s.a)
          WHEN v.sec = 3 THEN format('same NACE group %s%s', left(s.a, 4), codes_told(s.a, s.b))
          WHEN v.sec = 2 THEN format('same NACE division %s%s', left(s.a, 2), codes_told(s.a, s.b))
          WHEN v.sec = 1 THEN format('same NACE section %s%s', nace_section(s.a), codes_told(s.a, s.b))
          ELSE format('no shared sector, so this is a generalist match (mentor %s, mentee %s)',
                      array_to_string(mr.sectors, ', '), array_to_string(me.sectors, ', ')) END),
      jsonb_build_object('criterion', 'region', 'points', centi_number(p.reg),
        'max_points', centi_number(match_centi(g.match_weight_region, v.ws, 1, 1)),
        'detail', CASE
          WHEN v.reg THEN format('both in %s', btrim(mr.region))
          WHEN mr.region IS NULL OR me.region IS NULL THEN
            format('region not given for %s', match_missing(mr.region IS NULL, me.region IS NULL))
          ELSE format('mentor in %s, mentee in %s', mr.region, me.region) END),
      jsonb_build_object('criterion', 'availability', 'points', centi_number(p.av),
        'max_points', centi_number(match_centi(g.match_weight_availability, v.ws, 1, 1)),
        'detail', CASE
          WHEN v.av_d = 0 THEN 'the mentee gave no availability'
          WHEN v.av = 0 THEN format('no common availability (mentor %s, mentee %s)',
                                    coalesce(nullif(array_to_string(mr.availability, ', '), ''), 'none'),
                                    array_to_string(me.availability, ', '))
          ELSE format('both available %s (%s of the mentee''s %s)', v.av_list, v.av, v.av_d) END),
      jsonb_build_object('criterion', 'language', 'points', centi_number(p.lang),
        'max_points', centi_number(match_centi(g.match_weight_language, v.ws, 1, 1)),
        'detail', CASE
          WHEN jsonb_array_length(me.languages) = 0 THEN 'the mentee gave no languages'
          WHEN v.langs IS NOT NULL THEN format('shared language at the mentee''s level: %s', v.langs)
          ELSE 'no shared language at the mentee''s level' END)))
  FROM unnest(mentor_ids, mentee_ids) WITH ORDINALITY AS ids(mentor_id, mentee_id, ord)
  JOIN participants mr ON mr.id = ids.mentor_id
  JOIN participants me ON me.id = ids.mentee_id
  JOIN programmes g ON g.id = mr.programme_id
  CROSS JOIN LATERAL (SELECT isco_level(mr.occupations, me.occupations) AS occ,
               nace_level(mr.sectors, me.sectors) AS sec,
               region_same(mr.region, me.region) AS reg,
               availability_overlap(mr.availability, me.availability) AS av,
               cardinality(me.availability) AS av_d,
               cardinality(mr.occupations) AS mr_o, cardinality(me.occupations) AS me_o,
               cardinality(mr.sectors) AS mr_s, cardinality(me.sectors) AS me_s,
               match_weight_sum(g) AS ws,
               (SELECT string_agg(format('%s (mentor %s, mentee %s)', a->>'code', a->>'level', b->>'level'),
                                  ', ' ORDER BY a->>'code')
                  FROM jsonb_array_elements(mr.languages) a, jsonb_array_elements(me.languages) b
                 WHERE a->>'code' = b->>'code' AND a->>'level' >= b->>'level') AS langs,
               (SELECT string_agg(x, ', ' ORDER BY array_position(ARRAY['working_hours', 'evenings', 'weekends'], x))
                  FROM unnest(me.availability) x WHERE x = ANY(mr.availability)) AS av_list) v
  LEFT JOIN LATERAL (SELECT a, b FROM unnest(mr.occupations) a, unnest(me.occupations) b
                      ORDER BY isco_code_level(a, b) DESC, a, b LIMIT 1) o ON true
  LEFT JOIN LATERAL (SELECT a, b FROM unnest(mr.sectors) a, unnest(me.sectors) b
                      ORDER BY nace_code_level(a, b) DESC, a, b LIMIT 1) s ON true
  CROSS JOIN LATERAL (SELECT match_centi(g.match_weight_occupation, v.ws, v.occ, 4) AS occ,
                             match_centi(g.match_weight_sector, v.ws, v.sec, 4) AS sec,
                             match_centi(g.match_weight_region, v.ws, v.reg::integer, 1) AS reg,
                             match_centi(g.match_weight_availability, v.ws, v.av, v.av_d) AS av,
                             match_centi(g.match_weight_language, v.ws, (v.langs IS NOT NULL)::integer, 1)
                               AS lang) p
$$;

-- ---------------------------------------------------------------- suggestions

-- Open pairs hold a mentor's place: proposed, accepted and active.
CREATE INDEX pairs_open_by_programme ON pairs (programme_id, mentor_id)
  WHERE status IN ('proposed', 'accepted', 'active');
-- Waiting mentees of a programme, oldest first (suggestions for a mentor,
-- the waiting_too_long follow-up).
CREATE INDEX participants_waiting_mentees ON participants (programme_id, waiting_since)
  WHERE kind = 'mentee' AND status = 'waiting';
-- Mentors who can take a mentee.
CREATE INDEX participants_matchable_mentors ON participants (programme_id)
  WHERE kind = 'mentor' AND status IN ('waiting', 'matched', 'active');

-- A mentor's free places: least(own capacity (NULL → 1), the programme's
-- maximum) minus the open pairs they are in.
CREATE FUNCTION mentor_free_capacity(m participants, g programmes) RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT least(coalesce(m.capacity, 1), g.max_mentees_per_mentor)
       - (SELECT count(*)::integer FROM pairs x
           WHERE x.mentor_id = m.id AND x.status IN ('proposed', 'accepted', 'active'))
$$;

-- Ranked candidates for participant subj: blocker is the rule that keeps
-- subj from being matched now (the API answers 409 with it), otherwise body
-- is {participant_id, items: [{candidate, score, generalist, free_capacity
-- (mentor candidates), reasons}]}, at most lim items, ordered by score
-- descending, then longest waiting (waiting_since, else created_at), then id.
-- Nothing is written. For a waiting mentee: mentors of the same programme in
-- status waiting, matched or active with a free place, never a mentor with
-- whom the mentee has a declined pair. For a mentor with a free place:
-- waiting mentees without an open pair, never one with a declined pair with
-- this mentor.
--
-- Speed (10,000 candidates): the person's codes become key sets once; every
-- candidate gets the occupation, sector, region and availability points
-- (base); the language check, the dearest per row, runs only for candidates
-- whose base plus the language points can still reach the lim-th best base
-- (the others cannot enter the top lim); reasons and the candidate JSON are
-- built for the top lim only.
CREATE FUNCTION match_suggestions(subj participants, lim integer, OUT blocker text, OUT body jsonb)
LANGUAGE plpgsql STABLE
-- planning the inlined scoring takes longer than running it: plan once per connection
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  g programmes;
  ws integer;
  lang_max bigint;
  path jsonpath;
  o4 text[] := code_prefixes(subj.occupations, 4);
  o3 text[] := code_prefixes(subj.occupations, 3);
  o2 text[] := code_prefixes(subj.occupations, 2);
  o1 text[] := code_prefixes(subj.occupations, 1);
  s4 text[] := code_prefixes(subj.sectors, 5);
  s3 text[] := code_prefixes(subj.sectors, 4);
  s2 text[] := code_prefixes(subj.sectors, 2);
  s1 text[] := nace_section_keys(subj.sectors);
  reg text := lower(btrim(subj.region));
  -- the person's availability slots (the overlap is counted slot by slot)
  aw boolean := 'working_hours' = ANY(subj.availability);
  ae boolean := 'evenings' = ANY(subj.availability);
  ak boolean := 'weekends' = ANY(subj.availability);
  free integer;
  ids uuid[];
  declined uuid[];
  frees integer[];
  items jsonb;
BEGIN
  SELECT * INTO g FROM programmes WHERE id = subj.programme_id;
  ws := match_weight_sum(g);
  lang_max := match_centi(g.match_weight_language, ws, 1, 1);
  IF subj.kind = 'mentee' THEN
    IF subj.status <> 'waiting' THEN
      blocker := format('only a waiting mentee can be matched; this mentee is %s', subj.status);
      RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = subj.id
                 AND x.status IN ('proposed', 'accepted', 'active')) THEN
      blocker := 'this mentee already has an open pair (proposed, accepted or active)';
      RETURN;
    END IF;
    path := language_fit_path(subj.languages, true);
    declined := ARRAY(SELECT d.mentor_id FROM pairs d WHERE d.mentee_id = subj.id AND d.status = 'declined');
    WITH taken AS (
      SELECT x.mentor_id, count(*)::integer AS n FROM pairs x
       WHERE x.programme_id = subj.programme_id AND x.status IN ('proposed', 'accepted', 'active')
       GROUP BY x.mentor_id),
    base AS MATERIALIZED (
      SELECT c.id, c.languages, coalesce(c.waiting_since, c.created_at) AS since,
             least(coalesce(c.capacity, 1), g.max_mentees_per_mentor) - coalesce(o.n, 0) AS free,
             match_centi(g.match_weight_occupation, ws,
                          greatest(isco_fit(c.occupations[1], o4, o3, o2, o1),
                                   isco_fit(c.occupations[2], o4, o3, o2, o1)), 4)
           + match_centi(g.match_weight_sector, ws,
                          greatest(nace_fit(c.sectors[1], s4, s3, s2, s1),
                                   nace_fit(c.sectors[2], s4, s3, s2, s1)), 4)
           + match_centi(g.match_weight_region, ws, coalesce(lower(btrim(c.region)) = reg, false)::integer, 1)
           + match_centi(g.match_weight_availability, ws,
                          (aw AND 'working_hours' = ANY(c.availability))::integer
                          + (ae AND 'evenings' = ANY(c.availability))::integer
                          + (ak AND 'weekends' = ANY(c.availability))::integer,
                          cardinality(subj.availability)) AS base
        FROM participants c LEFT JOIN taken o ON o.mentor_id = c.id
       WHERE c.programme_id = subj.programme_id AND c.kind = 'mentor'
         AND c.status IN ('waiting', 'matched', 'active')
         AND least(coalesce(c.capacity, 1), g.max_mentees_per_mentor) - coalesce(o.n, 0) > 0
         AND c.id <> ALL(declined)),
    cut AS (SELECT coalesce((SELECT b.base FROM base b ORDER BY b.base DESC OFFSET lim - 1 LIMIT 1), -1) AS t),
    ranked AS (
      SELECT b.id, b.since, b.free,
             b.base + CASE WHEN b.base + lang_max >= cut.t
                           THEN match_centi(g.match_weight_language, ws,
                                             coalesce(b.languages @? path, false)::integer, 1)
                           ELSE 0 END AS score
        FROM base b, cut
       ORDER BY score DESC, b.since, b.id
       LIMIT lim)
    SELECT coalesce(array_agg(r.id ORDER BY r.score DESC, r.since, r.id), '{}'),
           array_agg(r.free ORDER BY r.score DESC, r.since, r.id)
      INTO ids, frees
      FROM ranked r;
    SELECT coalesce(jsonb_agg(jsonb_build_object('candidate', participant_json(c), 'free_capacity', frees[e.ord])
                              || e.evaluation ORDER BY e.ord), '[]')
      INTO items
      FROM match_explain(ids, array_fill(subj.id, ARRAY[cardinality(ids)])) e
      JOIN participants c ON c.id = e.mentor_id;
  ELSE
    IF subj.status NOT IN ('waiting', 'matched', 'active') THEN
      blocker := format('only a mentor who is waiting, matched or active can take a mentee; this mentor is %s',
                        subj.status);
      RETURN;
    END IF;
    free := mentor_free_capacity(subj, g);
    IF free <= 0 THEN
      blocker := format('this mentor has no free place: capacity %s (the smaller of the mentor''s %s and the '
                        'programme''s maximum %s), all taken by proposed, accepted or active pairs',
                        least(coalesce(subj.capacity, 1), g.max_mentees_per_mentor),
                        coalesce(subj.capacity, 1), g.max_mentees_per_mentor);
      RETURN;
    END IF;
    path := language_fit_path(subj.languages, false);
    WITH base AS MATERIALIZED (
      SELECT c.id, c.languages, coalesce(c.waiting_since, c.created_at) AS since,
             match_centi(g.match_weight_occupation, ws,
                          greatest(isco_fit(c.occupations[1], o4, o3, o2, o1),
                                   isco_fit(c.occupations[2], o4, o3, o2, o1)), 4)
           + match_centi(g.match_weight_sector, ws,
                          greatest(nace_fit(c.sectors[1], s4, s3, s2, s1),
                                   nace_fit(c.sectors[2], s4, s3, s2, s1)), 4)
           + match_centi(g.match_weight_region, ws, coalesce(lower(btrim(c.region)) = reg, false)::integer, 1)
           + match_centi(g.match_weight_availability, ws,
                          (aw AND 'working_hours' = ANY(c.availability))::integer
                          + (ae AND 'evenings' = ANY(c.availability))::integer
                          + (ak AND 'weekends' = ANY(c.availability))::integer,
                          cardinality(c.availability)) AS base
        FROM participants c
       WHERE c.programme_id = subj.programme_id AND c.kind = 'mentee' AND c.status = 'waiting'
         AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = c.id
                           AND (x.status IN ('proposed', 'accepted', 'active')
                                OR (x.status = 'declined' AND x.mentor_id = subj.id)))),
    cut AS (SELECT coalesce((SELECT b.base FROM base b ORDER BY b.base DESC OFFSET lim - 1 LIMIT 1), -1) AS t),
    ranked AS (
      SELECT b.id, b.since,
             b.base + CASE WHEN b.base + lang_max >= cut.t
                           THEN match_centi(g.match_weight_language, ws,
                                             coalesce(b.languages @? path, false)::integer, 1)
                           ELSE 0 END AS score
        FROM base b, cut
       ORDER BY score DESC, b.since, b.id
       LIMIT lim)
    SELECT coalesce(array_agg(r.id ORDER BY r.score DESC, r.since, r.id), '{}') INTO ids FROM ranked r;
    SELECT coalesce(jsonb_agg(jsonb_build_object('candidate', participant_json(c)) || e.evaluation
                              ORDER BY e.ord), '[]')
      INTO items
      FROM match_explain(array_fill(subj.id, ARRAY[cardinality(ids)]), ids) e
      JOIN participants c ON c.id = e.mentee_id;
  END IF;
  body := jsonb_build_object('participant_id', subj.id, 'items', items);
END $$;

-- ---------------------------------------------------------------- follow-ups

-- The worklist of a coordinator (every pair and waiting mentee of the
-- programmes in their claim) or a coach (the pairs they coach and the waiting
-- mentees of their programmes), computed now. Each row is due since
-- due_since; key orders the list (due_since, then kind, then the object's
-- seq) and serves as the keyset cursor: days since 1900-01-01 << 36 | kind
-- number << 34 | seq, below 2^53 (cursors carry at most that) until 2258.
-- Kinds, in their sort order:
--   decision_pending   a proposal older than 7 days that the mentor or the
--                      mentee has not accepted yet (due 7 days after it);
--   first_month_call   an accepted or active pair whose relationship began
--                      (both accepted; started_on if that is unknown) 30 or
--                      more days ago with no coach note since it began;
--   no_recent_meeting  an active pair whose last meeting (or start) is
--                      followup_interval_days or more ago;
--   waiting_too_long   a waiting mentee without an open pair who has waited
--                      waiting_alert_days or more.
CREATE FUNCTION followups(role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS TABLE (key bigint, kind text, pair_id uuid, participant_id uuid, programme_id uuid,
               due_since date, detail text)
LANGUAGE sql STABLE AS $$
  WITH scoped AS (
    SELECT x.*, g.followup_interval_days,
           coalesce(greatest(x.mentor_accepted_at, x.mentee_accepted_at), x.started_on::timestamptz) AS began,
           mr.given_name || ' ' || mr.family_name AS mentor_name,
           me.given_name || ' ' || me.family_name AS mentee_name
      FROM pairs x
      JOIN programmes g ON g.id = x.programme_id
      JOIN participants mr ON mr.id = x.mentor_id
      JOIN participants me ON me.id = x.mentee_id
     WHERE x.status IN ('proposed', 'accepted', 'active')
       AND (all_prg OR x.programme_id = ANY(prg))
       AND (role = 'coordinator' OR (role = 'coach' AND x.coach_id = sub))),
  items AS (
    SELECT 0 AS k, 'decision_pending' AS kind, s.id AS pair_id, NULL::uuid AS participant_id,
           s.programme_id, s.seq, s.created_at::date + 7 AS due_since,
           format('Proposed on %s; still waiting for the decision of %s.', s.created_at::date,
                  CASE WHEN s.mentor_accepted_at IS NULL AND s.mentee_accepted_at IS NULL
                         THEN format('the mentor %s and the mentee %s', s.mentor_name, s.mentee_name)
                       WHEN s.mentor_accepted_at IS NULL THEN format('the mentor %s', s.mentor_name)
                       ELSE format('the mentee %s', s.mentee_name) END) AS detail
      FROM scoped s
     WHERE s.status = 'proposed' AND s.created_at::date + 7 <= current_date
    UNION ALL
    SELECT 1, 'first_month_call', s.id, NULL, s.programme_id, s.seq, s.began::date + 30,
           format('Call %s (mentor) and %s (mentee): their relationship began on %s and no coach note '
                  'has been logged since.', s.mentor_name, s.mentee_name, s.began::date)
      FROM scoped s
     WHERE s.status IN ('accepted', 'active') AND s.began IS NOT NULL
       AND s.began::date + 30 <= current_date
       AND NOT EXISTS (SELECT 1 FROM pair_notes n WHERE n.pair_id = s.id AND n.created_at >= s.began)
    UNION ALL
    SELECT 2, 'no_recent_meeting', s.id, NULL, s.programme_id, s.seq,
           coalesce(m.last, s.started_on, s.began::date) + s.followup_interval_days,
           CASE WHEN m.last IS NOT NULL
             THEN format('No meeting of %s and %s since %s (the last one); the programme expects contact '
                         'at least every %s days.', s.mentor_name, s.mentee_name, m.last,
                         s.followup_interval_days)
             ELSE format('No meeting of %s and %s logged since the start on %s; the programme expects '
                         'contact at least every %s days.', s.mentor_name, s.mentee_name,
                         coalesce(s.started_on, s.began::date), s.followup_interval_days) END
      FROM scoped s
      LEFT JOIN LATERAL (SELECT max(held_on) AS last FROM meetings WHERE meetings.pair_id = s.id) m ON true
     WHERE s.status = 'active' AND coalesce(m.last, s.started_on, s.began::date) IS NOT NULL
       AND coalesce(m.last, s.started_on, s.began::date) + s.followup_interval_days <= current_date
    UNION ALL
    SELECT 3, 'waiting_too_long', NULL, p.id, p.programme_id, p.seq,
           p.waiting_since::date + g.waiting_alert_days,
           format('%s %s has been waiting for a mentor since %s (%s days; the programme''s alert is %s days).',
                  p.given_name, p.family_name, p.waiting_since::date, current_date - p.waiting_since::date,
                  g.waiting_alert_days)
      FROM participants p JOIN programmes g ON g.id = p.programme_id
     WHERE p.kind = 'mentee' AND p.status = 'waiting'
       AND role IN ('coordinator', 'coach') AND (all_prg OR p.programme_id = ANY(prg))
       AND p.waiting_since::date + g.waiting_alert_days <= current_date
       AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = p.id
                         AND x.status IN ('proposed', 'accepted', 'active')))
  SELECT ((i.due_since - date '1900-01-01')::bigint << 36) | (i.k::bigint << 34) | i.seq,
         i.kind, i.pair_id, i.participant_id, i.programme_id, i.due_since, i.detail
    FROM items i
$$;

-- A follow-up as the API returns it.
CREATE FUNCTION followup_json(kind text, pair_id uuid, participant_id uuid, programme_id uuid,
                              due_since date, detail text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('kind', kind, 'programme_id', programme_id, 'due_since', due_since,
                            'detail', detail,
                            'link', CASE WHEN pair_id IS NOT NULL THEN '/v1/pairs/' || pair_id
                                         ELSE '/v1/participants/' || participant_id END)
      || CASE WHEN pair_id IS NOT NULL THEN jsonb_build_object('pair_id', pair_id)
              ELSE jsonb_build_object('participant_id', participant_id) END
$$;
