-- Koppel schema 0017: participants' JSON kept ready for the two hot reads
-- (GET /v1/participants/{id} and the participants list), issue 7.
--
-- Building a participant's JSON costs about 300,000 instructions in
-- PostgreSQL (jsonb_build_object looks up the type of each of its ~70
-- arguments in the catalogue on every call, then sorts the keys, then
-- jsonb_out escapes it all again); a 50-row page spent 94 % of its database
-- time there (tests/bench, callgrind). participant_docs keeps
-- participant_json(p)::text for every participant, rebuilt by trigger when
-- the participant or one of their certificates changes.
--
-- A kept document is used only when it is exactly current, checked on every
-- read, so a missed or raced update can make a read slower but never stale:
--   * it names the row versions it was built from: the participant's (xmin,
--     ctid) and the (xmin, ctid) of each of their certificates; a reader
--     compares them with the versions its own snapshot sees (built in one
--     statement, so a document and its versions always belong together);
--   * the definitions it was built with are those this migration vetted:
--     participant_docs_usable() checks that the pg_proc rows of
--     participant_json* and certificate_json are the versions recorded here.
--     A later migration that redefines them (or makes participant_json read
--     another table) turns the documents off until it vets them again with
--     SELECT participant_docs_vet(), after adding triggers for any new table
--     participant_json reads.
-- Everything else (writes' RETURNING, other roles' views) still calls
-- participant_view / participant_json as before.

CREATE TABLE participant_docs (
  participant_id uuid PRIMARY KEY REFERENCES participants ON DELETE CASCADE,
  row_xmin xid NOT NULL,
  row_ctid tid NOT NULL,
  certs text NOT NULL, -- participant_certs_version(id) when built
  doc text NOT NULL    -- participant_json(p)::text
);

-- The versions of a participant's certificates, as a reader compares them.
-- The readers (api/participants.c) inline the same expression.
CREATE FUNCTION participant_certs_version(pid uuid) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_agg(c.xmin::text || '/' || c.ctid::text, ',' ORDER BY c.ctid), '')
    FROM certificates c WHERE c.participant_id = pid
$$;

-- The definitions the documents were vetted with: each function behind
-- participant_json, by oid and the version (xmin) of its pg_proc row, which
-- any CREATE OR REPLACE, RENAME or DROP changes.
CREATE TABLE participant_docs_vetted (proc regprocedure PRIMARY KEY, proc_xmin xid NOT NULL);

-- The readers (api/participants.c) write the same test out in their
-- statements (planned once with them; a function call per statement cost
-- more than the rest of the read).
CREATE FUNCTION participant_docs_usable() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT FROM participant_docs_vetted)
     AND NOT EXISTS (SELECT FROM participant_docs_vetted v LEFT JOIN pg_proc f ON f.oid = v.proc
                      WHERE f.xmin IS DISTINCT FROM v.proc_xmin)
$$;

-- (Re)builds the documents of the participants ids, from the row versions
-- this statement sees.
CREATE FUNCTION participant_docs_refresh(ids uuid[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO participant_docs (participant_id, row_xmin, row_ctid, certs, doc)
  SELECT p.id, p.xmin, p.ctid, participant_certs_version(p.id), participant_json(p)::text
    FROM participants p WHERE p.id = ANY(ids)
  ON CONFLICT (participant_id) DO UPDATE
    SET row_xmin = excluded.row_xmin, row_ctid = excluded.row_ctid, certs = excluded.certs, doc = excluded.doc
$$;

-- Vets the current definitions and rebuilds every document: for a later
-- migration that changed participant_json (after adding triggers for any
-- table it now reads), or after a restore (oids and xmins change).
CREATE FUNCTION participant_docs_vet() RETURNS bigint LANGUAGE sql AS $$
  DELETE FROM participant_docs_vetted;
  INSERT INTO participant_docs_vetted (proc, proc_xmin)
  SELECT p.oid, p.xmin FROM pg_proc p WHERE p.proname LIKE 'participant\_json%' OR p.proname = 'certificate_json';
  DELETE FROM participant_docs;
  WITH i AS (
    INSERT INTO participant_docs (participant_id, row_xmin, row_ctid, certs, doc)
    SELECT p.id, p.xmin, p.ctid, participant_certs_version(p.id), participant_json(p)::text FROM participants p
    RETURNING 1)
  SELECT count(*) FROM i
$$;

-- Statement-level, from the transition tables: one rebuild per statement
-- for all the rows it touched (an HR batch, an erasure), after the row
-- triggers (updated_at, audit) have run.
CREATE FUNCTION participant_docs_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'participants' THEN
    PERFORM participant_docs_refresh(ARRAY(SELECT id FROM changed));
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM participant_docs_refresh(ARRAY(SELECT DISTINCT participant_id FROM changed));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM participant_docs_refresh(ARRAY(SELECT DISTINCT participant_id FROM gone));
  ELSE
    PERFORM participant_docs_refresh(ARRAY(SELECT participant_id FROM changed
                                           UNION SELECT participant_id FROM gone));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER participant_docs_ins AFTER INSERT ON participants
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_docs_sync();
CREATE TRIGGER participant_docs_upd AFTER UPDATE ON participants
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_docs_sync();
CREATE TRIGGER participant_docs_ins AFTER INSERT ON certificates
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_docs_sync();
CREATE TRIGGER participant_docs_upd AFTER UPDATE ON certificates
  REFERENCING OLD TABLE AS gone NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION participant_docs_sync();
CREATE TRIGGER participant_docs_del AFTER DELETE ON certificates
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION participant_docs_sync();
-- also while loading with session_replication_role = replica (tests/bench/seed.sql, logical replicas)
ALTER TABLE participants ENABLE ALWAYS TRIGGER participant_docs_ins;
ALTER TABLE participants ENABLE ALWAYS TRIGGER participant_docs_upd;
ALTER TABLE certificates ENABLE ALWAYS TRIGGER participant_docs_ins;
ALTER TABLE certificates ENABLE ALWAYS TRIGGER participant_docs_upd;
ALTER TABLE certificates ENABLE ALWAYS TRIGGER participant_docs_del;

SELECT participant_docs_vet();

-- What participant_view(p, ...)::text is, from a current document doc (NULL
-- when there is none): staff see the whole record in their scope, exactly
-- participant_view's first branch (sql/0013); every other role goes through
-- participant_view itself. Plain SQL without a FROM, so it is inlined.
CREATE FUNCTION participant_view_text(p participants, role text, sub uuid, all_prg boolean, prg uuid[],
                                      partner uuid, doc text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN doc IS NOT NULL AND role IN ('coordinator', 'coach')
              THEN CASE WHEN all_prg OR p.programme_id = ANY(prg) THEN doc END
              ELSE participant_view(p, role, sub, all_prg, prg, partner)::text END
$$;
