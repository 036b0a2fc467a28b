"""HR integration clients: an employer's HR system upserts its employees who
mentor by its own id (PUT /v1/participants/by-external-ref/{ref} and POST
/v1/participants/batch), sees and changes only its own employees, and pulls
changes incrementally with updated_since."""
import threading
import urllib.parse
import uuid

import pytest

from conftest import ROLES, expect, unique


def ref_path(ref):
    return "/v1/participants/by-external-ref/" + urllib.parse.quote(ref, safe="")


def new_ref():
    return f"EMP-{uuid.uuid4().hex[:12]}"


def employee(programme_id, **kw):
    body = {"programme_id": programme_id, "kind": "mentor", "given_name": "Marc",
            "family_name": unique("family"), "email": "marc@bank.example", "phone": "+32 471 30 40 02",
            "sectors": ["64.19"], "languages": [{"code": "nl", "level": "C2"}], "capacity": 1}
    body.update(kw)
    return body


@pytest.fixture(scope="module")
def hr(make, client, tokens):
    """Programme P (the HR clients work in it) and P2; employers A and B, each with an HR client."""
    w = {}
    w["P"], w["P2"] = make.programme()["id"], make.programme()["id"]
    w["A"], w["B"] = make.partner(kind="employer")["id"], make.partner(kind="employer")["id"]
    w["a"] = client(tokens("integration", partner=w["A"], prg=[w["P"]]))
    w["b"] = client(tokens("integration", partner=w["B"], prg=[w["P"]]))
    w["a_token"] = tokens("integration", partner=w["A"], prg=[w["P"]])
    return w


def audit_count(psql, entity_id=None):
    if entity_id is None:
        return int(psql("SELECT count(*) FROM audit_log WHERE entity = 'participants'")[0][0])
    return int(psql("SELECT count(*) FROM audit_log WHERE entity = 'participants' AND entity_id = %s",
                    entity_id)[0][0])


def rows_for(psql, employer, ref):
    return psql("SELECT id FROM participants WHERE employer_partner_id = %s AND external_ref = %s", employer, ref)


# --------------------------------------------------------------------------- PUT: created, updated, unchanged

def test_put_creates_updates_and_leaves_unchanged(hr, psql):
    a, ref = hr["a"], new_ref()
    body = employee(hr["P"])
    r = a.put(ref_path(ref), body)
    created = expect(r, 201)
    assert r.headers["Location"] == f"/v1/participants/{created['id']}"
    assert created["external_ref"] == ref and created["employer_partner_id"] == hr["A"]
    assert created["status"] == "applied" and created["kind"] == "mentor"
    assert created["email"] == body["email"] and created["languages"] == body["languages"]
    assert expect(a.get(r.headers["Location"]), 200) == created
    etag = r.headers["ETag"]

    # the same body again: 200, nothing written
    before = audit_count(psql, created["id"])
    r = a.put(ref_path(ref), body)
    assert expect(r, 200) == created and r.headers["ETag"] == etag
    assert audit_count(psql, created["id"]) == before

    # HR owns only what it sends: absent fields stay, null clears
    r = a.put(ref_path(ref), {"region": "Gent", "phone": None})
    updated = expect(r, 200)
    assert updated["region"] == "Gent" and updated["phone"] is None
    assert updated["email"] == body["email"] and updated["family_name"] == body["family_name"]
    assert updated["sectors"] == ["64.19"] and updated["capacity"] == 1
    assert updated["updated_at"] > created["updated_at"] and r.headers["ETag"] != etag
    assert updated["created_at"] == created["created_at"] and updated["id"] == created["id"]
    assert audit_count(psql, created["id"]) == before + 1

    # consent merges member by member; the external_ref may be repeated in the body
    r = a.put(ref_path(ref), {"external_ref": ref, "consent": {"data_processing": True}})
    c1 = expect(r, 200)["consent"]
    assert c1["data_processing"] is True and c1["research"] is False and c1["given_at"]
    r = a.put(ref_path(ref), {"consent": {"research": True}})
    c2 = expect(r, 200)["consent"]
    assert c2 == {"data_processing": True, "research": True, "given_at": c1["given_at"]}
    assert len(rows_for(psql, hr["A"], ref)) == 1


