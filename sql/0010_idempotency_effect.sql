-- Koppel schema 0010: an Idempotency-Key remembers, in the same transaction
-- as the change, that its request took effect. A retry after a crash can then
-- tell a request that died before committing (safe to run again) from one
-- that committed but never stored its response.
ALTER TABLE idempotency_keys ADD COLUMN effect_committed boolean NOT NULL DEFAULT false;
