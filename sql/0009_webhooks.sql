-- Koppel schema 0009: webhooks from a transactional outbox.
--
-- Subscriptions (webhooks) name a target URL, the event types they want and
-- the secret their deliveries are signed with. Triggers on the tables write
-- each event to the outbox (webhook_events) in the same transaction as the
-- change, with one delivery per interested active subscription; a change
-- that rolls back leaves no event. The delivery worker (api/webhooks.c)
-- claims due deliveries, POSTs the stored body byte for byte, and records
-- the result.
--
-- Order: every event has a sequence per object (participant, pair, meeting,
-- survey response), taken under a lock on the object's counter row, so the
-- sequence follows commit order. The worker never sends a delivery while an
-- earlier event of the same object is still pending for the same
-- subscription.
--
-- Events carry ids and statuses only: no names, contact data or free text.

CREATE TABLE webhooks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  target_url text NOT NULL CHECK (target_url ~ '^https?://[^/[:space:]]' AND length(target_url) <= 2048),
  event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 4 AND event_types <@ ARRAY[
    'participant.status_changed', 'pair.status_changed', 'meeting.created', 'survey.response_created']),
  -- kept in clear: every delivery is signed with it. Never returned by the API after creation.
  secret text NOT NULL CHECK (length(secret) BETWEEN 16 AND 200),
  active boolean NOT NULL DEFAULT true,
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON webhooks (updated_at);

-- The last sequence number given to an event of each object.
CREATE TABLE webhook_object_seqs (
  object_id uuid PRIMARY KEY,
  last_seq bigint NOT NULL
);

CREATE TABLE webhook_events (
  id uuid PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  type text NOT NULL,
  object_id uuid NOT NULL,
  object_seq bigint NOT NULL,
  occurred_at timestamptz NOT NULL,
  body text NOT NULL, -- the JSON sent to receivers, exactly these bytes
  UNIQUE (object_id, object_seq)
);
CREATE INDEX ON webhook_events (occurred_at);

CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  webhook_id uuid NOT NULL REFERENCES webhooks ON DELETE CASCADE,
  event_id uuid NOT NULL REFERENCES webhook_events ON DELETE CASCADE,
  object_id uuid NOT NULL,      -- the event's, for the in-order check
  object_seq bigint NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  -- pending: when the worker may try (again); a claimed delivery is leased
  -- by moving this into the future. NULL once delivered or failed.
  next_attempt_at timestamptz DEFAULT now(),
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  delivered_at timestamptz,
  redelivery_of uuid REFERENCES webhook_deliveries ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX ON webhook_deliveries (webhook_id, seq);
CREATE INDEX ON webhook_deliveries (event_id);
CREATE INDEX ON webhook_deliveries (redelivery_of);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_head ON webhook_deliveries (webhook_id, object_id, object_seq)
  WHERE status = 'pending';
-- One pending delivery per event and subscription: a redelivery waits for the last one.
CREATE UNIQUE INDEX webhook_deliveries_one_pending ON webhook_deliveries (webhook_id, event_id)
  WHERE status = 'pending';

CREATE TRIGGER webhooks_touch BEFORE UPDATE ON webhooks FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER webhook_deliveries_touch BEFORE UPDATE ON webhook_deliveries
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
-- New deliveries wake the workers (LISTEN koppel_webhooks); once per statement,
-- and PostgreSQL folds equal notifications of one transaction into one.
CREATE FUNCTION webhook_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('koppel_webhooks', '');
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
  FOR EACH STATEMENT EXECUTE FUNCTION webhook_notify();
CREATE TRIGGER webhooks_audit AFTER INSERT OR UPDATE OR DELETE ON webhooks
  FOR EACH ROW EXECUTE FUNCTION audit_row('id');

-- Writes one event to the outbox with a delivery per interested active
-- subscription. Nothing is written while nobody
-- subscribes to the type.
CREATE FUNCTION webhook_emit(p_type text, p_object uuid, p_data jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_id uuid := gen_random_uuid();
  v_at timestamptz := clock_timestamp();
  v_seq bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.active AND p_type = ANY(w.event_types)) THEN
    RETURN;
  END IF;
  INSERT INTO webhook_object_seqs AS s (object_id, last_seq) VALUES (p_object, 1)
    ON CONFLICT (object_id) DO UPDATE SET last_seq = s.last_seq + 1
    RETURNING s.last_seq INTO v_seq;
  INSERT INTO webhook_events (id, type, object_id, object_seq, occurred_at, body)
  VALUES (v_id, p_type, p_object, v_seq, v_at, jsonb_build_object(
    'id', v_id, 'type', p_type, 'sequence', v_seq,
    'occurred_at', to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'data', p_data)::text);
  -- FOR KEY SHARE: a subscription deleted meanwhile is skipped, never a foreign-key error here
  INSERT INTO webhook_deliveries (webhook_id, event_id, object_id, object_seq)
  SELECT w.id, v_id, p_object, v_seq FROM webhooks w
   WHERE w.active AND p_type = ANY(w.event_types)
   FOR KEY SHARE;
