-- Koppel schema 0015: closing a relationship with feedback, and recognition.
-- When a pair is completed or ended, its mentor and its mentee may each leave
-- one feedback for the other: a rating from 1 to 10 and a text of up to 2,000
-- characters. Each sees the other's only once both have written, or 14 days
-- after the pair was closed, whichever comes first; staff see both at once.
CREATE TABLE pair_feedback (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  pair_id uuid NOT NULL REFERENCES pairs ON DELETE CASCADE,
  author_role text NOT NULL CHECK (author_role IN ('mentor', 'mentee')),
  author_id uuid NOT NULL REFERENCES participants,
  rating integer NOT NULL CHECK (rating BETWEEN 1 AND 10),
  text text CHECK (char_length(text) <= 2000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pair_id, author_role)
);
CREATE INDEX ON pair_feedback (author_id);
CREATE TRIGGER pair_feedback_audit AFTER INSERT OR UPDATE OR DELETE ON pair_feedback
  FOR EACH ROW EXECUTE FUNCTION audit_row('pair_id');
CREATE TRIGGER pair_feedback_touch BEFORE UPDATE ON pair_feedback
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- The day from which a side's feedback is shown to the other side of pair x
-- regardless of whether they wrote theirs: 14 days after closure.
CREATE FUNCTION feedback_reveal_on(x pairs) RETURNS date LANGUAGE sql IMMUTABLE AS $$
  SELECT x.closed_on + 14
$$;

-- The feedback as JSON.
CREATE FUNCTION feedback_json(f pair_feedback) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', f.id, 'pair_id', f.pair_id, 'author_role', f.author_role, 'author_id', f.author_id,
    'rating', f.rating, 'text', f.text, 'created_at', f.created_at, 'updated_at', f.updated_at)
$$;

-- GET /v1/pairs/{id}/feedback for a caller who may read pair x: staff see
-- both sides; the mentor and the mentee see their own, and the other's once
-- both have written or from feedback_reveal_on. `hidden` names the sides
-- written but not yet shown to the caller, `missing` those not yet written.
CREATE FUNCTION pair_feedback_view(x pairs, role text) RETURNS jsonb LANGUAGE sql STABLE AS $$
  WITH f AS (SELECT f AS row, f.author_role,
                    (role NOT IN ('mentor', 'mentee') OR f.author_role = role
                     OR (SELECT count(*) FROM pair_feedback b WHERE b.pair_id = x.id) = 2
                     OR current_date >= feedback_reveal_on(x)) AS shown
               FROM pair_feedback f WHERE f.pair_id = x.id)
  SELECT jsonb_build_object(
    'pair_id', x.id, 'status', x.status, 'closed_on', x.closed_on,
    'reveal_on', feedback_reveal_on(x),
    'items', coalesce((SELECT jsonb_agg(feedback_json(f.row) ORDER BY f.author_role)
                         FROM f WHERE f.shown), '[]'),
    'hidden', coalesce((SELECT jsonb_agg(f.author_role ORDER BY f.author_role) FROM f WHERE NOT f.shown), '[]'),
    'missing', coalesce((SELECT jsonb_agg(s ORDER BY s) FROM unnest(ARRAY['mentee', 'mentor']) AS s
                          WHERE NOT EXISTS (SELECT 1 FROM f WHERE f.author_role = s)), '[]'))
$$;

-- A completed pair is a participation record for both of its people: the
-- programme, the dates and the meetings held.
CREATE FUNCTION participant_recognitions(pid uuid) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
      'kind', 'mentoring_completed',
      'participant_id', pid,
      'role', CASE WHEN x.mentor_id = pid THEN 'mentor' ELSE 'mentee' END,
      'pair_id', x.id, 'programme_id', g.id, 'programme_name', g.name,
      'started_on', x.started_on, 'completed_on', x.closed_on,
      'meetings_held', m.n, 'minutes_total', m.minutes) ORDER BY x.closed_on, x.seq), '[]')
  FROM pairs x
  JOIN programmes g ON g.id = x.programme_id
  CROSS JOIN LATERAL (SELECT count(*)::int AS n, coalesce(sum(duration_minutes), 0)::int AS minutes
                        FROM meetings WHERE pair_id = x.id) m
  WHERE (x.mentor_id = pid OR x.mentee_id = pid) AND x.status = 'completed'
$$;

-- Ratings for the programme statistics: per side, the number of ratings and
-- their mean and distribution in bands; with suppress (researchers) a side
-- with fewer ratings than the threshold shows no mean and no bands, and the
-- bands follow the small-cell rule of stats_map.
CREATE FUNCTION feedback_stats(pid uuid, suppress boolean) RETURNS jsonb LANGUAGE sql STABLE AS $$
  WITH g AS (SELECT small_group_threshold AS t FROM programmes WHERE id = pid),
  sides AS (SELECT s AS side FROM unnest(ARRAY['mentor', 'mentee']) AS s),
  r AS (SELECT f.author_role AS side, f.rating FROM pair_feedback f JOIN pairs x ON x.id = f.pair_id
         WHERE x.programme_id = pid),
  agg AS (SELECT s.side, count(r.rating) AS n, avg(r.rating) AS mean,
                 jsonb_build_object(
                   '1-4', count(*) FILTER (WHERE r.rating BETWEEN 1 AND 4),
                   '5-6', count(*) FILTER (WHERE r.rating BETWEEN 5 AND 6),
                   '7-8', count(*) FILTER (WHERE r.rating BETWEEN 7 AND 8),
                   '9-10', count(*) FILTER (WHERE r.rating BETWEEN 9 AND 10)) AS bands
            FROM sides s LEFT JOIN r ON r.side = s.side GROUP BY s.side)
  SELECT jsonb_object_agg(a.side || '_ratings', jsonb_build_object(
           'n', stats_cell(a.n, g.t, suppress),
           'mean', CASE WHEN a.n > 0 AND NOT (suppress AND a.n < g.t) THEN stats_num(a.mean, 2) END,
           'bands', CASE WHEN suppress AND a.n < g.t
                         THEN jsonb_build_object('1-4', NULL, '5-6', NULL, '7-8', NULL, '9-10', NULL)
                         ELSE stats_map(a.bands, g.t, suppress) END,
           'suppressed', suppress AND (a.n < g.t OR stats_hides(stats_map(a.bands, g.t, suppress)))))
  FROM agg a CROSS JOIN g
$$;
