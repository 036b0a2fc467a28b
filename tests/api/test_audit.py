"""GET /v1/audit: the audit log as coordinators read it (DESIGN.md: "audit log:
coordinator read"; every write audited in its own transaction)."""
import uuid

import pytest

from conftest import expect, unique

ROLES_REFUSED = ("coach", "mentor", "mentee", "researcher", "integration")


def entries(cl, **params):
    return cl.walk("/v1/audit", params)


def test_a_write_is_in_the_log_with_who_what_and_which_fields(coord, client, tokens, make):
    g = make.programme()
    me = str(uuid.uuid4())
    cl = client(tokens("coordinator", sub=me, prg=[g["id"]]))
    p = expect(cl.post("/v1/participants", {"programme_id": g["id"], "kind": "mentee", "given_name": "Aya",
                                            "family_name": unique("audit"), "email": "aya@example.org"}), 201)
    r = cl.patch(f"/v1/participants/{p['id']}", {"region": "Gent"},
                 headers={"Content-Type": "application/merge-patch+json"})
    expect(r, 200)
    rows = entries(cl, entity="participants", entity_id=p["id"])
    # newest first: the PATCH, then what the create wrote (the insert, and any
    # row update its triggers made in the same transaction)
    upd, crt = rows[0], rows[-1]
    assert upd["action"] == "update" and crt["action"] == "create", rows
    assert all(e["action"] == "update" and e["request_id"] == crt["request_id"] for e in rows[1:-1]), rows
    assert upd["actor"] == me and upd["actor_role"] == "coordinator"
    assert upd["request_id"] == r.headers["X-Request-Id"]
    assert "region" in upd["changed_fields"]
    assert "given_name" in crt["changed_fields"] and "family_name" in crt["changed_fields"]
    assert upd["programme_id"] == g["id"] and upd["entity"] == "participants"
    assert upd["id"] > crt["id"] and upd["at"] >= crt["at"]
    # field names only: the values written never appear in the log
    text = str(rows)
    assert "Gent" not in text and "aya@example.org" not in text and p["family_name"] not in text


def test_scope_follows_the_programmes_of_the_token(coord, client, tokens, make):
    a, b = make.programme(), make.programme()
    pa = make.participant(a["id"])
    pb = make.participant(b["id"])
    only_a = client(tokens("coordinator", prg=[a["id"]]))
    seen = {e["entity_id"] for e in entries(only_a, entity="participants")}
    assert pa["id"] in seen and pb["id"] not in seen
    assert all(e["programme_id"] == a["id"] for e in entries(only_a, entity="participants"))
    # organisation-level entities (partners) only for "*" coordinators
    partner = make.partner()
    assert not entries(only_a, entity="partners", entity_id=partner["id"])
    assert [e["action"] for e in entries(coord, entity="partners", entity_id=partner["id"])] == ["create"]
    # asking for another programme's entity gives an empty page, not an error
    assert not entries(only_a, entity_id=pb["id"])
    assert entries(coord, programme_id=b["id"], entity_id=pb["id"])


def test_filters_and_paging(coord, make):
    g = make.programme()
    people = [make.participant(g["id"]) for _ in range(5)]
    rows = entries(coord, programme_id=g["id"], entity="participants", action="create")
    assert {e["entity_id"] for e in rows} == {p["id"] for p in people}
    ids = [e["id"] for e in rows]
    assert ids == sorted(ids, reverse=True)
    # pages of 2 walk the same entries, in the same order, without repeats
    paged = coord.walk("/v1/audit", {"programme_id": g["id"], "entity": "participants"}, limit=2)
    assert [e["id"] for e in paged] == [e["id"] for e in entries(coord, programme_id=g["id"],
                                                                  entity="participants")]
    first = expect(coord.get("/v1/audit", params={"programme_id": g["id"], "limit": 1}), 200)
    assert len(first["items"]) == 1 and first["next_cursor"]
    newest = first["items"][0]
    later = entries(coord, programme_id=g["id"], updated_since=newest["at"])
    assert newest["id"] in {e["id"] for e in later}
    assert not entries(coord, programme_id=g["id"], updated_since="2999-01-01T00:00:00Z")
    assert all(e["action"] == "update" for e in entries(coord, programme_id=g["id"], action="update"))


@pytest.mark.parametrize("role", ROLES_REFUSED)
def test_other_roles_are_refused(client, tokens, make, role):
    g = make.programme()
    partner = str(uuid.uuid4()) if role == "integration" else None
    r = client(tokens(role, prg=[g["id"]], partner=partner)).get("/v1/audit")
    expect(r, 403)


def test_no_token_is_401(anon):
    expect(anon.get("/v1/audit"), 401)


@pytest.mark.parametrize("params", [
    {"entity": "Participants"}, {"entity": "x;drop"}, {"entity": ""}, {"action": "zap"},
    {"programme_id": "not-a-uuid"}, {"updated_since": "yesterday"}, {"limit": "0"}, {"limit": "abc"},
    {"cursor": "bm90LWEtY3Vyc29y"}, {"actor": "a" * 201}, {"colour": "blue"},
])
def test_bad_query_is_400_naming_the_parameter(coord, params, unchanged):
    with unchanged():
        r = coord.get("/v1/audit", params=params)
        body = expect(r, 400)
    name = next(iter(params))
    assert name in body["detail"], body


def test_a_cursor_of_another_list_is_refused(coord, make):
    make.programme()
    page = expect(coord.get("/v1/programmes", params={"limit": 1}), 200)
    assert page["next_cursor"]
    expect(coord.get("/v1/audit", params={"cursor": page["next_cursor"]}), 400)
