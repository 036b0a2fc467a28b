-- Koppel schema 0021: match suggestions from a narrow table of integer match
-- features, same answers.
--
-- match_suggestions (sql/0004) read the 10,000 wide participant rows of a
-- programme and compared text codes against key sets per candidate: about
-- 9 ms to scan and 2.7 µs per candidate to score, 31-35 ms of database time
-- per GET /v1/participants/{id}/suggestions. Now:
--   * participant_match holds, per participant, what the ranking reads: the
--     occupation and sector codes as integer keys, availability as a bit
--     mask with its count, the region as compared (lower(btrim)), languages
--     as bits, the time waited since, the capacity and (mentors) the open
--     pairs. Statement triggers on participants and pairs keep it, in the
--     same transaction (also under session_replication_role = replica, as
--     tests/bench/seed.sql loads), so it is never stale; partial covering
--     indexes make the candidate scan an index-only scan on narrow tuples.
--   * a code key is the code's positions packed into an integer, the first
--     position highest, with distinct fillers for the absent positions of a
--     candidate's and of the subject's code; the shared level of two codes is
--     then told by how high the first differing bit of key xor key is, so the
--     best level over the 2 x 2 codes is one least() of four xors and one
--     width_bucket(), and the points come out of a five-entry array.
--   * "a shared language at the mentee's level" is an AND of bit sets, so one
--     statement scores every candidate completely and keeps the top lim (a
--     top-N sort): no materialised base, no second pass, no jsonpath.
--   * the candidates' JSON is their kept document (sql/0017) when current.
-- Codes outside the formats the API accepts (an ISCO-08 code of 1 to 4
-- digits; a NACE section letter A-U, a division 01-99, "85.3" or "85.31"),
-- and languages other than [{code, level}] with a CEFR level, have no key:
-- such a candidate ("exotic") is scored with the text rules of sql/0004 in a
-- branch of its own, and a subject with such a code or language, or with a
-- language outside the twenty that have bits, gets the sql/0004 function
-- (kept as match_suggestions_0004). Either way the answer is the one sql/0004
-- gives.
-- participant_match has no foreign key (participant_export lists every
-- table that has one); it holds nothing that participants and pairs do not
-- (an erasure keeps codes, region, availability and languages), and is
-- rebuilt with the row on every change, an erasure included.

-- ---------------------------------------------------------------- keys

