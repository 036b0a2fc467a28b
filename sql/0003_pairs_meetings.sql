-- Koppel schema 0003: pairs in full, their decisions, coach notes, meetings.

ALTER TABLE pairs
  ADD COLUMN generalist boolean NOT NULL DEFAULT false,
  ADD COLUMN match_score numeric(6, 2),
  ADD COLUMN match_reasons jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN agreement_frequency text
    CHECK (agreement_frequency IN ('weekly', 'every_two_weeks', 'monthly', 'as_needed')),
  ADD COLUMN agreement_contact_modes text[] NOT NULL DEFAULT '{}'
    CHECK (agreement_contact_modes <@ ARRAY['in_person', 'phone', 'video', 'chat', 'email']),
  ADD COLUMN agreement_planned_end_on date,
  ADD COLUMN goals text[] NOT NULL DEFAULT '{}',
  ADD COLUMN proposed_by uuid,
  ADD COLUMN mentor_confirmed_at timestamptz,
  ADD COLUMN mentee_confirmed_at timestamptz,
  ADD COLUMN declined_by text CHECK (declined_by IN ('mentor', 'mentee')),
  ADD COLUMN declined_at timestamptz,
  ADD COLUMN decline_reason text,
  ADD COLUMN started_on date,
  ADD COLUMN closed_on date,
  ADD COLUMN closed_by uuid,
  ADD COLUMN end_reason text
    CHECK (end_reason IN ('goal_reached', 'no_click', 'mentee_stopped', 'mentor_stopped', 'moved', 'other'));

-- A mentee has at most one open pair; the service checks first to say so in
-- words, this index makes it hold under concurrency.
CREATE UNIQUE INDEX pairs_one_open_per_mentee ON pairs (mentee_id)
  WHERE status IN ('proposed', 'accepted', 'active');
CREATE INDEX ON pairs (coach_id);
CREATE INDEX ON pairs (programme_id, seq);

-- Every decision on a pair: who, in which role, when, and why.
CREATE TABLE pair_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pair_id uuid NOT NULL REFERENCES pairs ON DELETE CASCADE,
  action text NOT NULL CHECK (action IN ('proposed', 'accepted', 'declined', 'confirmed', 'activated', 'closed')),
  actor uuid NOT NULL,
  actor_role text NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  reason text
);
CREATE INDEX ON pair_events (pair_id, id);

-- Coach notes: staff only.
CREATE TABLE pair_notes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  pair_id uuid NOT NULL REFERENCES pairs ON DELETE CASCADE,
  author uuid NOT NULL,
  text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON pair_notes (pair_id, seq);

CREATE TABLE meetings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  pair_id uuid NOT NULL REFERENCES pairs,
  held_on date NOT NULL,
  duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 1 AND 600),
  mode text NOT NULL CHECK (mode IN ('in_person', 'phone', 'video', 'chat', 'email')),
  place text CHECK (place IN ('workplace', 'library', 'cafe', 'online', 'other')),
  topics text[] NOT NULL DEFAULT '{}',
  initiated_by text CHECK (initiated_by IN ('mentor', 'mentee', 'coach')),
  summary text,
  next_steps text,
  reported_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON meetings (pair_id, held_on);
CREATE INDEX ON meetings (held_on);
CREATE INDEX ON meetings (updated_at);

CREATE TRIGGER meetings_touch BEFORE UPDATE ON meetings FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER meetings_audit AFTER INSERT OR UPDATE OR DELETE ON meetings FOR EACH ROW EXECUTE FUNCTION audit_row('id');
CREATE TRIGGER pair_notes_audit AFTER INSERT OR UPDATE OR DELETE ON pair_notes FOR EACH ROW EXECUTE FUNCTION audit_row('id');

-- Progress of a pair, computed from its meetings and the programme's rules:
-- on_track means at least as many meetings as the minimum pro rata for the
-- days since the start (active pairs), or the full minimum (closed pairs).
CREATE FUNCTION pair_progress(p pairs) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'meetings_held', m.n, 'meetings_required', g.min_meetings, 'minutes_total', m.minutes,
    'last_meeting_on', m.last,
    'days_since_last_meeting', CASE WHEN m.last IS NOT NULL THEN current_date - m.last END,
    'on_track', CASE
      WHEN p.status = 'active' AND p.started_on IS NOT NULL THEN
        m.n >= floor(g.min_meetings * least(1.0, (current_date - p.started_on)::numeric
                                                  / greatest(g.min_duration_days, 1)))
      WHEN p.status IN ('completed', 'ended') THEN m.n >= g.min_meetings
      END)
  FROM programmes g,
       (SELECT count(*)::int AS n, coalesce(sum(duration_minutes), 0)::int AS minutes, max(held_on) AS last
          FROM meetings WHERE pair_id = p.id) m
  WHERE g.id = p.programme_id
$$;

CREATE FUNCTION pair_json(p pairs) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', p.id, 'programme_id', p.programme_id, 'mentor_id', p.mentor_id, 'mentee_id', p.mentee_id,
    'coach_id', p.coach_id, 'status', p.status, 'generalist', p.generalist,
    'match_score', p.match_score, 'match_reasons', p.match_reasons,
    'agreements', jsonb_build_object('frequency', p.agreement_frequency,
                                     'contact_modes', to_jsonb(p.agreement_contact_modes),
                                     'planned_end_on', p.agreement_planned_end_on),
    'goals', to_jsonb(p.goals),
    'mentor_accepted_at', p.mentor_accepted_at, 'mentee_accepted_at', p.mentee_accepted_at,
    'mentor_confirmed_at', p.mentor_confirmed_at, 'mentee_confirmed_at', p.mentee_confirmed_at,
    'declined_by', p.declined_by, 'decline_reason', p.decline_reason,
    'started_on', p.started_on, 'closed_on', p.closed_on, 'end_reason', p.end_reason,
    'decisions', coalesce((SELECT jsonb_agg(jsonb_build_object('action', e.action, 'by', e.actor,
                                   'role', e.actor_role, 'at', e.at, 'reason', e.reason) ORDER BY e.id)
                             FROM pair_events e WHERE e.pair_id = p.id), '[]'),
    'progress', pair_progress(p),
    'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

-- Whether a caller may read pair x: staff in its programme, its mentor and mentee.
CREATE FUNCTION pair_visible(x pairs, role text, sub uuid, all_prg boolean, prg uuid[])
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN role IN ('coordinator', 'coach') THEN all_prg OR x.programme_id = ANY(prg)
    WHEN role = 'mentor' THEN x.mentor_id = sub
    WHEN role = 'mentee' THEN x.mentee_id = sub
    ELSE false END
$$;

-- The meeting as JSON.
CREATE FUNCTION meeting_json(m meetings) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id, 'pair_id', m.pair_id, 'held_on', m.held_on, 'duration_minutes', m.duration_minutes,
    'mode', m.mode, 'place', m.place, 'topics', to_jsonb(m.topics), 'initiated_by', m.initiated_by,
    'summary', m.summary, 'next_steps', m.next_steps, 'reported_by', m.reported_by,
    'created_at', m.created_at, 'updated_at', m.updated_at)
$$;