def test_put_creation_needs_the_core_fields(hr, coord, unchanged):
    ref = new_ref()
    with unchanged():
        r = hr["a"].put(ref_path(ref), {"email": "x@bank.example"})
        expect(r, 422)
        ptrs = {e["pointer"] for e in r.json()["errors"]}
        assert ptrs == {"/programme_id", "/kind", "/given_name", "/family_name"}
        expect(coord.put(ref_path(ref), employee(hr["P"], employer_partner_id=hr["A"], status="active")), 422,
               "/status")


def test_put_programme_and_kind_are_fixed(hr, unchanged):
    a, ref = hr["a"], new_ref()
    expect(a.put(ref_path(ref), employee(hr["P"])), 201)
    with unchanged():
        expect(a.put(ref_path(ref), {"kind": "mentee"}), 409)
        expect(a.put(ref_path(ref), {"external_ref": "something-else"}), 422, "/external_ref")
        expect(a.put(ref_path(ref), {"external_ref": None}), 422, "/external_ref")
        expect(a.put(ref_path(ref), {"given_name": None}), 422, "/given_name")
    # the same programme and kind may be repeated
    expect(a.put(ref_path(ref), {"programme_id": hr["P"], "kind": "mentor"}), 200)


def test_put_programme_change_is_409(make, client, tokens, unchanged):
    p1, p2, partner = make.programme()["id"], make.programme()["id"], make.partner()["id"]
    c = client(tokens("integration", partner=partner, prg=[p1, p2]))
    ref = new_ref()
    expect(c.put(ref_path(ref), employee(p1)), 201)
    with unchanged():
        expect(c.put(ref_path(ref), {"programme_id": p2}), 409)


def test_put_ref_is_percent_decoded(hr, psql, unchanged):
    a = hr["a"]
    ref = f"HR 42/é {uuid.uuid4().hex[:6]}".replace("/", "-")
    body = expect(a.put(ref_path(ref), employee(hr["P"])), 201)
    assert body["external_ref"] == ref
    assert expect(a.put(ref_path(ref), {"external_ref": ref}), 200)["id"] == body["id"]
    longest = "x" * 99 + uuid.uuid4().hex[:1]
    expect(a.put(ref_path(longest), employee(hr["P"])), 201)
    with unchanged():
        expect(a.put(ref_path("a/b"), employee(hr["P"])), 422)      # %2F
        expect(a.put(ref_path("tab\there"), employee(hr["P"])), 422)  # a control character
        expect(a.put(ref_path("y" * 101), employee(hr["P"])), 422)
        expect(a.put("/v1/participants/by-external-ref/%C3", employee(hr["P"])), 422)  # not UTF-8
        expect(a.put("/v1/participants/by-external-ref/a%00b", employee(hr["P"])), 422)


def test_put_if_match(hr, unchanged):
    a, ref = hr["a"], new_ref()
    with unchanged():
        expect(a.put(ref_path(ref), employee(hr["P"]), headers={"If-Match": '"0000000000000000"'}), 412)
        expect(a.put(ref_path(ref), employee(hr["P"]), headers={"If-Match": "*"}), 412)
    r = a.put(ref_path(ref), employee(hr["P"]))
    expect(r, 201)
    etag = r.headers["ETag"]
    r = a.put(ref_path(ref), {"region": "Gent"}, headers={"If-Match": etag})
    expect(r, 200)
    with unchanged():
        expect(a.put(ref_path(ref), {"region": "Brugge"}, headers={"If-Match": etag}), 412)
        expect(a.put(ref_path(ref), {"region": "Brugge"}, headers={"If-Match": "W/" + r.headers["ETag"]}), 412)
    assert expect(a.put(ref_path(ref), {"region": "Brugge"}, headers={"If-Match": f'"x", {r.headers["ETag"]}'}),
                  200)["region"] == "Brugge"


# --------------------------------------------------------------------------- the race

@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_puts_of_a_new_ref_make_one_row(hr, client, psql, attempt):
    ref, n = new_ref(), 8
    barrier = threading.Barrier(n)
    statuses, ids, errors = [], [], []
    lock = threading.Lock()
    body = employee(hr["P"])

    def run():
        c = client(hr["a_token"])
        try:
            barrier.wait(timeout=30)
            r = c.put(ref_path(ref), body)
            with lock:
                statuses.append(r.status_code)
                ids.append(r.json().get("id"))
        except Exception as e:  # reported below: an assert in a thread is lost
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(statuses) == [200] * (n - 1) + [201], statuses
    assert len(set(ids)) == 1
    assert len(rows_for(psql, hr["A"], ref)) == 1


