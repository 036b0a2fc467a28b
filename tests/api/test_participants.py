"""Participants: intake, filters, the status path, what mentors, mentees and
integration clients see."""
import datetime
import uuid

import pytest

from conftest import expect, unique

STATUSES = ["applied", "screened", "waiting", "matched", "active", "completed", "withdrawn", "rejected"]
LEGAL = {
    "applied": {"screened", "rejected", "withdrawn"},
    "screened": {"waiting", "rejected", "withdrawn"},
    "waiting": {"matched", "withdrawn"},
    "matched": {"active", "waiting", "withdrawn"},
    "active": {"completed", "withdrawn", "waiting"},
    "completed": {"waiting"},
    "withdrawn": {"applied"},
    "rejected": {"applied"},
}
# how to reach each status from "applied" by legal steps
ROUTE = {
    "applied": [], "screened": ["screened"], "waiting": ["screened", "waiting"],
    "matched": ["screened", "waiting", "matched"], "active": ["screened", "waiting", "matched", "active"],
    "completed": ["screened", "waiting", "matched", "active", "completed"],
    "withdrawn": ["withdrawn"], "rejected": ["rejected"],
}
SHORT_PROFILE = {"id", "programme_id", "kind", "given_name", "family_name", "sectors", "occupations", "region",
                 "languages", "years_experience", "short_profile"}


def full_mentee(programme_id, **kw):
    body = {"programme_id": programme_id, "kind": "mentee", "given_name": "Jonas", "family_name": unique("Peeters"),
            "email": "jonas@example.org", "phone": "+32 471 30 40 01", "status": "screened",
            "sectors": ["64.19"], "occupations": ["3312"], "region": "Antwerpen", "availability": ["evenings"],
            "languages": [{"code": "nl", "level": "C2"}, {"code": "fr", "level": "B2"}], "years_experience": 12,
            "education_level": "master", "job_target": "Teacher of economics", "motivation": "Meaningful work",
            "arrival_on": "2019-03-01", "external_ref": unique("HR"), "capacity": None,
            "short_profile": "Banker for 12 years", "cv_url": "https://cv.example.org/jonas.pdf",
            "consent": {"data_processing": True, "research": False}}
    body.update(kw)
    return body


# --------------------------------------------------------------------------- CRUD

def test_create_full_and_get(coord, make):
    prog = make.programme()
    partner = make.partner()
    body = full_mentee(prog["id"], employer_partner_id=partner["id"], referred_by_partner_id=partner["id"])
    r = coord.post("/v1/participants", body)
    p = expect(r, 201)
    assert r.headers["Location"].endswith(f"/v1/participants/{p['id']}")
    assert r.headers.get("ETag")
    for k, v in body.items():
        if k == "consent":
            assert p["consent"]["data_processing"] is True and p["consent"]["research"] is False
            assert p["consent"]["given_at"], "a consent given without given_at records the time"
        else:
            assert p[k] == v, k
    assert p["status"] == "screened"
    g = coord.get(f"/v1/participants/{p['id']}")
    assert expect(g, 200) == p
    assert g.headers["ETag"] == r.headers["ETag"]


def test_create_minimal_starts_applied(make):
    prog = make.programme()
    p = make.participant(prog["id"], kind="mentor")
    assert p["status"] == "applied" and p["kind"] == "mentor"
    assert p["sectors"] == [] and p["occupations"] == [] and p["availability"] == [] and p["languages"] == []
    assert p.get("waiting_since") is None


def test_create_waiting_sets_waiting_since(make):
    prog = make.programme()
    p = make.participant(prog["id"], status="waiting")
    assert p["status"] == "waiting" and p["waiting_since"]


@pytest.mark.parametrize("status", ["matched", "active", "completed", "withdrawn", "rejected"])
def test_create_in_a_later_status_is_422(coord, make, unchanged, status):
    prog = make.programme()
    with unchanged():
        expect(coord.post("/v1/participants", full_mentee(prog["id"], status=status)), 422, "/status")


def test_create_in_foreign_programme_is_refused(client, tokens, make, unchanged):
    own, other = make.programme(), make.programme()
    coach = client(tokens("coach", prg=[own["id"]]))
    expect(coach.post("/v1/participants", full_mentee(own["id"])), 201)
    with unchanged():
        expect(coach.post("/v1/participants", full_mentee(other["id"])), 422, "/programme_id")
        expect(coach.post("/v1/participants", full_mentee(str(uuid.uuid4()))), 422, "/programme_id")


