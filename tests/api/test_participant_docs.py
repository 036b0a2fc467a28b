"""The kept participant documents (sql/0017, issue 7): GET /v1/participants/{id}
and the list answer from participant_docs when a document is exactly current,
and from participant_view otherwise. These tests show that the documents are
used, and that no change (PATCH, two updates in one transaction, certificates
added, changed and removed, loads with triggers off, changed definitions)
ever makes a read answer an outdated record."""
import json

from conftest import expect

FRESH = ("SELECT count(*) FROM participants p JOIN participant_docs d ON d.participant_id = p.id "
         "AND d.row_xmin = p.xmin AND d.row_ctid = p.ctid AND d.certs = participant_certs_version(p.id) "
         "WHERE p.id = %s")


def built(psql, pid):
    """The participant's JSON built from scratch, as participant_view does it for staff."""
    return json.loads(psql("SELECT participant_json(p)::text FROM participants p WHERE p.id = %s", pid)[0][0])


def read(coord, pid, programme_id):
    one = expect(coord.get(f"/v1/participants/{pid}"), 200)
    page = expect(coord.get("/v1/participants", params={"programme_id": programme_id, "limit": 200}), 200)
    listed = [p for p in page["items"] if p["id"] == pid]
    assert listed == [one], "the list and the single read disagree"
    return one


def test_reads_follow_every_change(coord, make, psql):
    prg = make.programme()["id"]
    pid = make.participant(prg, given_name="Docfirst")["id"]
    assert psql(FRESH, pid) == [("1",)], "a new participant has a current document"
    assert read(coord, pid, prg) == built(psql, pid)

    expect(coord.patch(f"/v1/participants/{pid}", {"given_name": "Docsecond", "region": "Gent"}), 200)
    got = read(coord, pid, prg)
    assert got["given_name"] == "Docsecond" and got["region"] == "Gent"
    assert got == built(psql, pid)

    # certificates: added, changed, removed (SQL: they have no write endpoint of their own here)
    cert = psql("INSERT INTO certificates (participant_id, kind, issued_on) VALUES (%s, 'first_aid', '2024-01-01') "
                "RETURNING id", pid)[0][0]
    got = read(coord, pid, prg)
    assert [c["id"] for c in got["certificates"]] == [cert] and got == built(psql, pid)
    psql("UPDATE certificates SET expires_on = '2030-01-01' WHERE id = %s", cert)
    got = read(coord, pid, prg)
    assert got["certificates"][0]["expires_on"] == "2030-01-01" and got == built(psql, pid)
    psql("DELETE FROM certificates WHERE id = %s", cert)
    got = read(coord, pid, prg)
    assert got["certificates"] == [] and got == built(psql, pid)
    assert psql(FRESH, pid) == [("1",)]


def test_two_updates_in_one_transaction_and_loads_without_triggers(coord, make, psql):
    prg = make.programme()["id"]
    pid = make.participant(prg)["id"]
    psql("BEGIN; UPDATE participants SET given_name = 'Onceagain' WHERE id = %s; "
         "UPDATE participants SET given_name = 'Twiceagain' WHERE id = %s; COMMIT", pid, pid)
    assert read(coord, pid, prg)["given_name"] == "Twiceagain"
    # a load with the ordinary triggers off (tests' backdating, bulk loads) still keeps the document current
    make.backdate("participants", pid, "2002-02-02T00:00:00Z")
    got = read(coord, pid, prg)
    assert got["updated_at"].startswith("2002-02-02") and got == built(psql, pid)


def test_the_document_is_what_is_served_and_only_while_current(coord, make, psql):
    prg = make.programme()["id"]
    pid = make.participant(prg, given_name="Docserved")["id"]
    real = read(coord, pid, prg)
    # a doctored document with the right versions is served: the reads do use the documents ...
    planted = dict(real, given_name="Planted")
    psql("UPDATE participant_docs SET doc = %s WHERE participant_id = %s", json.dumps(planted), pid)
    assert read(coord, pid, prg)["given_name"] == "Planted"
    # ... but not once the row moved on (the versions no longer match) ...
    psql("UPDATE participant_docs SET row_xmin = '1' WHERE participant_id = %s", pid)
    assert read(coord, pid, prg) == real
    # ... nor once the definitions are not the vetted ones
    psql("UPDATE participant_docs SET row_xmin = p.xmin, row_ctid = p.ctid FROM participants p "
         "WHERE p.id = participant_id AND participant_id = %s", pid)
    assert read(coord, pid, prg)["given_name"] == "Planted"
    try:
        # what CREATE OR REPLACE FUNCTION certificate_json would do to its pg_proc row
        psql("UPDATE participant_docs_vetted SET proc_xmin = '1' WHERE proc = 'certificate_json(certificates)'::regprocedure")
        assert psql("SELECT participant_docs_usable()") == [("f",)]
        assert read(coord, pid, prg) == real
    finally:
        psql("SELECT participant_docs_vet()")  # records the definitions as they are, rebuilds every document
    assert psql("SELECT participant_docs_usable()") == [("t",)]
    assert read(coord, pid, prg) == real


def test_other_roles_are_answered_as_before(client, tokens, make, psql):
    """A mentor reading their mentee goes through participant_view (no contact before both accept)."""
    prg = make.programme()["id"]
    mentor = make.participant(prg, kind="mentor")["id"]
    mentee = make.participant(prg)["id"]
    make.pair(prg, mentor, mentee)
    got = expect(client(tokens("mentor", sub=mentor, prg=[prg])).get(f"/v1/participants/{mentee}"), 200)
    want = json.loads(psql("SELECT participant_view(p, 'mentor', %s, false, %s, NULL)::text FROM participants p "
                           "WHERE p.id = %s", mentor, "{" + prg + "}", mentee)[0][0])
    assert got == want and "email" not in got


def test_every_current_document_is_the_participants_json(psql):
    """Whatever the tests before made: no current document differs from the JSON built from scratch."""
    rows = psql("SELECT count(*), count(*) FILTER (WHERE d.doc::jsonb <> participant_json(p)) FROM participants p "
                "JOIN participant_docs d ON d.participant_id = p.id AND d.row_xmin = p.xmin AND d.row_ctid = p.ctid "
                "AND d.certs = participant_certs_version(p.id)")
    total, differing = map(int, rows[0])
    assert total > 0 and differing == 0
