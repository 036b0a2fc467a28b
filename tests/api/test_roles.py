"""The role matrix: every endpoint, each of the six roles with a real token, on an
object of its own and one in another programme (or of another partner).

Expected answers follow DESIGN.md's roles table and the plan: a role that may
not call an operation at all gets 403; an object outside the caller's scope
gets 404; and no field the role may not see appears in what it gets."""
import uuid

import pytest

from conftest import ROLES, expect, unique

SHORT_PROFILE = {"id", "programme_id", "kind", "given_name", "family_name", "sectors", "occupations", "region",
                 "languages", "years_experience", "short_profile", "email", "phone"}


@pytest.fixture(scope="module")
def world(make, client, tokens):
    """P1 is "own" for every role, P2 "foreign"; partner A is the integration client's."""
    w = {}
    p1, p2 = make.programme(), make.programme()
    w["P1"], w["P2"] = p1["id"], p2["id"]
    a, b = make.partner(kind="employer"), make.partner(kind="employer")
    w["A"], w["B"] = a["id"], b["id"]
    w["M1"] = make.participant(p1["id"], kind="mentor", status="waiting", employer_partner_id=a["id"],
                               motivation="m1 motivation", short_profile="m1 profile")["id"]
    w["E1"] = make.participant(p1["id"], kind="mentee", status="waiting", motivation="e1 motivation")["id"]
    w["X1"] = make.participant(p1["id"], kind="mentee", status="waiting", employer_partner_id=a["id"])["id"]
    w["M2"] = make.participant(p2["id"], kind="mentor", status="waiting", employer_partner_id=b["id"])["id"]
    w["E2"] = make.participant(p2["id"], kind="mentee", status="waiting")["id"]
    make.pair(p1["id"], w["M1"], w["E1"], status="accepted", mentor_accepted=True, mentee_accepted=True)
    make.pair(p2["id"], w["M2"], w["E2"], status="accepted", mentor_accepted=True, mentee_accepted=True)
    coord_sub, coach_sub = str(uuid.uuid4()), str(uuid.uuid4())
    w["K1"] = make.staff([p1["id"]], role="coordinator", id=coord_sub)["id"]
    w["C1"] = make.staff([p1["id"]], role="coach", id=coach_sub)["id"]
    w["C2"] = make.staff([p2["id"]], role="coach")["id"]
    w["tokens"] = {
        "coordinator": tokens("coordinator", sub=coord_sub, prg=[p1["id"]]),
        "coach": tokens("coach", sub=coach_sub, prg=[p1["id"]]),
        "researcher": tokens("researcher", prg=[p1["id"]]),
        "mentor": tokens("mentor", sub=w["M1"], prg=[p1["id"]]),
        "mentee": tokens("mentee", sub=w["E1"], prg=[p1["id"]]),
        "integration": tokens("integration", partner=a["id"]),
    }
    w["c"] = {r: client(t) for r, t in w["tokens"].items()}
    return w


def ids(items):
    return {x["id"] for x in items}


# --------------------------------------------------------------------------- programmes

PROGRAMME_READERS = {"coordinator", "coach", "researcher", "mentor", "mentee"}


@pytest.mark.parametrize("role", ROLES)
def test_programmes_list(world, role):
    c = world["c"][role]
    if role not in PROGRAMME_READERS:
        expect(c.get("/v1/programmes"), 403)
        return
    seen = ids(c.walk("/v1/programmes"))
    assert world["P1"] in seen and world["P2"] not in seen
    if role in ("mentor", "mentee"):
        assert seen == {world["P1"]}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("sub", ["", "/topics"])
def test_programme_get(world, role, sub):
    c = world["c"][role]
    if role not in PROGRAMME_READERS:
        expect(c.get(f"/v1/programmes/{world['P1']}{sub}"), 403)
        expect(c.get(f"/v1/programmes/{world['P2']}{sub}"), 403)
        return
    expect(c.get(f"/v1/programmes/{world['P1']}{sub}"), 200)
    expect(c.get(f"/v1/programmes/{world['P2']}{sub}"), 404)


