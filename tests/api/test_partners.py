"""Partner organisations."""
import uuid

from conftest import expect, unique


def full_partner():
    return {"name": unique("VDAB"), "kind": "referral",
            "contact": {"name": "An Peeters", "email": "an.peeters@example.org", "phone": "+32 3 555 12 34"},
            "agreement": {"kind": "ad_hoc", "signed_on": "2023-09-01"}, "active": True, "notes": "fixed contact"}


def test_create_get(coord):
    body = full_partner()
    r = coord.post("/v1/partners", body)
    p = expect(r, 201)
    assert r.headers["Location"].endswith(f"/v1/partners/{p['id']}")
    assert r.headers.get("ETag")
    for k in ("name", "kind", "contact", "agreement", "active", "notes"):
        assert p[k] == body[k], k
    g = coord.get(f"/v1/partners/{p['id']}")
    assert expect(g, 200) == p
    assert g.headers["ETag"] == r.headers["ETag"]


def test_create_minimal_defaults(coord):
    p = expect(coord.post("/v1/partners", {"name": unique(), "kind": "funder"}), 201)
    assert p["active"] is True
    assert p.get("notes") is None


def test_create_invalid(coord, unchanged):
    with unchanged():
        expect(coord.post("/v1/partners", dict(full_partner(), kind="bank")), 422, "/kind")
        expect(coord.post("/v1/partners", dict(full_partner(), agreement={"kind": "verbal"})), 422, "/agreement/kind")
        expect(coord.post("/v1/partners", dict(full_partner(), agreement={"kind": "formal", "signed_on": "2023-02-30"})),
               422, "/agreement/signed_on")
        expect(coord.post("/v1/partners", dict(full_partner(), contact={"email": "nope"})), 422, "/contact/email")
        expect(coord.post("/v1/partners", dict(full_partner(), contact={"phone": "call me"})), 422, "/contact/phone")
        expect(coord.post("/v1/partners", {"kind": "other"}), 422, "/name")
        expect(coord.post("/v1/partners", dict(full_partner(), website="x")), 400, "/website")
        expect(coord.post("/v1/partners", dict(full_partner(), contact={"fax": "1"})), 400, "/contact/fax")


def test_list_filters(coord, make):
    a = make.partner(kind="training", active=True)
    b = make.partner(kind="training", active=False)
    c = make.partner(kind="education", active=True)
    training = coord.walk("/v1/partners", {"kind": "training"})
    ids = {x["id"] for x in training}
    assert {a["id"], b["id"]} <= ids and c["id"] not in ids
    assert all(x["kind"] == "training" for x in training)
    inactive = coord.walk("/v1/partners", {"active": "false"})
    ids = {x["id"] for x in inactive}
    assert b["id"] in ids and a["id"] not in ids and c["id"] not in ids
    assert all(x["active"] is False for x in inactive)
    active_training = {x["id"] for x in coord.walk("/v1/partners", {"kind": "training", "active": "true"})}
    assert a["id"] in active_training and b["id"] not in active_training


def test_list_updated_since(coord, make, psql):
    old = make.partner()
    make.backdate("partners", old["id"])
    new = make.partner()
    ids = {x["id"] for x in coord.walk("/v1/partners", {"updated_since": new["updated_at"]})}
    assert new["id"] in ids and old["id"] not in ids


def test_list_bad_filters(coord):
    expect(coord.get("/v1/partners", params={"kind": "bank"}), 400)
    expect(coord.get("/v1/partners", params={"active": "yes"}), 400)
    expect(coord.get("/v1/partners", params={"updated_since": "now"}), 400)
    expect(coord.get("/v1/partners", params={"name": "x"}), 400)


def test_patch_merges_nested(coord, make):
    p = make.partner()
    r0 = coord.get(f"/v1/partners/{p['id']}")
    r = coord.patch(f"/v1/partners/{p['id']}", {"contact": {"phone": "+32 9 999 99 99"}, "active": False},
                    headers={"Content-Type": "application/merge-patch+json", "If-Match": r0.headers["ETag"]})
    q = expect(r, 200)
    assert q["contact"] == dict(p["contact"], phone="+32 9 999 99 99")
    assert q["active"] is False and q["name"] == p["name"] and q["agreement"] == p["agreement"]
    expect(coord.patch(f"/v1/partners/{p['id']}", {"notes": "x"}, headers={"If-Match": r0.headers["ETag"]}), 412)
    q2 = expect(coord.patch(f"/v1/partners/{p['id']}", {"notes": None, "contact": {"email": None}}), 200)
    assert q2.get("notes") is None and q2["contact"].get("email") is None
    assert q2["contact"]["name"] == p["contact"]["name"]


def test_patch_invalid(coord, make, unchanged):
    p = make.partner()
    with unchanged():
        expect(coord.patch(f"/v1/partners/{p['id']}", {"name": None}), 422, "/name")
        expect(coord.patch(f"/v1/partners/{p['id']}", {"kind": None}), 422, "/kind")
        expect(coord.patch(f"/v1/partners/{p['id']}", {"active": None}), 422, "/active")
        expect(coord.patch(f"/v1/partners/{p['id']}", {"kind": "bank"}), 422, "/kind")


def test_delete(coord, make):
    p = make.partner()
    expect(coord.delete(f"/v1/partners/{p['id']}"), 204)
    expect(coord.get(f"/v1/partners/{p['id']}"), 404)


def test_delete_while_participant_refers_is_409(coord, make, psql, unchanged):
    prog = make.programme()
    employer, referrer = make.partner(), make.partner()
    psql("INSERT INTO participants (programme_id, kind, given_name, family_name, employer_partner_id) "
         "VALUES (%s, 'mentor', 'A', 'B', %s)", prog["id"], employer["id"])
    psql("INSERT INTO participants (programme_id, kind, given_name, family_name, referred_by_partner_id) "
         "VALUES (%s, 'mentee', 'A', 'B', %s)", prog["id"], referrer["id"])
    with unchanged():
        expect(coord.delete(f"/v1/partners/{employer['id']}"), 409)
        expect(coord.delete(f"/v1/partners/{referrer['id']}"), 409)


def test_researcher_never_sees_contact(client, tokens, make):
    p = make.partner()
    r = client(tokens("researcher", prg="*"))
    one = expect(r.get(f"/v1/partners/{p['id']}"), 200)
    assert "contact" not in one
    assert one["name"] == p["name"]
    items = r.walk("/v1/partners")
    assert any(x["id"] == p["id"] for x in items)
    assert all("contact" not in x for x in items)
    for x in items:
        assert "An Peeters" not in str(x) and "contact@example.org" not in str(x)


def test_integration_sees_own_partner_only(client, tokens, make):
    own, other = make.partner(), make.partner()
    c = client(tokens("integration", partner=own["id"]))
    items = c.walk("/v1/partners")
    assert [x["id"] for x in items] == [own["id"]]
    assert expect(c.get(f"/v1/partners/{own['id']}"), 200)["id"] == own["id"]
    expect(c.get(f"/v1/partners/{other['id']}"), 404)
    expect(c.patch(f"/v1/partners/{own['id']}", {"notes": "mine"}), 403)


def test_unknown_partner(coord):
    expect(coord.get(f"/v1/partners/{uuid.uuid4()}"), 404)
    expect(coord.get("/v1/partners/x"), 404)
    expect(coord.delete(f"/v1/partners/{uuid.uuid4()}"), 404)