def test_create_unknown_partner_is_422(coord, make, unchanged):
    prog = make.programme()
    with unchanged():
        expect(coord.post("/v1/participants", full_mentee(prog["id"], employer_partner_id=str(uuid.uuid4()))), 422,
               "/employer_partner_id")
        expect(coord.post("/v1/participants", full_mentee(prog["id"], referred_by_partner_id=str(uuid.uuid4()))),
               422, "/referred_by_partner_id")


def test_duplicate_external_ref_per_employer_is_409(coord, make, unchanged):
    prog, partner = make.programme(), make.partner()
    ref = unique("HR")
    make.participant(prog["id"], employer_partner_id=partner["id"], external_ref=ref)
    with unchanged():
        expect(coord.post("/v1/participants", full_mentee(prog["id"], employer_partner_id=partner["id"],
                                                          external_ref=ref)), 409)
    make.participant(prog["id"], employer_partner_id=make.partner()["id"], external_ref=ref)


def test_create_invalid_values(coord, make, unchanged):
    prog = make.programme()
    cases = [
        ({"kind": "buddy"}, "/kind"),
        ({"sectors": ["A", "B", "C"]}, "/sectors"),
        ({"sectors": ["ZZ"]}, "/sectors/0"),
        ({"occupations": ["12345"]}, "/occupations/0"),
        ({"availability": ["mornings"]}, "/availability/0"),
        ({"languages": [{"code": "nl", "level": "D1"}]}, "/languages/0/level"),
        ({"languages": [{"code": "dutch", "level": "B1"}]}, "/languages/0/code"),
        ({"languages": [{"code": "nl", "level": "B1"}, {"code": "nl", "level": "C1"}]}, "/languages/1/code"),
        ({"years_experience": 81}, "/years_experience"),
        ({"years_experience": -1}, "/years_experience"),
        ({"capacity": 101}, "/capacity"),
        ({"education_level": "phd"}, "/education_level"),
        ({"email": "jonas"}, "/email"),
        ({"phone": "call me maybe"}, "/phone"),
        ({"cv_url": "javascript:alert(1)"}, "/cv_url"),
        ({"arrival_on": "2019-13-01"}, "/arrival_on"),
        ({"given_name": ""}, "/given_name"),
        ({"consent": {"data_processing": True, "given_at": "yesterday"}}, "/consent/given_at"),
    ]
    with unchanged():
        for change, pointer in cases:
            expect(coord.post("/v1/participants", full_mentee(prog["id"], **change)), 422, pointer)


def test_get_unknown(coord):
    expect(coord.get(f"/v1/participants/{uuid.uuid4()}"), 404)
    expect(coord.get("/v1/participants/42"), 404)
    expect(coord.patch(f"/v1/participants/{uuid.uuid4()}", {"region": "Gent"}), 404)


def test_patch_fields(coord, make):
    prog = make.programme()
    p = make.participant(prog["id"], region="Antwerpen", sectors=["85"])
    r0 = coord.get(f"/v1/participants/{p['id']}")
    r = coord.patch(f"/v1/participants/{p['id']}",
                    {"region": "Gent", "sectors": ["85", "85.31"], "languages": [{"code": "en", "level": "B2"}],
                     "consent": {"research": True}},
                    headers={"Content-Type": "application/merge-patch+json", "If-Match": r0.headers["ETag"]})
    q = expect(r, 200)
    assert q["region"] == "Gent" and q["sectors"] == ["85", "85.31"]
    assert q["languages"] == [{"code": "en", "level": "B2"}]
    assert q["consent"]["research"] is True and q["consent"]["given_at"]
    assert q["given_name"] == p["given_name"] and q["email"] == p["email"]
    assert r.headers["ETag"] != r0.headers["ETag"]
    q2 = expect(coord.patch(f"/v1/participants/{p['id']}", {"region": None, "email": None}), 200)
    assert q2.get("region") is None and q2.get("email") is None