def test_concurrent_batches_make_one_row_per_ref(hr, client, psql):
    refs = [new_ref() for _ in range(5)]
    items = [dict(employee(hr["P"]), external_ref=x) for x in refs]
    n = 4
    barrier = threading.Barrier(n)
    results, errors = [], []
    lock = threading.Lock()

    def run():
        c = client(hr["a_token"])
        try:
            barrier.wait(timeout=30)
            body = expect(c.post("/v1/participants/batch", {"items": items}), 200)
            with lock:
                results.append(body)
        except Exception as e:
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(b["created"] for b in results) == len(refs)
    assert sum(b["unchanged"] for b in results) == len(refs) * (n - 1)
    assert all(b["errors"] == 0 for b in results)
    for x in refs:
        assert len(rows_for(psql, hr["A"], x)) == 1


# --------------------------------------------------------------------------- batch

def test_batch_bad_row_in_the_middle(hr, psql):
    a = hr["a"]
    refs = [new_ref() for _ in range(5)]
    items = [dict(employee(hr["P"]), external_ref=x) for x in refs]
    items[2]["email"] = "not-an-address"
    items[2]["years_experience"] = "many"
    body = expect(a.post("/v1/participants/batch", {"items": items}), 200)
    assert (body["created"], body["updated"], body["unchanged"], body["errors"]) == (4, 0, 0, 1)
    assert [x["index"] for x in body["items"]] == list(range(5))
    assert [x["external_ref"] for x in body["items"]] == refs
    for i, x in enumerate(body["items"]):
        if i == 2:
            assert x["result"] == "error" and "id" not in x
            p = x["problem"]
            assert p["status"] == 422 and p["title"] and p["type"].endswith("/422")
            assert {e["pointer"] for e in p["errors"]} == {"/items/2/email", "/items/2/years_experience"}
            assert p["detail"].startswith("/items/2/")
            assert rows_for(psql, hr["A"], refs[2]) == []
        else:
            assert x["result"] == "created" and "problem" not in x
            got = expect(a.get(f"/v1/participants/{x['id']}"), 200)
            assert got["external_ref"] == refs[i] and got["employer_partner_id"] == hr["A"]


def test_batch_mixed_results_and_idempotent_resend(hr, psql, unchanged):
    a = hr["a"]
    old_ref, new1, new2, new3 = new_ref(), new_ref(), new_ref(), new_ref()
    same_ref = new_ref()
    expect(a.put(ref_path(old_ref), employee(hr["P"])), 201)
    same = expect(a.put(ref_path(same_ref), employee(hr["P"], region="Gent")), 201)
    items = [
        dict(employee(hr["P"]), external_ref=new1),
        {"external_ref": old_ref, "region": "Leuven"},
        {"external_ref": same_ref, "region": "Gent"},
        {"external_ref": new3, "given_name": "No programme"},
        dict(employee(hr["P"]), external_ref=new2),
    ]
    body = expect(a.post("/v1/participants/batch", {"items": items}), 200)
    assert [x["result"] for x in body["items"]] == ["created", "updated", "unchanged", "error", "created"]
    assert (body["created"], body["updated"], body["unchanged"], body["errors"]) == (2, 1, 1, 1)
    assert body["items"][2]["id"] == same["id"]
    ptrs = {e["pointer"] for e in body["items"][3]["problem"]["errors"]}
    assert {"/items/3/programme_id", "/items/3/kind", "/items/3/family_name"} <= ptrs

    # the good items again: nothing changes, not even the audit log
    again = [items[0], items[1], items[2], items[4]]
    audit = audit_count(psql)
    with unchanged():
        body = expect(a.post("/v1/participants/batch", {"items": again}), 200)
    assert [x["result"] for x in body["items"]] == ["unchanged"] * 4
    assert (body["created"], body["updated"], body["unchanged"], body["errors"]) == (0, 0, 4, 0)
    assert audit_count(psql) == audit


