-- Koppel schema 0011: the database itself answers in UTC, so timestamps in
-- JSON read +00:00 even when no startup option can set the session's time
-- zone (behind pgbouncer in transaction mode, KOPPEL_DB_PREPARED=off).
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'UTC');
  EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'ISO');
END $$;