def test_patch_read_only_and_required(coord, make, unchanged):
    prog, other = make.programme(), make.programme()
    p = make.participant(prog["id"])
    with unchanged():
        expect(coord.patch(f"/v1/participants/{p['id']}", {"given_name": None}), 422, "/given_name")
        for field, value in [("programme_id", other["id"]), ("kind", "mentor"), ("id", str(uuid.uuid4())),
                             ("created_at", "2020-01-01T00:00:00Z")]:
            r = coord.patch(f"/v1/participants/{p['id']}", {field: value})
            assert r.status_code in (400, 409, 422), r.text
            if r.status_code != 409:
                expect(r, r.status_code, f"/{field}")


def test_delete_is_erasure_and_for_coordinators_only(client, tokens, make, unchanged):
    """DELETE erases personal data (GDPR) and keeps the record: test_gdpr.py; nobody but a
    coordinator may, and the row is never removed."""
    prog = make.programme()
    p = make.participant(prog["id"])
    with unchanged():
        expect(client(tokens("coach", prg=[prog["id"]])).delete(f"/v1/participants/{p['id']}"), 403)


# --------------------------------------------------------------------------- filters

@pytest.fixture(scope="module")
def filter_world(make, psql):
    prog = make.programme()
    other = make.programme()
    w = {"prog": prog["id"]}
    w["a"] = make.participant(prog["id"], kind="mentee", given_name="Fatima", family_name=unique("Zahra"),
                              status="waiting", sectors=["85.31"], occupations=["2330"], region="Antwerpen")
    w["b"] = make.participant(prog["id"], kind="mentor", given_name="Marc", family_name=unique("Broeck"),
                              status="screened", sectors=["64.19", "K"], occupations=["2341"], region="Gent")
    w["c"] = make.participant(prog["id"], kind="mentee", given_name="Jonas", family_name=unique("Peeters"),
                              status="waiting", sectors=["A"], occupations=["3312"], region="GENT")
    w["d"] = make.participant(other["id"], kind="mentee", given_name="Fatima", family_name=unique("Zahra"),
                              status="waiting", sectors=["85"], occupations=["23"], region="Antwerpen")
    make.backdate("participants", w["a"]["id"], "2024-01-10T12:00:00Z", "waiting_since")
    make.backdate("participants", w["c"]["id"], "2024-03-10T12:00:00Z", "waiting_since")
    return w


def ids_of(coord, **params):
    return {x["id"] for x in coord.walk("/v1/participants", params)}


def test_filter_programme(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"]) == {w["a"]["id"], w["b"]["id"], w["c"]["id"]}


def test_filter_status(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], status="waiting") == {w["a"]["id"], w["c"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], status="screened") == {w["b"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], status="active") == set()


def test_filter_kind(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], kind="mentor") == {w["b"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], kind="mentee") == {w["a"]["id"], w["c"]["id"]}


def test_filter_sector(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], sector="85") == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], sector="85.31") == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], sector="K") == {w["b"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], sector="A") == {w["c"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], sector="86") == set()


def test_filter_occupation(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], occupation="23") == {w["a"]["id"], w["b"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], occupation="2330") == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], occupation="3") == {w["c"]["id"]}


def test_filter_region(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], region="gent") == {w["b"]["id"], w["c"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], region="Antwerpen") == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], region="Brussel") == set()


def test_filter_waiting_since(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], waiting_since="2024-01-09") == set()
    assert ids_of(coord, programme_id=w["prog"], waiting_since="2024-01-10") == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], waiting_since="2024-06-01") == {w["a"]["id"], w["c"]["id"]}


def test_filter_q(coord, filter_world):
    w = filter_world
    fam = w["a"]["family_name"]
    assert ids_of(coord, programme_id=w["prog"], q=fam.upper()) == {w["a"]["id"]}
    assert ids_of(coord, q=fam) == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], q="fatima") == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], q="Fatima " + fam[:10]) == {w["a"]["id"]}
    assert ids_of(coord, programme_id=w["prog"], q="%") == set()
    assert ids_of(coord, programme_id=w["prog"], q="_") == set()


def test_filter_updated_since(coord, filter_world, make):
    w = filter_world
    make.backdate("participants", w["b"]["id"])
    got = ids_of(coord, programme_id=w["prog"], updated_since="2010-01-01T00:00:00Z")
    assert w["b"]["id"] not in got and w["a"]["id"] in got


