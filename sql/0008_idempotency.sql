-- Koppel schema 0008: stored responses for POST retries with an Idempotency-Key.
-- A key belongs to one caller (subject); its first response is kept for 24 hours.
CREATE TABLE idempotency_keys (
  subject text NOT NULL,
  key text NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  request_hash text NOT NULL,
  status integer,
  content_type text,
  location text,
  etag text,
  body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (subject, key)
);
CREATE INDEX ON idempotency_keys (created_at);
