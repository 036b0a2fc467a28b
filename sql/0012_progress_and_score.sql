-- Koppel schema 0012: two corrections.
-- on_track multiplies before it divides (integer arithmetic): 6 meetings in
-- 90 days means 2 by day 30, not 1 (30/90 rounded to a decimal lost it).
CREATE OR REPLACE FUNCTION pair_progress(p pairs) RETURNS jsonb LANGUAGE sql STABLE AS $$
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
  WHERE g.id = p.programme_id
$$;

-- A match score never exceeds 100: rounded points of a perfect fit can add
-- up to 100.01 with weights whose shares are not whole hundredths.
CREATE OR REPLACE FUNCTION match_explain(mentor_ids uuid[], mentee_ids uuid[])
RETURNS TABLE (ord bigint, mentor_id uuid, mentee_id uuid, evaluation jsonb)
LANGUAGE sql STABLE AS $$
  SELECT ids.ord, mr.id, me.id, jsonb_build_object(
    'score', centi_number(least(10000, p.occ + p.sec + p.reg + p.av + p.lang)),
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