def test_filters_combined(coord, filter_world):
    w = filter_world
    assert ids_of(coord, programme_id=w["prog"], kind="mentee", region="gent", status="waiting") == {w["c"]["id"]}


@pytest.mark.parametrize("name,value", [
    ("programme_id", "x"), ("status", "sleeping"), ("kind", "buddy"), ("sector", "ZZ"), ("occupation", "12345"),
    ("occupation", "ab"), ("waiting_since", "2024-02-30"), ("waiting_since", "yesterday"),
    ("updated_since", "2024-01-01"), ("q", ""), ("q", "x" * 101), ("region", ""), ("colour", "red"),
])
def test_filter_bad_values(coord, name, value):
    expect(coord.get("/v1/participants", params={name: value}), 400)


# --------------------------------------------------------------------------- status path

def _in_status(coord, make, prog_id, status):
    start = "waiting" if status in ("waiting", "matched", "active", "completed") else "applied"
    p = make.participant(prog_id, status=start)
    steps = ROUTE[status]
    if start == "waiting":
        steps = steps[steps.index("waiting") + 1:]
    for s in steps:
        body = {"status": s}
        if s == "rejected":  # a rejection needs its reason (issue 6)
            body["rejection"] = {"reason": "Not a fit for this programme"}
        expect(coord.patch(f"/v1/participants/{p['id']}", body), 200)
    return p


@pytest.fixture(scope="module")
def status_programme(make):
    return make.programme()["id"]