def test_batch_item_problems(hr, psql, unchanged):
    a = hr["a"]
    good = new_ref()
    items = [
        {"external_ref": new_ref(), "nickname": "x"},                 # unknown field: a 400 problem
        {"given_name": "No ref"},                                      # external_ref missing
        {"external_ref": None},
        {"external_ref": "with/slash"},
        {"external_ref": ""},
        "not an object",
        {"external_ref": new_ref(), "status": "waiting"},             # integration may not set status
        {"external_ref": new_ref(), "employer_partner_id": hr["B"]},  # another employer
        dict(employee(hr["P2"]), external_ref=new_ref()),              # a programme outside its claim
        dict(employee(hr["P"]), external_ref=good),
        {"external_ref": good, "region": "Gent"},                      # the same employee twice
    ]
    body = expect(a.post("/v1/participants/batch", {"items": items}), 200)
    res = body["items"]
    assert body["created"] == 1 and body["errors"] == len(items) - 1
    status = [x["problem"]["status"] if x["result"] == "error" else x["result"] for x in res]
    assert status == [400, 422, 422, 422, 422, 422, 403, 403, 422, "created", 422]
    ptr = [{e["pointer"] for e in x["problem"].get("errors", [])} if x["result"] == "error" else None for x in res]
    assert ptr[0] == {"/items/0/nickname"}
    assert ptr[1] == {"/items/1/external_ref"} and ptr[2] == {"/items/2/external_ref"}
    assert ptr[3] == {"/items/3/external_ref"} and ptr[4] == {"/items/4/external_ref"}
    assert ptr[5] == {"/items/5"} and ptr[8] == {"/items/8/programme_id"} and ptr[10] == {"/items/10/external_ref"}
    assert "status" in res[6]["problem"]["detail"]
    assert res[1]["external_ref"] is None and res[5]["external_ref"] is None
    assert expect(a.get(f"/v1/participants/{res[9]['id']}"), 200)["region"] is None


def test_batch_by_a_coordinator(hr, coord, psql):
    ref1, ref2 = new_ref(), new_ref()
    items = [dict(employee(hr["P"]), external_ref=ref1, employer_partner_id=hr["A"], status="waiting"),
             dict(employee(hr["P"]), external_ref=ref2),
             dict(employee(hr["P"]), external_ref=ref2, employer_partner_id=str(uuid.uuid4()))]
    body = expect(coord.post("/v1/participants/batch", {"items": items}), 200)
    assert [x["result"] for x in body["items"]] == ["created", "error", "error"]
    assert body["items"][1]["problem"]["errors"][0]["pointer"] == "/items/1/employer_partner_id"
    assert body["items"][2]["problem"]["errors"][0]["pointer"] == "/items/2/employer_partner_id"
    created = expect(hr["a"].get(f"/v1/participants/{body['items'][0]['id']}"), 200)
    assert created["status"] == "waiting" and created["external_ref"] == ref1
    # a status change off the path is the item's 409, pointing at its status
    body = expect(coord.post("/v1/participants/batch", {"items": [
        {"external_ref": ref1, "employer_partner_id": hr["A"], "status": "completed"}]}), 200)
    p = body["items"][0]["problem"]
    assert p["status"] == 409 and p["errors"][0]["pointer"] == "/items/0/status"


# --------------------------------------------------------------------------- coordinators on the PUT

def test_put_by_coordinators(hr, coord, client, tokens, unchanged):
    ref = new_ref()
    with unchanged():
        expect(coord.put(ref_path(ref), employee(hr["P"])), 422, "/employer_partner_id")
        expect(coord.put(ref_path(ref), employee(hr["P"], employer_partner_id=None)), 422, "/employer_partner_id")
        expect(coord.put(ref_path(ref), employee(hr["P"], employer_partner_id=str(uuid.uuid4()))), 422,
               "/employer_partner_id")
        expect(coord.put(ref_path(ref), employee(hr["P"], employer_partner_id=hr["A"],
                                                 referred_by_partner_id=str(uuid.uuid4()))), 422,
               "/referred_by_partner_id")
    body = expect(coord.put(ref_path(ref), employee(hr["P"], employer_partner_id=hr["A"], status="screened")), 201)
    assert body["status"] == "screened"
    # the HR client of A now finds the same person under the same ref
    assert expect(hr["a"].put(ref_path(ref), {"region": "Gent"}), 200)["id"] == body["id"]
    r = coord.put(ref_path(ref), {"employer_partner_id": hr["A"], "status": "waiting"})
    assert expect(r, 200)["status"] == "waiting"
    with unchanged():
        expect(coord.put(ref_path(ref), {"employer_partner_id": hr["A"], "status": "completed"}), 409)
        # a coordinator of another programme does not see the employee
        other = client(tokens("coordinator", prg=[hr["P2"]]))
        expect(other.put(ref_path(ref), {"employer_partner_id": hr["A"], "region": "Brugge"}), 404)
        expect(other.put(ref_path(new_ref()), employee(hr["P"], employer_partner_id=hr["A"])), 422,
               "/programme_id")