END $$;

-- participant.status_changed: on creation (old_status null) and on every status change.
CREATE FUNCTION participants_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM webhook_emit('participant.status_changed', NEW.id, jsonb_build_object(
      'participant_id', NEW.id, 'programme_id', NEW.programme_id, 'kind', NEW.kind,
      'old_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, 'new_status', NEW.status));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER participants_webhook AFTER INSERT OR UPDATE OF status ON participants
  FOR EACH ROW EXECUTE FUNCTION participants_webhook();

-- pair.status_changed: on the proposal (old_status null) and on every status change.
CREATE FUNCTION pairs_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM webhook_emit('pair.status_changed', NEW.id, jsonb_build_object(
      'pair_id', NEW.id, 'programme_id', NEW.programme_id, 'mentor_id', NEW.mentor_id,
      'mentee_id', NEW.mentee_id, 'coach_id', NEW.coach_id,
      'old_status', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END, 'new_status', NEW.status,
      'end_reason', NEW.end_reason));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER pairs_webhook AFTER INSERT OR UPDATE OF status ON pairs
  FOR EACH ROW EXECUTE FUNCTION pairs_webhook();

-- meeting.created: ids and the date only (no summary, topics or next steps).
CREATE FUNCTION meetings_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM webhook_emit('meeting.created', NEW.id, jsonb_build_object(
    'meeting_id', NEW.id, 'pair_id', NEW.pair_id,
    'programme_id', (SELECT p.programme_id FROM pairs p WHERE p.id = NEW.pair_id),
    'held_on', NEW.held_on));
  RETURN NULL;
END $$;
CREATE TRIGGER meetings_webhook AFTER INSERT ON meetings
  FOR EACH ROW EXECUTE FUNCTION meetings_webhook();

-- survey.response_created: ids only, never the answers. The columns are read
-- through to_jsonb so this function does not depend on the surveys schema's
-- details; the trigger exists only when survey_responses does (sql/0005).
CREATE FUNCTION survey_responses_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb := to_jsonb(NEW);
  sid uuid := (r ->> 'survey_id')::uuid;
BEGIN
  PERFORM webhook_emit('survey.response_created', (r ->> 'id')::uuid, jsonb_build_object(
    'response_id', r -> 'id', 'survey_id', sid,
    'programme_id', (SELECT to_jsonb(s) -> 'programme_id' FROM surveys s WHERE s.id = sid),
    'participant_id', coalesce(r -> 'participant_id', r -> 'respondent_id')));
  RETURN NULL;
END $$;
DO $$
BEGIN
  IF to_regclass('survey_responses') IS NOT NULL THEN
    CREATE TRIGGER survey_responses_webhook AFTER INSERT ON survey_responses
      FOR EACH ROW EXECUTE FUNCTION survey_responses_webhook();
  END IF;
END $$;

-- The representations the API returns. The secret never leaves the
-- database after creation; secret_hint shows its last four characters.
CREATE FUNCTION webhook_json(w webhooks) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', w.id, 'target_url', w.target_url, 'event_types', to_jsonb(w.event_types),
    'active', w.active, 'description', w.description,
    'secret_hint', '****' || right(w.secret, 4),
    'created_at', w.created_at, 'updated_at', w.updated_at)
$$;

CREATE FUNCTION webhook_delivery_json(d webhook_deliveries) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', d.id, 'webhook_id', d.webhook_id, 'event_id', d.event_id, 'event_type', e.type,
    'object_id', d.object_id, 'sequence', d.object_seq,
    'status', d.status, 'attempts', d.attempts, 'next_attempt_at', d.next_attempt_at,
    'last_attempt_at', d.last_attempt_at, 'last_status_code', d.last_status_code,
    'last_error', d.last_error, 'delivered_at', d.delivered_at, 'redelivery_of', d.redelivery_of,
    'event', e.body::jsonb,
    'created_at', d.created_at, 'updated_at', d.updated_at)
  FROM webhook_events e WHERE e.id = d.event_id
$$;