@pytest.mark.parametrize("old", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_status_transition(coord, make, status_programme, unchanged, old, new):
    p = _in_status(coord, make, status_programme, old)
    path = f"/v1/participants/{p['id']}"
    if new in LEGAL[old] or new == old:
        body = {"status": new}
        if new == "rejected" and old != "rejected":  # a rejection needs its reason (issue 6)
            body["rejection"] = {"reason": "Not a fit for this programme"}
        q = expect(coord.patch(path, body), 200)
        assert q["status"] == new
        if new == "waiting":
            assert q["waiting_since"]
        else:
            assert q.get("waiting_since") is None
    else:
        with unchanged():
            r = coord.patch(path, {"status": new})
            expect(r, 409)
        assert expect(coord.get(path), 200)["status"] == old


def test_status_change_moves_status_changed_at(coord, make):
    prog = make.programme()
    p = make.participant(prog["id"])
    q = expect(coord.patch(f"/v1/participants/{p['id']}", {"status": "screened"}), 200)
    assert q["status_changed_at"] > p["status_changed_at"]
    q2 = expect(coord.patch(f"/v1/participants/{p['id']}", {"region": "Gent"}), 200)
    assert q2["status_changed_at"] == q["status_changed_at"]


def test_coach_changes_status(client, tokens, make):
    prog = make.programme()
    p = make.participant(prog["id"])
    coach = client(tokens("coach", prg=[prog["id"]]))
    assert expect(coach.patch(f"/v1/participants/{p['id']}", {"status": "screened"}), 200)["status"] == "screened"


# --------------------------------------------------------------------------- mentors, mentees, contact

@pytest.fixture
def pair_world(make, client, tokens):
    prog = make.programme()
    mentor = make.participant(prog["id"], kind="mentor", status="waiting", email="mentor@example.org",
                              phone="+32 470 00 00 01", motivation="private mentor motivation",
                              short_profile="Teacher, ex-banker", sectors=["85"], languages=[{"code": "nl", "level": "C2"}],
                              years_experience=20, external_ref=unique("M"), cv_url="https://cv.example.org/m.pdf")
    mentee = make.participant(prog["id"], kind="mentee", status="waiting", email="mentee@example.org",
                              phone="+32 470 00 00 02", motivation="private mentee motivation",
                              short_profile="Banker", job_target="Teacher")
    stranger = make.participant(prog["id"], kind="mentee", status="waiting")
    return {
        "prog": prog["id"], "mentor": mentor, "mentee": mentee, "stranger": stranger,
        "as_mentor": client(tokens("mentor", sub=mentor["id"], prg=[prog["id"]])),
        "as_mentee": client(tokens("mentee", sub=mentee["id"], prg=[prog["id"]])),
    }


def test_self_is_visible_in_full(pair_world, coord):
    w = pair_world
    for who, c in (("mentor", w["as_mentor"]), ("mentee", w["as_mentee"])):
        mine = expect(c.get(f"/v1/participants/{w[who]['id']}"), 200)
        assert mine == expect(coord.get(f"/v1/participants/{w[who]['id']}"), 200)


def test_without_pair_nothing_else_is_visible(pair_world):
    w = pair_world
    expect(w["as_mentor"].get(f"/v1/participants/{w['mentee']['id']}"), 404)
    expect(w["as_mentee"].get(f"/v1/participants/{w['mentor']['id']}"), 404)
    assert {x["id"] for x in w["as_mentor"].walk("/v1/participants")} == {w["mentor"]["id"]}
    assert {x["id"] for x in w["as_mentee"].walk("/v1/participants")} == {w["mentee"]["id"]}


@pytest.mark.parametrize("accepted", ["none", "mentor_only", "mentee_only"])
def test_contact_hidden_until_both_accepted(pair_world, make, accepted):
    w = pair_world
    make.pair(w["prog"], w["mentor"]["id"], w["mentee"]["id"], status="proposed",
              mentor_accepted=accepted == "mentor_only", mentee_accepted=accepted == "mentee_only")
    # the mentor sees the mentee's full profile, without e-mail and phone
    seen = expect(w["as_mentor"].get(f"/v1/participants/{w['mentee']['id']}"), 200)
    assert "email" not in seen and "phone" not in seen
    assert seen["motivation"] == "private mentee motivation" and seen["job_target"] == "Teacher"
    # the mentee sees the mentor's short profile only
    short = expect(w["as_mentee"].get(f"/v1/participants/{w['mentor']['id']}"), 200)
    assert set(short) <= SHORT_PROFILE, f"fields beyond the short profile: {set(short) - SHORT_PROFILE}"
    assert short["short_profile"] == "Teacher, ex-banker" and short["years_experience"] == 20
    assert "email" not in short and "phone" not in short
    # and the lists say the same
    listed = {x["id"]: x for x in w["as_mentor"].walk("/v1/participants")}
    assert set(listed) == {w["mentor"]["id"], w["mentee"]["id"]}
    assert "email" not in listed[w["mentee"]["id"]] and "phone" not in listed[w["mentee"]["id"]]
    listed = {x["id"]: x for x in w["as_mentee"].walk("/v1/participants")}
    assert set(listed) == {w["mentor"]["id"], w["mentee"]["id"]}
    assert set(listed[w["mentor"]["id"]]) <= SHORT_PROFILE
    # a stranger stays invisible
    expect(w["as_mentor"].get(f"/v1/participants/{w['stranger']['id']}"), 404)


def test_contact_visible_once_both_accepted(pair_world, make):
    w = pair_world
    make.pair(w["prog"], w["mentor"]["id"], w["mentee"]["id"], status="accepted", mentor_accepted=True,
              mentee_accepted=True)
    seen = expect(w["as_mentor"].get(f"/v1/participants/{w['mentee']['id']}"), 200)
    assert seen["email"] == "mentee@example.org" and seen["phone"] == "+32 470 00 00 02"
    short = expect(w["as_mentee"].get(f"/v1/participants/{w['mentor']['id']}"), 200)
    assert short["email"] == "mentor@example.org" and short["phone"] == "+32 470 00 00 01"
    assert set(short) <= SHORT_PROFILE | {"email", "phone"}
    assert "motivation" not in short and "external_ref" not in short and "cv_url" not in short
    listed = {x["id"]: x for x in w["as_mentee"].walk("/v1/participants")}
    assert listed[w["mentor"]["id"]]["email"] == "mentor@example.org"


def test_declined_pair_shows_nothing(pair_world, make):
    w = pair_world
    make.pair(w["prog"], w["mentor"]["id"], w["mentee"]["id"], status="declined", mentor_accepted=True)
    expect(w["as_mentor"].get(f"/v1/participants/{w['mentee']['id']}"), 404)
    expect(w["as_mentee"].get(f"/v1/participants/{w['mentor']['id']}"), 404)


def test_pair_in_other_direction_does_not_leak(pair_world, make, client, tokens):
    """A mentee token naming a mentor's id (sub) must not inherit the mentor's view."""
    w = pair_world
    make.pair(w["prog"], w["mentor"]["id"], w["mentee"]["id"], status="accepted", mentor_accepted=True,
              mentee_accepted=True)
    wrong_role = client(tokens("mentee", sub=w["mentor"]["id"], prg=[w["prog"]]))
    expect(wrong_role.get(f"/v1/participants/{w['mentee']['id']}"), 404)


def test_self_patch_contact_and_profile(pair_world, coord):
    w = pair_world
    c = w["as_mentee"]
    q = expect(c.patch(f"/v1/participants/{w['mentee']['id']}",
                       {"phone": "+32 470 99 99 99", "short_profile": "New", "availability": ["weekends"]}), 200)
    assert q["phone"] == "+32 470 99 99 99" and q["short_profile"] == "New"
    assert expect(coord.get(f"/v1/participants/{w['mentee']['id']}"), 200)["phone"] == "+32 470 99 99 99"


@pytest.mark.parametrize("field,value", [("status", "withdrawn"), ("given_name", "Someone"),
                                         ("motivation", "x"), ("capacity", 2), ("external_ref", "x")])
def test_self_patch_other_fields_forbidden(pair_world, unchanged, field, value):
    w = pair_world
    with unchanged():
        expect(w["as_mentor"].patch(f"/v1/participants/{w['mentor']['id']}", {field: value}), 403)


def test_mentor_cannot_patch_own_mentee(pair_world, make, unchanged):
    w = pair_world
    make.pair(w["prog"], w["mentor"]["id"], w["mentee"]["id"], status="accepted", mentor_accepted=True,
              mentee_accepted=True)
    with unchanged():
        expect(w["as_mentor"].patch(f"/v1/participants/{w['mentee']['id']}", {"phone": "+32 1 234 56 78"}), 403)
        expect(w["as_mentor"].patch(f"/v1/participants/{w['stranger']['id']}", {"phone": "+32 1 234 56 78"}), 404)


def test_mentor_and_mentee_cannot_create(pair_world, unchanged):
    w = pair_world
    with unchanged():
        for c in (w["as_mentor"], w["as_mentee"]):
            expect(c.post("/v1/participants", full_mentee(w["prog"])), 403)


# --------------------------------------------------------------------------- integration clients

def test_integration_sees_own_employees_only(client, tokens, make, unchanged):
    prog, prog2 = make.programme(), make.programme()
    mine, theirs = make.partner(), make.partner()
    e1 = make.participant(prog["id"], kind="mentor", employer_partner_id=mine["id"])
    e2 = make.participant(prog2["id"], kind="mentor", employer_partner_id=mine["id"])
    referred = make.participant(prog["id"], kind="mentee", referred_by_partner_id=mine["id"])
    other = make.participant(prog["id"], kind="mentor", employer_partner_id=theirs["id"])
    c = client(tokens("integration", partner=mine["id"]))
    items = c.walk("/v1/participants")
    assert {x["id"] for x in items} == {e1["id"], e2["id"]}
    full = expect(c.get(f"/v1/participants/{e1['id']}"), 200)
    assert full["email"] == e1["email"] and full["employer_partner_id"] == mine["id"]
    expect(c.get(f"/v1/participants/{other['id']}"), 404)
    expect(c.get(f"/v1/participants/{referred['id']}"), 404)
    assert {x["id"] for x in c.walk("/v1/participants", {"programme_id": prog["id"]})} == {e1["id"]}
    with unchanged():
        expect(c.post("/v1/participants", full_mentee(prog["id"], employer_partner_id=mine["id"])), 403)
        expect(c.patch(f"/v1/participants/{other['id']}", {"region": "Gent"}), 404)
        expect(c.patch(f"/v1/participants/{e1['id']}", {"status": "screened"}), 403)
    assert expect(c.patch(f"/v1/participants/{e1['id']}", {"region": "Gent"}), 200)["region"] == "Gent"


def test_researcher_is_403(client, tokens, make):
    prog = make.programme()
    p = make.participant(prog["id"])
    r = client(tokens("researcher", prg="*"))
    expect(r.get("/v1/participants"), 403)
    expect(r.get(f"/v1/participants/{p['id']}"), 403)