# --------------------------------------------------------------------------- integration scoping

def test_integration_scoping(hr, coord, make, psql, unchanged):
    a, b = hr["a"], hr["b"]
    ref = new_ref()
    mine = expect(a.put(ref_path(ref), employee(hr["P"])), 201)
    # the same HR id at another employer is another person
    theirs = expect(b.put(ref_path(ref), employee(hr["P"])), 201)
    assert theirs["id"] != mine["id"] and theirs["employer_partner_id"] == hr["B"]
    # a participant of the programme employed by nobody
    stranger = make.participant(hr["P"], kind="mentor")
    listed = {x["id"] for x in a.walk("/v1/participants")}
    assert mine["id"] in listed and theirs["id"] not in listed and stranger["id"] not in listed
    assert all(x["employer_partner_id"] == hr["A"] for x in a.walk("/v1/participants"))
    with unchanged():
        expect(a.get(f"/v1/participants/{theirs['id']}"), 404)
        expect(a.patch(f"/v1/participants/{theirs['id']}", {"region": "Gent"}), 404)
        expect(a.patch(f"/v1/participants/{stranger['id']}", {"region": "Gent"}), 404)
        # its own employee: not the status, not another employer
        expect(a.patch(f"/v1/participants/{mine['id']}", {"status": "screened"}), 403)
        expect(a.patch(f"/v1/participants/{mine['id']}", {"employer_partner_id": hr["B"]}), 403)
        expect(a.patch(f"/v1/participants/{mine['id']}", {"employer_partner_id": None}), 403)
        expect(a.patch(f"/v1/participants/{mine['id']}", {"programme_id": hr["P2"]}), 422, "/programme_id")
        expect(a.put(ref_path(ref), {"employer_partner_id": hr["B"]}), 403)
        expect(a.put(ref_path(ref), {"status": "screened"}), 403)
        # a programme outside its claim
        expect(a.put(ref_path(new_ref()), employee(hr["P2"])), 422, "/programme_id")
        expect(a.put(ref_path(ref), {"programme_id": hr["P2"]}), 422, "/programme_id")
    r = a.patch(f"/v1/participants/{mine['id']}", {"region": "Hasselt", "employer_partner_id": hr["A"].upper()},
                headers={"If-Match": a.get(f"/v1/participants/{mine['id']}").headers["ETag"]})
    assert expect(r, 200)["region"] == "Hasselt"
    assert expect(coord.get(f"/v1/participants/{theirs['id']}"), 200)["region"] is None


def test_integration_with_an_unknown_partner(client, tokens, make, unchanged):
    prog = make.programme()["id"]
    c = client(tokens("integration", partner=str(uuid.uuid4()), prg=[prog]))
    with unchanged():
        expect(c.put(ref_path(new_ref()), employee(prog)), 403)
        body = expect(c.post("/v1/participants/batch", {"items": [dict(employee(prog), external_ref=new_ref())]}),
                      200)
        assert body["items"][0]["problem"]["status"] == 403


# --------------------------------------------------------------------------- the role matrix