@pytest.mark.parametrize("role", ROLES)
def test_programme_create(world, role, unchanged):
    with unchanged():
        expect(world["c"][role].post("/v1/programmes", {"name": unique()}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_programme_patch(world, role, unchanged, coord):
    c = world["c"][role]
    own = expect(coord.get(f"/v1/programmes/{world['P1']}"), 200)
    if role == "coordinator":
        expect(c.patch(f"/v1/programmes/{world['P1']}", {"name": own["name"]}), 200)
        with unchanged():
            expect(c.patch(f"/v1/programmes/{world['P2']}", {"name": unique()}), 404)
        return
    with unchanged():
        expect(c.patch(f"/v1/programmes/{world['P1']}", {"name": unique()}), 403)
        expect(c.patch(f"/v1/programmes/{world['P2']}", {"name": unique()}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_programme_topics_put(world, role, unchanged, coord):
    c = world["c"][role]
    body = {"items": [{"key": "cv", "label": "CV"}]}
    if role == "coordinator":
        expect(c.put(f"/v1/programmes/{world['P1']}/topics", body), 200)
        with unchanged():
            expect(c.put(f"/v1/programmes/{world['P2']}/topics", body), 404)
        return
    with unchanged():
        expect(c.put(f"/v1/programmes/{world['P1']}/topics", body), 403)
        expect(c.put(f"/v1/programmes/{world['P2']}/topics", body), 403)


@pytest.mark.parametrize("role", ROLES)
def test_programme_delete(world, role, unchanged, make, client, tokens):
    q = make.programme()
    if role == "coordinator":
        own_coord = client(tokens("coordinator", prg=[q["id"]]))
        with unchanged():
            expect(world["c"][role].delete(f"/v1/programmes/{q['id']}"), 404)
        expect(own_coord.delete(f"/v1/programmes/{q['id']}"), 204)
        return
    with unchanged():
        expect(world["c"][role].delete(f"/v1/programmes/{q['id']}"), 403)


# --------------------------------------------------------------------------- staff

STAFF_READERS = {"coordinator", "coach"}


@pytest.mark.parametrize("role", ROLES)
def test_staff_list_and_get(world, role):
    c = world["c"][role]
    if role not in STAFF_READERS:
        expect(c.get("/v1/staff"), 403)
        expect(c.get(f"/v1/staff/{world['C1']}"), 403)
        expect(c.get(f"/v1/staff/{world['C2']}"), 403)
        return
    seen = ids(c.walk("/v1/staff"))
    assert {world["C1"], world["K1"]} <= seen and world["C2"] not in seen
    expect(c.get(f"/v1/staff/{world['C1']}"), 200)
    expect(c.get(f"/v1/staff/{world['C2']}"), 404)


@pytest.mark.parametrize("role", ROLES)
def test_staff_write(world, role, unchanged, make, coord):
    c = world["c"][role]
    new = {"id": str(uuid.uuid4()), "name": unique(), "role": "coach", "programmes": [world["P1"]]}
    own = make.staff([world["P1"]])
    foreign = make.staff([world["P2"]])
    if role == "coordinator":
        expect(c.post("/v1/staff", new), 201)
        expect(c.patch(f"/v1/staff/{own['id']}", {"name": unique()}), 200)
        with unchanged():
            expect(c.patch(f"/v1/staff/{foreign['id']}", {"name": unique()}), 404)
            expect(c.delete(f"/v1/staff/{foreign['id']}"), 404)
        expect(c.delete(f"/v1/staff/{own['id']}"), 204)
        return
    with unchanged():
        expect(c.post("/v1/staff", new), 403)
        expect(c.patch(f"/v1/staff/{own['id']}", {"name": unique()}), 403)
        expect(c.delete(f"/v1/staff/{own['id']}"), 403)
        expect(c.delete(f"/v1/staff/{foreign['id']}"), 403)


# --------------------------------------------------------------------------- partners

PARTNER_READERS = {"coordinator", "coach", "researcher", "integration"}


@pytest.mark.parametrize("role", ROLES)
def test_partners_read(world, role):
    c = world["c"][role]
    a, b = world["A"], world["B"]
    if role not in PARTNER_READERS:
        expect(c.get("/v1/partners"), 403)
        expect(c.get(f"/v1/partners/{a}"), 403)
        return
    items = c.walk("/v1/partners")
    if role == "integration":
        assert ids(items) == {a}
        assert "contact" in expect(c.get(f"/v1/partners/{a}"), 200)
        expect(c.get(f"/v1/partners/{b}"), 404)
        return
    assert {a, b} <= ids(items)
    one = expect(c.get(f"/v1/partners/{b}"), 200)
    if role == "researcher":
        assert "contact" not in one
        assert all("contact" not in x for x in items)
    else:
        assert one["contact"]["email"] == "contact@example.org"
        assert all("contact" in x for x in items)


@pytest.mark.parametrize("role", ROLES)
def test_partners_write(world, role, unchanged, make):
    c = world["c"][role]
    target = make.partner()
    if role == "coordinator":
        expect(c.post("/v1/partners", {"name": unique(), "kind": "other"}), 201)
        expect(c.patch(f"/v1/partners/{target['id']}", {"notes": "changed"}), 200)
        expect(c.delete(f"/v1/partners/{target['id']}"), 204)
        return
    with unchanged():
        expect(c.post("/v1/partners", {"name": unique(), "kind": "other"}), 403)
        expect(c.patch(f"/v1/partners/{world['A']}", {"notes": "changed"}), 403)
        expect(c.patch(f"/v1/partners/{target['id']}", {"notes": "changed"}), 403)
        expect(c.delete(f"/v1/partners/{target['id']}"), 403)


# --------------------------------------------------------------------------- participants

# what each role sees in the list, by world key
VISIBLE = {
    "coordinator": {"M1", "E1", "X1"},
    "coach": {"M1", "E1", "X1"},
    "mentor": {"M1", "E1"},
    "mentee": {"E1", "M1"},
    "integration": {"M1", "X1"},
}
ALL_PARTICIPANTS = ("M1", "E1", "X1", "M2", "E2")


@pytest.mark.parametrize("role", ROLES)
def test_participants_read(world, role):
    c = world["c"][role]
    if role == "researcher":
        expect(c.get("/v1/participants"), 403)
        for k in ALL_PARTICIPANTS:
            expect(c.get(f"/v1/participants/{world[k]}"), 403)
        return
    mine = {world[k] for k in VISIBLE[role]}
    listed = {x["id"]: x for x in c.walk("/v1/participants")}
    assert mine <= set(listed)
    assert not ({world[k] for k in ALL_PARTICIPANTS} - mine) & set(listed), "sees participants out of scope"
    if role in ("mentor", "mentee", "integration"):
        assert set(listed) == mine
    for k in ALL_PARTICIPANTS:
        r = c.get(f"/v1/participants/{world[k]}")
        if k in VISIBLE[role]:
            body = expect(r, 200)
            assert body == listed[world[k]], "the list and the single view differ"
        else:
            expect(r, 404)
    if role == "mentee":
        # the short profile of the mentor, nothing more
        m = listed[world["M1"]]
        assert set(m) <= SHORT_PROFILE, set(m) - SHORT_PROFILE
        assert "motivation" not in m and "employer_partner_id" not in m and "status" not in m
    if role == "mentor":
        assert listed[world["E1"]]["motivation"] == "e1 motivation"


@pytest.mark.parametrize("role", ROLES)
def test_participants_create(world, role, unchanged):
    c = world["c"][role]
    body = {"programme_id": world["P1"], "kind": "mentee", "given_name": "N", "family_name": unique()}
    if role in ("coordinator", "coach"):
        expect(c.post("/v1/participants", body), 201)
        with unchanged():
            expect(c.post("/v1/participants", dict(body, programme_id=world["P2"])), 422, "/programme_id")
        return
    with unchanged():
        expect(c.post("/v1/participants", body), 403)


@pytest.mark.parametrize("role", ROLES)
def test_participants_patch(world, role, unchanged):
    c = world["c"][role]
    w = world
    if role in ("coordinator", "coach"):
        expect(c.patch(f"/v1/participants/{w['X1']}", {"region": "Gent"}), 200)
        with unchanged():
            expect(c.patch(f"/v1/participants/{w['E2']}", {"region": "Gent"}), 404)
        return
    if role in ("mentor", "mentee"):
        me = w["M1"] if role == "mentor" else w["E1"]
        counterpart = w["E1"] if role == "mentor" else w["M1"]
        expect(c.patch(f"/v1/participants/{me}", {"region": "Gent"}), 200)
        with unchanged():
            expect(c.patch(f"/v1/participants/{counterpart}", {"region": "Gent"}), 403)
            expect(c.patch(f"/v1/participants/{w['X1']}", {"region": "Gent"}), 404)
            expect(c.patch(f"/v1/participants/{w['E2']}", {"region": "Gent"}), 404)
        return
    if role == "integration":
        # its own employees (employer A), nobody else's
        expect(c.patch(f"/v1/participants/{w['X1']}", {"region": "Gent"}), 200)
        with unchanged():
            expect(c.patch(f"/v1/participants/{w['E1']}", {"region": "Gent"}), 404)
            expect(c.patch(f"/v1/participants/{w['M2']}", {"region": "Gent"}), 404)
        return
    with unchanged():
        expect(c.patch(f"/v1/participants/{w['X1']}", {"region": "Gent"}), 403)
        expect(c.patch(f"/v1/participants/{w['M2']}", {"region": "Gent"}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_participants_delete_is_for_coordinators_only(world, role):
    """DELETE is the GDPR erasure (test_gdpr.py): coordinators only; here on an id nobody has."""
    r = world["c"][role].delete(f"/v1/participants/{uuid.uuid4()}")
    expect(r, 404 if role == "coordinator" else 403)