-- Fillers: a candidate's absent code is 1 << 24, the subject's 1 << 25; their
-- xor with any key, and with each other, is at least 1 << 24 (no level).
-- ISCO-08: four 4-bit positions, an absent position m (15 for candidates,
-- 14 for the subject). Levels by xor: 0 → 4, < 16 → 3, < 256 → 2,
-- < 4096 → 1, else 0.
CREATE FUNCTION match_isco_key(c text, m integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN c ~ '^[0-9]{1,4}$' THEN
      ((ascii(c) - 48) << 12)
    + (coalesce(ascii(nullif(substr(c, 2, 1), '')) - 48, m) << 8)
    + (coalesce(ascii(nullif(substr(c, 3, 1), '')) - 48, m) << 4)
    + coalesce(ascii(nullif(substr(c, 4, 1), '')) - 48, m) END
$$;

-- NACE Rev. 2: section (8 bits: the letter A=1 .. U=21, or 32 + division for
-- a division that belongs to no section, which then shares its section with
-- itself only), division (7 bits; 112 + m when absent), group digit and class
-- digit (4 bits each; m when absent). Levels by xor: 0 → 4 (same class),
-- < 16 → 3 (group), < 256 → 2 (division), < 32768 → 1 (section), else 0 —
-- exactly nace_fit's levels against the key sets of the other's codes.
CREATE FUNCTION match_nace_key(c text, m integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN c ~ '^([A-U]|(0[1-9]|[1-9][0-9])(\.[0-9]{1,2})?)$' THEN
      (CASE WHEN length(c) = 1 THEN ascii(c) - 64
            ELSE coalesce(ascii(nace_section(c)) - 64, 32 + left(c, 2)::integer) END << 15)
    + (CASE WHEN length(c) = 1 THEN 112 + m ELSE left(c, 2)::integer END << 8)
    + (coalesce(ascii(nullif(substr(c, 4, 1), '')) - 48, m) << 4)
    + coalesce(ascii(nullif(substr(c, 5, 1), '')) - 48, m) END
$$;

-- Availability: working_hours 1, evenings 2, weekends 4, plus 8 times the
-- number of entries (the denominator when the candidate is the mentee).
CREATE FUNCTION match_availability_key(a text[]) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ('working_hours' = ANY(a))::integer + 2 * ('evenings' = ANY(a))::integer
       + 4 * ('weekends' = ANY(a))::integer + 8 * cardinality(a)
$$;

-- Languages: the twenty codes below get six bits each (one per CEFR level,
-- A1 first), ten codes to a bigint. A mentor's bits are the levels at or
-- below each of their levels (a mentee asking that level is served), a
-- mentee's those at or above (a mentor speaking that level serves them); the
-- other side's requirement is one bit per language, so "a shared language at
-- the mentee's level" is an AND. A subject with a language outside the list
-- is answered by sql/0004 (its requirement has no bit); a candidate's
-- language outside the list cannot meet a listed requirement and has none.
-- Bits stand only for clean languages: an array of objects, each with a
-- string code and one of the six levels as a string (what the API accepts);
-- a participant with anything else is exotic (matched by sql/0004's jsonpath).
CREATE FUNCTION match_language_index(code text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_position(ARRAY['nl', 'fr', 'en', 'de', 'ar', 'tr', 'es', 'pl', 'it', 'pt',
                              'ru', 'uk', 'ro', 'so', 'ti', 'fa', 'ps', 'ku', 'zh', 'bg'], code) - 1
$$;

-- ---------------------------------------------------------------- features

CREATE TABLE participant_match (
  participant_id uuid PRIMARY KEY,
  programme_id uuid NOT NULL,
  kind text NOT NULL,
  status text NOT NULL,
  since timestamptz NOT NULL,  -- coalesce(waiting_since, created_at)
  capacity integer,
  occ1 integer NOT NULL,       -- match_isco_key(occupations[1], 15), or the filler
  occ2 integer NOT NULL,
  sec1 integer NOT NULL,       -- match_nace_key(sectors[1], 15), or the filler
  sec2 integer NOT NULL,
  avail integer NOT NULL,      -- match_availability_key(availability)
  region_key text,             -- lower(btrim(region))
  lang1 bigint NOT NULL,       -- language bits of codes 0-9 (clean languages only)
  lang2 bigint NOT NULL,       -- language bits of codes 10-19
  open_pairs integer NOT NULL, -- a mentor's proposed, accepted and active pairs in their programme
  exotic boolean NOT NULL      -- a code or language without a key: scored by the rules of sql/0004
)
-- vacuumed early: the candidate scan is index-only while the visibility map says so
WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);

CREATE INDEX participant_match_mentors ON participant_match (programme_id)
  INCLUDE (participant_id, since, capacity, open_pairs, occ1, occ2, sec1, sec2, avail, region_key, lang1, lang2)
  WHERE kind = 'mentor' AND status IN ('waiting', 'matched', 'active') AND NOT exotic;
CREATE INDEX participant_match_mentees ON participant_match (programme_id)
  INCLUDE (participant_id, since, occ1, occ2, sec1, sec2, avail, region_key, lang1, lang2)
  WHERE kind = 'mentee' AND status = 'waiting' AND NOT exotic;
CREATE INDEX participant_match_exotic ON participant_match (programme_id) WHERE exotic;

-- (Re)builds the rows of participants ids from what this statement sees. A
-- row that did not change is not rewritten (its index entries stay visible to
-- index-only scans). PL/pgSQL with a generic plan, kept per connection (as a
-- SQL function, or with custom plans, it was planned on every call, which
-- cost a participant update 1.5-2 ms).
CREATE FUNCTION participant_match_refresh(ids uuid[]) RETURNS void LANGUAGE plpgsql
-- planning the statement costs far more than running it for a row or two
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  INSERT INTO participant_match AS m
  SELECT p.id, p.programme_id, p.kind, p.status, coalesce(p.waiting_since, p.created_at), p.capacity,
         coalesce(match_isco_key(p.occupations[1], 15), 16777216),
         coalesce(match_isco_key(p.occupations[2], 15), 16777216),
         coalesce(match_nace_key(p.sectors[1], 15), 16777216),
         coalesce(match_nace_key(p.sectors[2], 15), 16777216),
         match_availability_key(p.availability), lower(btrim(p.region)),
         CASE WHEN l.clean THEN l.lang1 ELSE 0 END, CASE WHEN l.clean THEN l.lang2 ELSE 0 END,
         CASE WHEN p.kind = 'mentor' THEN
           (SELECT count(*)::integer FROM pairs x WHERE x.mentor_id = p.id AND x.programme_id = p.programme_id
               AND x.status IN ('proposed', 'accepted', 'active')) ELSE 0 END,
         NOT l.clean
      OR (p.occupations[1] IS NOT NULL AND match_isco_key(p.occupations[1], 15) IS NULL)
      OR (p.occupations[2] IS NOT NULL AND match_isco_key(p.occupations[2], 15) IS NULL)
      OR (p.sectors[1] IS NOT NULL AND match_nace_key(p.sectors[1], 15) IS NULL)
      OR (p.sectors[2] IS NOT NULL AND match_nace_key(p.sectors[2], 15) IS NULL)
    FROM participants p
    -- whether p.languages is clean, and its bits (words 0 and 1): a mentor's levels up to lv are
    -- (1 << lv) - 1, a mentee's from lv on 64 - (1 << (lv - 1)), shifted to the code's six bits
    CROSS JOIN LATERAL (
      SELECT jsonb_typeof(p.languages) = 'array'
               AND coalesce(bool_and(jsonb_typeof(e) = 'object' AND jsonb_typeof(e -> 'code') = 'string'
                                     AND jsonb_typeof(e -> 'level') = 'string' AND x.lv IS NOT NULL), true) AS clean,
             coalesce(bit_or(x.b) FILTER (WHERE x.i < 10), 0) AS lang1,
             coalesce(bit_or(x.b) FILTER (WHERE x.i >= 10), 0) AS lang2
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p.languages) = 'array' THEN p.languages ELSE '[]' END) e
        CROSS JOIN LATERAL (
          SELECT i, lv, CASE WHEN p.kind = 'mentor' THEN (1::bigint << lv) - 1
                             ELSE 64 - (1::bigint << (lv - 1)) END << ((i % 10) * 6) AS b
            FROM (SELECT match_language_index(e ->> 'code') AS i,
                         array_position(ARRAY['A1', 'A2', 'B1', 'B2', 'C1', 'C2'], e ->> 'level') AS lv) y) x) l
   WHERE p.id IN (SELECT unnest(ids))
  ON CONFLICT (participant_id) DO UPDATE
    SET programme_id = excluded.programme_id, kind = excluded.kind, status = excluded.status,
        since = excluded.since, capacity = excluded.capacity, occ1 = excluded.occ1, occ2 = excluded.occ2,
        sec1 = excluded.sec1, sec2 = excluded.sec2, avail = excluded.avail, region_key = excluded.region_key,
        lang1 = excluded.lang1, lang2 = excluded.lang2, exotic = excluded.exotic
    WHERE (m.programme_id, m.kind, m.status, m.since, m.capacity, m.occ1, m.occ2, m.sec1, m.sec2, m.avail,
           m.region_key, m.lang1, m.lang2, m.exotic)
          IS DISTINCT FROM
          (excluded.programme_id, excluded.kind, excluded.status, excluded.since, excluded.capacity,
           excluded.occ1, excluded.occ2, excluded.sec1, excluded.sec2, excluded.avail, excluded.region_key,
           excluded.lang1, excluded.lang2, excluded.exotic);
END $$;

-- Statement-level, from the transition tables: one refresh per statement.
CREATE FUNCTION participant_match_sync() RETURNS trigger LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    TRUNCATE participant_match;
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM participant_match_refresh(ARRAY(SELECT id FROM changed));
  ELSE
    IF TG_OP = 'UPDATE' THEN
      PERFORM participant_match_refresh(ARRAY(SELECT id FROM changed));
    END IF;
    -- the rows of ids that no longer exist (deleted, or an id changed)
    DELETE FROM participant_match
     WHERE participant_id = ANY(ARRAY(SELECT g.id FROM gone g
                                       WHERE NOT EXISTS (SELECT FROM participants p WHERE p.id = g.id)));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER participant_match_ins AFTER INSERT ON participants
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_match_sync();
CREATE TRIGGER participant_match_upd AFTER UPDATE ON participants
  REFERENCING OLD TABLE AS gone NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_match_sync();
CREATE TRIGGER participant_match_del AFTER DELETE ON participants
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION participant_match_sync();
CREATE TRIGGER participant_match_trunc AFTER TRUNCATE ON participants
  FOR EACH STATEMENT EXECUTE FUNCTION participant_match_sync();
-- also while loading with session_replication_role = replica (tests/bench/seed.sql, logical replicas)
ALTER TABLE participants ENABLE ALWAYS TRIGGER participant_match_ins;
ALTER TABLE participants ENABLE ALWAYS TRIGGER participant_match_upd;
ALTER TABLE participants ENABLE ALWAYS TRIGGER participant_match_del;
ALTER TABLE participants ENABLE ALWAYS TRIGGER participant_match_trunc;

-- A mentor's open pairs: statement triggers on pairs add what a statement
-- opened and subtract what it closed or removed (increments, so concurrent
-- writers of one mentor's pairs add up: each waits for the other's row).
CREATE FUNCTION participant_match_pairs_sync() RETURNS trigger LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE participant_match SET open_pairs = 0 WHERE open_pairs <> 0;
  ELSIF TG_OP = 'INSERT' THEN
    UPDATE participant_match m SET open_pairs = m.open_pairs + d.n
      FROM (SELECT x.mentor_id, x.programme_id, count(*)::integer AS n FROM changed x
             WHERE x.status IN ('proposed', 'accepted', 'active') GROUP BY 1, 2) d
     WHERE m.participant_id = d.mentor_id AND m.programme_id = d.programme_id;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE participant_match m SET open_pairs = m.open_pairs + d.n
      FROM (SELECT y.mentor_id, y.programme_id, sum(y.n)::integer AS n FROM (
              SELECT x.mentor_id, x.programme_id, 1 AS n FROM changed x
               WHERE x.status IN ('proposed', 'accepted', 'active')
              UNION ALL
              SELECT x.mentor_id, x.programme_id, -1 FROM gone x
               WHERE x.status IN ('proposed', 'accepted', 'active')) y
             GROUP BY 1, 2 HAVING sum(y.n) <> 0) d
     WHERE m.participant_id = d.mentor_id AND m.programme_id = d.programme_id;
  ELSE
    UPDATE participant_match m SET open_pairs = m.open_pairs - d.n
      FROM (SELECT x.mentor_id, x.programme_id, count(*)::integer AS n FROM gone x
             WHERE x.status IN ('proposed', 'accepted', 'active') GROUP BY 1, 2) d
     WHERE m.participant_id = d.mentor_id AND m.programme_id = d.programme_id;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER participant_match_ins AFTER INSERT ON pairs
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_match_pairs_sync();
CREATE TRIGGER participant_match_upd AFTER UPDATE ON pairs
  REFERENCING OLD TABLE AS gone NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_match_pairs_sync();
CREATE TRIGGER participant_match_del AFTER DELETE ON pairs
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION participant_match_pairs_sync();
CREATE TRIGGER participant_match_trunc AFTER TRUNCATE ON pairs
  FOR EACH STATEMENT EXECUTE FUNCTION participant_match_pairs_sync();
ALTER TABLE pairs ENABLE ALWAYS TRIGGER participant_match_ins;
ALTER TABLE pairs ENABLE ALWAYS TRIGGER participant_match_upd;
ALTER TABLE pairs ENABLE ALWAYS TRIGGER participant_match_del;
ALTER TABLE pairs ENABLE ALWAYS TRIGGER participant_match_trunc;

SELECT participant_match_refresh(ARRAY(SELECT id FROM participants));
ANALYZE participant_match;

-- ---------------------------------------------------------------- ranking

-- The sql/0004 function, for subjects whose codes or languages have no key.
ALTER FUNCTION match_suggestions(participants, integer) RENAME TO match_suggestions_0004;

-- Ranked candidates for participant subj, as sql/0004 describes (same
-- blockers, candidates, points, order and body). One statement scores every
-- candidate from participant_match (array lookups by level, availability
-- key and language bits; exotic candidates by the text rules) and keeps the
-- top lim; match_explain then explains those, and their candidate JSON is
-- the participant's kept document when it is current (sql/0017).
CREATE FUNCTION match_suggestions(subj participants, lim integer, OUT blocker text, OUT body jsonb)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  g programmes;
  ws integer;
  path jsonpath;
  -- the subject's code keys (absent codes: the subject's filler; one code: twice)
  ok integer[];
  sk integer[];
  x1 integer; x2 integer; y1 integer; y2 integer;
  -- points by width_bucket of the least xor (+ 1): levels 4, 3, 2, 1, 0
  po bigint[];
  ps bigint[];
  preg bigint;
  plang bigint;
  -- availability points by key (+ 1) for keys below 32
  pav bigint[];
  smask integer;
  -- the subject's language requirements as bits
  l1 bigint := 0;
  l2 bigint := 0;
  reg text := lower(btrim(subj.region));
  has_exotic boolean;
  docs_ok boolean;
  lang_ok boolean := false;
  o4 text[]; o3 text[]; o2 text[]; o1 text[];
  s4 text[]; s3 text[]; s2 text[]; s1 text[];
  aw boolean := 'working_hours' = ANY(subj.availability);
  ae boolean := 'evenings' = ANY(subj.availability);
  ak boolean := 'weekends' = ANY(subj.availability);
  free integer;
  ids uuid[];
  declined uuid[];
  frees integer[];
  items jsonb;
