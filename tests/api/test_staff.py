"""Staff: the coordinators and coaches the service knows."""
import uuid

from conftest import expect, unique


def test_create_get_and_location(coord, make):
    p = make.programme()
    sid = str(uuid.uuid4())
    body = {"id": sid, "name": unique("Bram"), "email": "bram@example.org", "role": "coach", "programmes": [p["id"]]}
    r = coord.post("/v1/staff", body)
    s = expect(r, 201)
    assert r.headers["Location"].endswith(f"/v1/staff/{sid}")
    assert r.headers.get("ETag")
    assert s["id"] == sid and s["name"] == body["name"] and s["email"] == body["email"]
    assert s["role"] == "coach" and s["programmes"] == [p["id"]]
    g = coord.get(f"/v1/staff/{sid}")
    assert expect(g, 200) == s
    assert g.headers["ETag"] == r.headers["ETag"]


def test_create_without_email_and_programmes(coord):
    sid = str(uuid.uuid4())
    s = expect(coord.post("/v1/staff", {"id": sid, "name": unique(), "role": "coordinator", "programmes": []}), 201)
    assert s.get("email") is None and s["programmes"] == []


def test_create_duplicate_id_is_409(coord, make, unchanged):
    s = make.staff([])
    with unchanged():
        expect(coord.post("/v1/staff", {"id": s["id"], "name": unique(), "role": "coach", "programmes": []}), 409)


def test_create_invalid(coord, unchanged):
    good = {"id": str(uuid.uuid4()), "name": unique(), "role": "coach", "programmes": []}
    with unchanged():
        expect(coord.post("/v1/staff", dict(good, role="mentor")), 422, "/role")
        expect(coord.post("/v1/staff", dict(good, id="bram")), 422, "/id")
        expect(coord.post("/v1/staff", dict(good, email="not-an-email")), 422, "/email")
        expect(coord.post("/v1/staff", dict(good, name="")), 422, "/name")
        expect(coord.post("/v1/staff", dict(good, programmes=["nope"])), 422, "/programmes/0")
        expect(coord.post("/v1/staff", dict(good, programmes=[str(uuid.uuid4())])), 422, "/programmes/0")
        missing = dict(good)
        del missing["role"]
        expect(coord.post("/v1/staff", missing), 422, "/role")
        expect(coord.post("/v1/staff", dict(good, phone="123")), 400, "/phone")


def test_list_filters(coord, make):
    p1, p2 = make.programme(), make.programme()
    a = make.staff([p1["id"]], role="coach")
    b = make.staff([p1["id"], p2["id"]], role="coordinator")
    c = make.staff([p2["id"]], role="coach")
    in_p1 = {x["id"] for x in coord.walk("/v1/staff", {"programme_id": p1["id"]})}
    assert in_p1 == {a["id"], b["id"]}
    coaches = coord.walk("/v1/staff", {"role": "coach"})
    ids = {x["id"] for x in coaches}
    assert a["id"] in ids and c["id"] in ids and b["id"] not in ids
    assert all(x["role"] == "coach" for x in coaches)
    both = {x["id"] for x in coord.walk("/v1/staff", {"programme_id": p2["id"], "role": "coach"})}
    assert both == {c["id"]}


def test_list_updated_since(coord, make, psql):
    p = make.programme()
    old = make.staff([p["id"]])
    make.backdate("staff", old["id"])
    new = make.staff([p["id"]])
    ids = {x["id"] for x in coord.walk("/v1/staff", {"programme_id": p["id"], "updated_since": new["updated_at"]})}
    assert ids == {new["id"]}


def test_list_bad_filters(coord):
    expect(coord.get("/v1/staff", params={"role": "mentor"}), 400)
    expect(coord.get("/v1/staff", params={"programme_id": "x"}), 400)
    expect(coord.get("/v1/staff", params={"updated_since": "2024-01-01"}), 400)
    expect(coord.get("/v1/staff", params={"name": "x"}), 400)