@pytest.mark.parametrize("role", ROLES)
def test_roles_on_the_hr_routes(hr, client, tokens, make, role, unchanged):
    partner = hr["A"] if role == "integration" else None
    c = client(tokens(role, prg=[hr["P"]], partner=partner))
    body = employee(hr["P"])
    if role != "integration":
        body["employer_partner_id"] = hr["A"]
    if role in ("coordinator", "integration"):
        ref = new_ref()
        expect(c.put(ref_path(ref), body), 201)
        expect(c.put(ref_path(ref), body), 200)
        res = expect(c.post("/v1/participants/batch", {"items": [dict(body, external_ref=ref)]}), 200)
        assert res["unchanged"] == 1
        return
    with unchanged():
        expect(c.put(ref_path(new_ref()), body), 403)
        expect(c.post("/v1/participants/batch", {"items": [dict(body, external_ref=new_ref())]}), 403)


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_without_a_change(hr, unchanged):
    a = hr["a"]
    ref = new_ref()
    put, batch = ref_path(ref), "/v1/participants/batch"
    json_ct = {"Content-Type": "application/json"}
    with unchanged():
        expect(a.request("PUT", put, data=b'{"region": ', headers=json_ct), 400)
        expect(a.request("POST", batch, data=b'{"items": [', headers=json_ct), 400)
        expect(a.request("PUT", put, data=b'[]', headers=json_ct), 400)
        expect(a.request("PUT", put, data=b'', headers=json_ct), 400)
        expect(a.request("PUT", put, data=b'{"region": "Gent"}', headers={"Content-Type": "text/plain"}), 415)
        expect(a.put(put, employee(hr["P"], nickname="Bob")), 400, "/nickname")
        expect(a.put(put, employee(hr["P"], languages=[{"code": "nl", "level": "C2", "x": 1}])), 400,
               "/languages/0/x")
        expect(a.post(batch, {"items": [dict(employee(hr["P"]), external_ref=ref)], "dry_run": True}), 400,
               "/dry_run")
        expect(a.put(put, employee(hr["P"]), params={"upsert": "1"}), 400)
        expect(a.put(put, employee(hr["P"], given_name=5)), 422, "/given_name")
        expect(a.put(put, employee(hr["P"], capacity="1")), 422, "/capacity")
        expect(a.put(put, employee(hr["P"], sectors="64.19")), 422, "/sectors")
        expect(a.put(put, employee(hr["P"], consent={"research": "yes"})), 422, "/consent/research")
        expect(a.put(put, employee(hr["P"], languages=[{"code": "nl", "level": "C2"},
                                                       {"code": "nl", "level": "B1"}])), 422,
               "/languages/1/code")
        expect(a.post(batch, {}), 422, "/items")
        expect(a.post(batch, {"items": {}}), 422, "/items")
        expect(a.post(batch, {"items": []}), 422, "/items")
        many = [{"external_ref": f"{ref}-{i}", "region": "Gent"} for i in range(501)]
        expect(a.post(batch, {"items": many}), 422, "/items")


def test_batch_of_500(hr):
    refs = [f"{new_ref()}-{i}" for i in range(500)]
    items = [{"external_ref": x, "programme_id": hr["P"], "kind": "mentor", "given_name": "G",
              "family_name": f"F{i}"} for i, x in enumerate(refs)]
    body = expect(hr["a"].post("/v1/participants/batch", {"items": items}), 200)
    assert body["created"] == 500 and len(body["items"]) == 500
    body = expect(hr["a"].post("/v1/participants/batch", {"items": items}), 200)
    assert body["unchanged"] == 500


# --------------------------------------------------------------------------- incremental pull

def test_incremental_pull_with_updated_since(make, client, tokens, coord):
    prog, partner = make.programme()["id"], make.partner()["id"]
    c = client(tokens("integration", partner=partner, prg=[prog]))
    refs = [new_ref() for _ in range(3)]
    body = expect(c.post("/v1/participants/batch",
                         {"items": [dict(employee(prog), external_ref=x) for x in refs]}), 200)
    e1, e2, e3 = (x["id"] for x in body["items"])

    # the first sync takes everything and remembers the latest change it saw
    seen = {x["id"]: x for x in c.walk("/v1/participants")}
    assert set(seen) == {e1, e2, e3}
    mark = max(x["updated_at"] for x in seen.values())
    assert seen[e3]["updated_at"] == mark

    # an unchanged upsert, a real change by HR, a change by the programme's coordinator
    expect(c.put(ref_path(refs[0]), {"region": None}), 200)
    expect(c.put(ref_path(refs[1]), {"region": "Gent"}), 200)
    changed = c.walk("/v1/participants", {"updated_since": mark})
    # updated_since is inclusive: the record at the mark comes again; a client dedupes by id
    assert {x["id"] for x in changed} == {e2, e3}
    assert {x["id"]: x for x in changed}[e2]["region"] == "Gent"

    expect(coord.patch(f"/v1/participants/{e1}", {"status": "screened"}), 200)
    mark2 = max(x["updated_at"] for x in changed)
    again = {x["id"] for x in c.walk("/v1/participants", {"updated_since": mark2})}
    assert e1 in again and e3 not in again
    expect(c.get("/v1/participants", params={"updated_since": "yesterday"}), 400)