BEGIN
  ok := ARRAY(SELECT match_isco_key(x, 14) FROM unnest(subj.occupations) x WHERE x IS NOT NULL);
  sk := ARRAY(SELECT match_nace_key(x, 14) FROM unnest(subj.sectors) x WHERE x IS NOT NULL);
  -- the subject's languages: clean, every code listed, and their bits
  IF jsonb_typeof(subj.languages) = 'array' THEN
    SELECT coalesce(bool_and(jsonb_typeof(x.e) = 'object' AND jsonb_typeof(x.e -> 'code') = 'string'
                             AND jsonb_typeof(x.e -> 'level') = 'string'
                             AND x.e ->> 'level' IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2') AND x.i IS NOT NULL), true),
           coalesce(bit_or(CASE WHEN x.i < 10 THEN x.b END), 0), coalesce(bit_or(CASE WHEN x.i >= 10 THEN x.b END), 0)
      INTO lang_ok, l1, l2
      FROM (SELECT e, match_language_index(e ->> 'code') AS i,
                   1::bigint << ((match_language_index(e ->> 'code') % 10) * 6
                                 + array_position(ARRAY['A1', 'A2', 'B1', 'B2', 'C1', 'C2'], e ->> 'level') - 1) AS b
              FROM jsonb_array_elements(subj.languages) e) x;
  END IF;
  IF array_position(ok, NULL) IS NOT NULL OR array_position(sk, NULL) IS NOT NULL
     OR cardinality(ok) > 2 OR cardinality(sk) > 2 OR NOT lang_ok THEN
    SELECT s.blocker, s.body INTO blocker, body FROM match_suggestions_0004(subj, lim) s;
    RETURN;
  END IF;
  x1 := coalesce(ok[1], 33554432); x2 := coalesce(ok[2], x1);
  y1 := coalesce(sk[1], 33554432); y2 := coalesce(sk[2], y1);
  smask := aw::integer + 2 * ae::integer + 4 * ak::integer;

  SELECT * INTO g FROM programmes WHERE id = subj.programme_id;
  ws := match_weight_sum(g);
  po := ARRAY[match_centi(g.match_weight_occupation, ws, 4, 4), match_centi(g.match_weight_occupation, ws, 3, 4),
              match_centi(g.match_weight_occupation, ws, 2, 4), match_centi(g.match_weight_occupation, ws, 1, 4),
              0];
  ps := ARRAY[match_centi(g.match_weight_sector, ws, 4, 4), match_centi(g.match_weight_sector, ws, 3, 4),
              match_centi(g.match_weight_sector, ws, 2, 4), match_centi(g.match_weight_sector, ws, 1, 4), 0];
  preg := match_centi(g.match_weight_region, ws, 1, 1);
  plang := match_centi(g.match_weight_language, ws, 1, 1);
  -- key k: mask k & 7, count k >> 3; the mentee's count is the denominator
  pav := ARRAY(SELECT match_centi(g.match_weight_availability, ws,
                                  ((k & 7 & smask) & 1) + (((k & 7 & smask) >> 1) & 1) + (((k & 7 & smask) >> 2) & 1),
                                  CASE WHEN subj.kind = 'mentee' THEN cardinality(subj.availability) ELSE k >> 3 END)
                 FROM generate_series(0, 31) k ORDER BY k);

  has_exotic := EXISTS (SELECT FROM participant_match f WHERE f.programme_id = subj.programme_id AND f.exotic);
  IF has_exotic THEN
    o4 := code_prefixes(subj.occupations, 4); o3 := code_prefixes(subj.occupations, 3);
    o2 := code_prefixes(subj.occupations, 2); o1 := code_prefixes(subj.occupations, 1);
    s4 := code_prefixes(subj.sectors, 5); s3 := code_prefixes(subj.sectors, 4);
    s2 := code_prefixes(subj.sectors, 2); s1 := nace_section_keys(subj.sectors);
    path := language_fit_path(subj.languages, subj.kind = 'mentee');
  END IF;

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
    declined := ARRAY(SELECT d.mentor_id FROM pairs d WHERE d.mentee_id = subj.id AND d.status = 'declined');
    SELECT coalesce(array_agg(r.id ORDER BY r.score DESC, r.since, r.id), '{}'),
           array_agg(r.free ORDER BY r.score DESC, r.since, r.id)
      INTO ids, frees
      FROM (SELECT b.id, b.since, b.free, b.score FROM (
        SELECT f.participant_id AS id, f.since,
               least(coalesce(f.capacity, 1), g.max_mentees_per_mentor) - f.open_pairs AS free,
               po[width_bucket(least(f.occ1 # x1, f.occ1 # x2, f.occ2 # x1, f.occ2 # x2), '{1,16,256,4096}'::integer[]) + 1]
             + ps[width_bucket(least(f.sec1 # y1, f.sec1 # y2, f.sec2 # y1, f.sec2 # y2), '{1,16,256,32768}'::integer[]) + 1]
             + CASE WHEN f.region_key = reg THEN preg ELSE 0 END
             + pav[(f.avail & 7) + 1]
             + CASE WHEN (f.lang1 & l1) <> 0 OR (f.lang2 & l2) <> 0 THEN plang ELSE 0 END AS score
          FROM participant_match f
         WHERE f.programme_id = subj.programme_id AND f.kind = 'mentor'
           AND f.status IN ('waiting', 'matched', 'active') AND NOT f.exotic
           AND least(coalesce(f.capacity, 1), g.max_mentees_per_mentor) - f.open_pairs > 0
           AND f.participant_id <> ALL(declined)
        UNION ALL
        SELECT c.id, coalesce(c.waiting_since, c.created_at),
               least(coalesce(c.capacity, 1), g.max_mentees_per_mentor) - f.open_pairs,
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
                            cardinality(subj.availability))
             + match_centi(g.match_weight_language, ws, coalesce(c.languages @? path, false)::integer, 1)
          FROM participant_match f JOIN participants c ON c.id = f.participant_id
         WHERE has_exotic AND f.programme_id = subj.programme_id AND f.exotic
           AND c.kind = 'mentor' AND c.status IN ('waiting', 'matched', 'active')
           AND least(coalesce(c.capacity, 1), g.max_mentees_per_mentor) - f.open_pairs > 0
           AND c.id <> ALL(declined)) b
       ORDER BY b.score DESC, b.since, b.id
       LIMIT lim) r;
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
    SELECT coalesce(array_agg(r.id ORDER BY r.score DESC, r.since, r.id), '{}') INTO ids
      FROM (SELECT b.id, b.since, b.score FROM (
        SELECT f.participant_id AS id, f.since,
               po[width_bucket(least(f.occ1 # x1, f.occ1 # x2, f.occ2 # x1, f.occ2 # x2), '{1,16,256,4096}'::integer[]) + 1]
             + ps[width_bucket(least(f.sec1 # y1, f.sec1 # y2, f.sec2 # y1, f.sec2 # y2), '{1,16,256,32768}'::integer[]) + 1]
             + CASE WHEN f.region_key = reg THEN preg ELSE 0 END
             + CASE WHEN f.avail < 32 THEN pav[f.avail + 1]
                    ELSE match_centi(g.match_weight_availability, ws,
                                     ((f.avail & smask) & 1) + (((f.avail & smask) >> 1) & 1)
                                     + (((f.avail & smask) >> 2) & 1), f.avail >> 3) END
             + CASE WHEN (f.lang1 & l1) <> 0 OR (f.lang2 & l2) <> 0 THEN plang ELSE 0 END AS score
          FROM participant_match f
         WHERE f.programme_id = subj.programme_id AND f.kind = 'mentee' AND f.status = 'waiting' AND NOT f.exotic
           AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = f.participant_id
                             AND (x.status IN ('proposed', 'accepted', 'active')
                                  OR (x.status = 'declined' AND x.mentor_id = subj.id)))
        UNION ALL
        SELECT c.id, coalesce(c.waiting_since, c.created_at),
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
                            cardinality(c.availability))
             + match_centi(g.match_weight_language, ws, coalesce(c.languages @? path, false)::integer, 1)
          FROM participant_match f JOIN participants c ON c.id = f.participant_id
         WHERE has_exotic AND f.programme_id = subj.programme_id AND f.exotic
           AND c.kind = 'mentee' AND c.status = 'waiting'
           AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = c.id
                             AND (x.status IN ('proposed', 'accepted', 'active')
                                  OR (x.status = 'declined' AND x.mentor_id = subj.id)))) b
       ORDER BY b.score DESC, b.since, b.id
       LIMIT lim) r;
  END IF;
  -- the kept documents are used only when current: the test of api/participants.c
  docs_ok := EXISTS (SELECT FROM participant_docs_vetted)
             AND NOT EXISTS (SELECT FROM participant_docs_vetted v
                              WHERE (SELECT f.xmin FROM pg_proc f WHERE f.oid = v.proc) IS DISTINCT FROM v.proc_xmin);
  -- the candidates' kept documents when every one is current, else their participant_json
  SELECT CASE WHEN bool_and(d.doc IS NOT NULL) THEN
           coalesce(jsonb_agg(jsonb_build_object('candidate', d.doc::jsonb)
                                || CASE WHEN subj.kind = 'mentee' THEN jsonb_build_object('free_capacity', frees[e.ord])
                                        ELSE '{}'::jsonb END
                                || e.evaluation ORDER BY e.ord), '[]') END
    INTO items
    FROM match_explain(CASE WHEN subj.kind = 'mentee' THEN ids ELSE array_fill(subj.id, ARRAY[cardinality(ids)]) END,
                       CASE WHEN subj.kind = 'mentee' THEN array_fill(subj.id, ARRAY[cardinality(ids)]) ELSE ids END) e
    JOIN participants c ON c.id = ids[e.ord]
    LEFT JOIN participant_docs d
      ON docs_ok AND d.participant_id = c.id AND d.row_xmin = c.xmin AND d.row_ctid = c.ctid
     AND d.certs = CASE WHEN EXISTS (SELECT FROM certificates t WHERE t.participant_id = c.id)
                        THEN (SELECT string_agg(t.xmin::text || '/' || t.ctid::text, ',' ORDER BY t.ctid)
                                FROM certificates t WHERE t.participant_id = c.id)
                        ELSE '' END;
  IF items IS NULL THEN
    SELECT coalesce(jsonb_agg(jsonb_build_object('candidate', participant_json(c))
                                || CASE WHEN subj.kind = 'mentee' THEN jsonb_build_object('free_capacity', frees[e.ord])
                                        ELSE '{}'::jsonb END
                                || e.evaluation ORDER BY e.ord), '[]')
      INTO items
      FROM match_explain(CASE WHEN subj.kind = 'mentee' THEN ids ELSE array_fill(subj.id, ARRAY[cardinality(ids)]) END,
                         CASE WHEN subj.kind = 'mentee' THEN array_fill(subj.id, ARRAY[cardinality(ids)]) ELSE ids END) e
      JOIN participants c ON c.id = ids[e.ord];
  END IF;
  body := jsonb_build_object('participant_id', subj.id, 'items', items);
END $$;