def test_patch(coord, make):
    p1, p2 = make.programme(), make.programme()
    s = make.staff([p1["id"]])
    r0 = coord.get(f"/v1/staff/{s['id']}")
    r = coord.patch(f"/v1/staff/{s['id']}", {"email": "new@example.org", "programmes": [p2["id"]]},
                    headers={"Content-Type": "application/merge-patch+json", "If-Match": r0.headers["ETag"]})
    t = expect(r, 200)
    assert t["email"] == "new@example.org" and t["programmes"] == [p2["id"]] and t["name"] == s["name"]
    assert r.headers["ETag"] != r0.headers["ETag"]
    expect(coord.patch(f"/v1/staff/{s['id']}", {"name": unique()}, headers={"If-Match": r0.headers["ETag"]}), 412)
    t2 = expect(coord.patch(f"/v1/staff/{s['id']}", {"email": None}), 200)
    assert t2.get("email") is None


def test_patch_invalid(coord, make, unchanged):
    s = make.staff([])
    with unchanged():
        expect(coord.patch(f"/v1/staff/{s['id']}", {"name": None}), 422, "/name")
        expect(coord.patch(f"/v1/staff/{s['id']}", {"role": "researcher"}), 422, "/role")
        expect(coord.patch(f"/v1/staff/{s['id']}", {"programmes": [str(uuid.uuid4())]}), 422, "/programmes/0")
        r = coord.patch(f"/v1/staff/{s['id']}", {"id": str(uuid.uuid4())})
        assert r.status_code in (400, 422), r.text  # the id never changes: unknown or read-only
        expect(r, r.status_code, "/id")


def test_delete(coord, make):
    s = make.staff([])
    expect(coord.delete(f"/v1/staff/{s['id']}"), 204)
    expect(coord.get(f"/v1/staff/{s['id']}"), 404)
    expect(coord.delete(f"/v1/staff/{s['id']}"), 404)


def test_delete_if_match(coord, make, unchanged):
    s = make.staff([])
    with unchanged():
        expect(coord.delete(f"/v1/staff/{s['id']}", headers={"If-Match": '"0000000000000000"'}), 412)


def test_unknown_staff(coord):
    expect(coord.get(f"/v1/staff/{uuid.uuid4()}"), 404)
    expect(coord.get("/v1/staff/bram"), 404)
    expect(coord.patch(f"/v1/staff/{uuid.uuid4()}", {"name": "x"}), 404)


def test_listed_coordinator_assigns_only_own_programmes(client, tokens, make, unchanged):
    own, other = make.programme(), make.programme()
    c = client(tokens("coordinator", prg=[own["id"]]))
    with unchanged():
        expect(c.post("/v1/staff", {"id": str(uuid.uuid4()), "name": unique(), "role": "coach",
                                    "programmes": [other["id"]]}), 403)
        expect(c.post("/v1/staff", {"id": str(uuid.uuid4()), "name": unique(), "role": "coach",
                                    "programmes": []}), 403)
    expect(c.post("/v1/staff", {"id": str(uuid.uuid4()), "name": unique(), "role": "coach",
                                "programmes": [own["id"]]}), 201)


def test_coach_sees_colleagues_and_self_only(client, tokens, make):
    p1, p2 = make.programme(), make.programme()
    me = make.staff([p1["id"]])
    colleague = make.staff([p1["id"]])
    stranger = make.staff([p2["id"]])
    c = client(tokens("coach", sub=me["id"], prg=[p1["id"]]))
    ids = {x["id"] for x in c.walk("/v1/staff")}
    assert {me["id"], colleague["id"]} <= ids and stranger["id"] not in ids
    expect(c.get(f"/v1/staff/{stranger['id']}"), 404)
    expect(c.get(f"/v1/staff/{colleague['id']}"), 200)
    expect(c.patch(f"/v1/staff/{colleague['id']}", {"name": "x"}), 403)
