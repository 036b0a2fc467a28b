"""Programme activities (issue 6, part 3): activities with an audience and a
capacity, registrations with a waiting list under concurrency, attendance
recorded by staff only, the worklist item for waiting mentees without an
activity, and attendance per activity kind in the programme statistics
(researchers get small cells suppressed). Every route's role matrix with
real tokens; refused writes leave the database unchanged."""
import uuid

import pytest

from conftest import expect, unique
from pairhelpers import Cohort, day, race, ts


@pytest.fixture
def g(make, client, tokens, psql):
    return Cohort(make, client, tokens, psql)


def activity(c, g, **kw):
    body = {"programme_id": g.id, "kind": "workshop", "title": unique("Workshop"), "held_on": day(7),
            "place": "Stadsbibliotheek Gent", "capacity": 10, "audience": "both"}
    body.update(kw)
    return expect(c.post("/v1/activities", body), 201)


def register(c, a, person):
    return c.post(f"/v1/activities/{a['id']}/registrations", {"participant_id": person["id"]})


def seat(a, person, action=""):
    return f"/v1/activities/{a['id']}/registrations/{person['id']}" + (f"/{action}" if action else "")


# ------------------------------------------------------------------ activities

def test_create_and_read(g):
    a = activity(g.coord, g, kind="exchange", audience="mentors", place=None)
    assert (a["kind"], a["audience"], a["place"], a["registered"], a["waitlisted"], a["attended"]) == \
        ("exchange", "mentors", None, 0, 0, 0)
    b = activity(g.coach, g, kind="orientation")
    assert b["programme_id"] == g.id
    for c in (g.coord, g.coach):
        assert expect(c.get(f"/v1/activities/{a['id']}"), 200) == a
        ids = [x["id"] for x in c.walk("/v1/activities", params={"programme_id": g.id})]
        assert ids == [a["id"], b["id"]]


def test_the_audience_decides_who_sees(g, make, client, tokens):
    for_mentors = activity(g.coord, g, audience="mentors")
    for_mentees = activity(g.coord, g, audience="mentees")
    for_both = activity(g.coord, g, audience="both")
    mentor, mentee = g.mentor(), g.mentee()
    seen = lambda c: [x["id"] for x in c.walk("/v1/activities")]
    assert seen(g.as_(mentor)) == [for_mentors["id"], for_both["id"]]
    assert seen(g.as_(mentee)) == [for_mentees["id"], for_both["id"]]
    expect(g.as_(mentee).get(f"/v1/activities/{for_mentors['id']}"), 404)
    expect(g.as_(mentor).get(f"/v1/activities/{for_mentees['id']}"), 404)
    expect(g.as_(mentor).get(f"/v1/activities/{for_both['id']}"), 200)
    elsewhere = Cohort(make, client, tokens, g.psql)
    stranger = elsewhere.mentor()
    assert seen(g.as_(stranger)) == []
    assert seen(elsewhere.coord) == []
    expect(elsewhere.coach.get(f"/v1/activities/{for_both['id']}"), 404)
    for c in (client(tokens("researcher", prg="*")), client(tokens("integration", partner=str(uuid.uuid4())))):
        expect(c.get("/v1/activities"), 403)
        expect(c.get(f"/v1/activities/{for_both['id']}"), 403)


def test_list_filters(g):
    a = activity(g.coord, g, kind="orientation", audience="mentees", held_on="2030-03-01")
    b = activity(g.coord, g, kind="event", audience="both", held_on="2030-04-01")
    ids = lambda **p: [x["id"] for x in g.coord.walk("/v1/activities", params=dict(p, programme_id=g.id))]
    assert ids(kind="orientation") == [a["id"]]
    assert ids(audience="both") == [b["id"]]
    assert ids(**{"from": "2030-03-15"}) == [b["id"]]
    assert ids(to="2030-03-15") == [a["id"]]
    for bad in ({"kind": "party"}, {"audience": "all"}, {"from": "2030-04-01", "to": "2030-03-01"},
                {"programme_id": "x"}, {"colour": "red"}, {"limit": 201}):
        expect(g.coord.get("/v1/activities", params=bad), 400)
    page = expect(g.coord.get("/v1/activities", params={"programme_id": g.id, "limit": 1}), 200)
    assert [x["id"] for x in page["items"]] == [a["id"]] and page["next_cursor"]


def test_who_may_create(g, make, client, tokens, unchanged):
    body = {"programme_id": g.id, "kind": "workshop", "title": "t", "held_on": day(3), "capacity": 3,
            "audience": "both"}
    mentor, mentee = g.mentor(), g.mentee()
    elsewhere = Cohort(make, client, tokens, g.psql)
    with unchanged():
        for c in (g.as_(mentor), g.as_(mentee), client(tokens("researcher", prg="*")),
                  client(tokens("integration", partner=str(uuid.uuid4())))):
            expect(c.post("/v1/activities", body), 403)
        expect(elsewhere.coord.post("/v1/activities", body), 422, "/programme_id")
        expect(elsewhere.coach.post("/v1/activities", body), 422, "/programme_id")
        expect(g.coord.post("/v1/activities", dict(body, programme_id=str(uuid.uuid4()))), 422, "/programme_id")
        expect(client(None).post("/v1/activities", body), 401)


@pytest.mark.parametrize("change,pointer,status", [
    ({"colour": "red"}, "/colour", 400),
    ({"id": str(uuid.uuid4())}, "/id", 422),
    ({"programme_id": None}, "/programme_id", 422),
    ({"kind": "party"}, "/kind", 422),
    ({"title": ""}, "/title", 422),
    ({"held_on": "2024-02-30"}, "/held_on", 422),
    ({"held_on": None}, "/held_on", 422),
    ({"place": "x" * 201}, "/place", 422),
    ({"capacity": 0}, "/capacity", 422),
    ({"capacity": 10001}, "/capacity", 422),
    ({"capacity": 2.5}, "/capacity", 422),
    ({"audience": "everyone"}, "/audience", 422),
])
def test_create_refuses_bad_input(g, change, pointer, status, unchanged):
    body = {"programme_id": g.id, "kind": "workshop", "title": "t", "held_on": day(3), "place": "p",
            "capacity": 3, "audience": "both"}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    with unchanged():
        expect(g.coord.post("/v1/activities", body), status, pointer)


# ------------------------------------------------------------------ registrations

def test_parallel_registrations_for_the_last_seat(g):
    a = activity(g.coord, g, capacity=1, audience="mentees")
    mentees = [g.mentee() for _ in range(8)]
    results = race([lambda m=m: register(g.as_(m), a, m) for m in mentees])
    assert [r.status_code for r in results] == [201] * 8
    assert sorted(r.json()["status"] for r in results) == ["registered"] + ["waitlisted"] * 7
    assert sorted(r.json()["position"] for r in results if r.json()["position"] is not None) == list(range(1, 8))
    got = expect(g.coord.get(f"/v1/activities/{a['id']}"), 200)
    assert (got["registered"], got["waitlisted"]) == (1, 7)


def test_staff_register_in_parallel(g):
    a = activity(g.coord, g, capacity=3)
    people = [g.mentor() for _ in range(4)] + [g.mentee() for _ in range(4)]
    results = race([lambda p=p, i=i: register(g.coord if i % 2 else g.coach, a, p) for i, p in enumerate(people)])
    assert [r.status_code for r in results] == [201] * 8
    assert sorted(r.json()["status"] for r in results) == ["registered"] * 3 + ["waitlisted"] * 5
    assert g.psql("SELECT count(*) FROM activity_registrations WHERE activity_id = %s AND status = 'registered'",
                  a["id"])[0][0] == "3"


def test_waiting_list_moves_up_on_cancel(g, unchanged):
    a = activity(g.coord, g, capacity=1)
    x, y, z = g.mentee(), g.mentee(), g.mentor()
    assert expect(register(g.as_(x), a, x), 201)["status"] == "registered"
    assert expect(register(g.as_(y), a, y), 201)["position"] == 1
    assert expect(register(g.coord, a, z), 201)["position"] == 2
    with unchanged():
        expect(g.as_(y).delete(seat(a, x)), 404)           # someone else's seat is not visible
        expect(g.as_(z).delete(seat(a, x)), 404)
    expect(g.as_(x).delete(seat(a, x)), 204)
    got_y = expect(g.as_(y).get(seat(a, y)), 200)
    got_z = expect(g.coach.get(seat(a, z)), 200)
    assert (got_y["status"], got_y["position"], got_z["status"], got_z["position"]) == \
        ("registered", None, "waitlisted", 1)
    expect(g.coach.delete(seat(a, z)), 204)                # a waitlisted seat: nobody moves
    assert expect(g.coord.get(f"/v1/activities/{a['id']}"), 200)["registered"] == 1
    expect(g.coord.get(seat(a, x)), 404)


def test_registration_rules(g, make, client, tokens, unchanged):
    for_mentors = activity(g.coord, g, audience="mentors")
    for_both = activity(g.coord, g)
    past = activity(g.coord, g, held_on=day(-1))
    mentor, other, mentee = g.mentor(), g.mentor(), g.mentee()
    expect(register(g.as_(mentor), for_mentors, mentor), 201)
    elsewhere = Cohort(make, client, tokens, g.psql)
    stranger = elsewhere.mentee()
    gone = g.mentee(status="applied")
    expect(g.coord.patch(f"/v1/participants/{gone['id']}", {"status": "withdrawn"}), 200)
    with unchanged():
        expect(register(g.as_(mentor), for_mentors, mentor), 409)              # twice
        expect(register(g.as_(mentor), for_both, other), 403)                  # someone else
        expect(register(g.as_(mentee), for_both, mentor), 403)
        expect(register(g.as_(mentee), for_mentors, mentee), 404)              # not their audience
        expect(register(g.coord, for_mentors, mentee), 422, "/participant_id")
        expect(register(g.coord, for_both, stranger), 422, "/participant_id")  # another programme
        expect(register(g.as_(stranger), for_both, stranger), 404)
        expect(register(g.coord, for_both, {"id": str(uuid.uuid4())}), 422, "/participant_id")
        expect(register(g.coord, for_both, gone), 409)
        expect(register(g.as_(other), past, other), 409)                       # closed on the day
        expect(register(client(tokens("researcher", prg="*")), for_both, other), 403)
        expect(g.coord.post(f"/v1/activities/{for_both['id']}/registrations", {}), 422, "/participant_id")
        expect(g.coord.post(f"/v1/activities/{for_both['id']}/registrations", {"participant_id": 5}), 422,
               "/participant_id")
        expect(g.coord.post(f"/v1/activities/{for_both['id']}/registrations",
                            {"participant_id": other["id"], "x": 1}), 400, "/x")
        expect(register(g.coord, {"id": str(uuid.uuid4())}, other), 404)
        expect(register(elsewhere.coord, for_both, stranger), 404)
    assert expect(register(g.coord, past, other), 201)["status"] == "registered"  # staff record it


def test_registrations_are_seen_by_staff_and_the_person(g):
    a = activity(g.coord, g)
    m1, m2 = g.mentee(), g.mentor()
    expect(register(g.as_(m1), a, m1), 201)
    expect(register(g.coach, a, m2), 201)
    seen = lambda c, **p: [x["participant_id"] for x in c.walk(f"/v1/activities/{a['id']}/registrations", params=p)]
    assert seen(g.coord) == [m1["id"], m2["id"]] == seen(g.coach)
    assert seen(g.as_(m1)) == [m1["id"]]
    assert seen(g.as_(m2)) == [m2["id"]]
    expect(g.as_(m1).get(seat(a, m2)), 404)
    assert seen(g.coord, status="waitlisted") == []
    assert seen(g.coord, attended="false") == [m1["id"], m2["id"]]
    assert seen(g.coord, attended="true") == []
    expect(g.coord.get(f"/v1/activities/{a['id']}/registrations", params={"attended": "yes"}), 400)
    expect(g.coord.get(f"/v1/activities/{uuid.uuid4()}/registrations"), 404)


# ------------------------------------------------------------------ attendance

def test_attendance_only_by_staff(g, make, client, tokens, unchanged):
    a = activity(g.coord, g, held_on=day(0), capacity=1)
    future = activity(g.coord, g, held_on=day(3))
    m, w, f = g.mentee(), g.mentor(), g.mentee()
    expect(register(g.coord, a, m), 201)
    assert expect(register(g.coord, a, w), 201)["status"] == "waitlisted"
    expect(register(g.coord, future, f), 201)
    elsewhere = Cohort(make, client, tokens, g.psql)
    with unchanged():
        for c in (g.as_(m), g.as_(w), client(tokens("researcher", prg="*")),
                  client(tokens("integration", partner=str(uuid.uuid4())))):
            expect(c.post(seat(a, m, "attended")), 403)
        expect(elsewhere.coord.post(seat(a, m, "attended")), 404)
        expect(g.coord.post(seat(a, w, "attended")), 409)          # waitlisted
        expect(g.coord.post(seat(future, f, "attended")), 409)     # not held yet
        expect(g.coord.post(seat(a, f, "attended")), 404)          # not registered for it
        expect(g.coord.post(seat(a, m, "attended"), {"when": "now"}), 400)
    got = expect(g.coach.post(seat(a, m, "attended")), 200)
    assert got["attended_at"] and got["status"] == "registered"
    with unchanged():
        expect(g.coord.post(seat(a, m, "attended")), 409)          # once
        expect(g.coord.delete(seat(a, m)), 409)                    # attended: stays
    assert expect(g.coord.get(f"/v1/activities/{a['id']}"), 200)["attended"] == 1


# ------------------------------------------------------------------ the worklist

def test_worklist_waiting_mentee_without_an_activity(make, client, tokens, psql):
    g = Cohort(make, client, tokens, psql, rules={"followup_interval_days": 20, "waiting_alert_days": 365})
    idle, busy, upcoming, fresh = g.mentee(), g.mentee(), g.mentee(), g.mentee()
    for p in (idle, busy, upcoming):
        psql("UPDATE participants SET waiting_since = %s WHERE id = %s", ts(-40), p["id"])
    held = activity(g.coord, g, held_on=day(-5), audience="mentees")
    expect(register(g.coord, held, busy), 201)
    expect(g.coord.post(seat(held, busy, "attended")), 200)
    soon = activity(g.coord, g, held_on=day(10), audience="mentees")
    expect(register(g.as_(upcoming), soon, upcoming), 201)

    def items(c):
        return {x["participant_id"]: x for x in c.walk("/v1/followups", params={"kind": "no_recent_activity",
                                                                              "programme_id": g.id})}
    got = items(g.coach)
    assert set(got) == {idle["id"]}
    item = got[idle["id"]]
    assert item["due_since"] == day(-20) and item["link"] == f"/v1/participants/{idle['id']}"
    assert idle["family_name"] in item["detail"]
    assert set(items(g.coord)) == {idle["id"]}
    # once they attend, they drop off the list until the interval passes again
    expect(register(g.coord, held, idle), 201)
    expect(g.coord.post(seat(held, idle, "attended")), 200)
    assert items(g.coach) == {}
    elsewhere = Cohort(make, client, tokens, psql)
    assert items(elsewhere.coach) == {}
    assert fresh["id"] not in items(g.coord)


# ------------------------------------------------------------------ statistics

def test_stats_attendance_per_kind(make, client, tokens, psql):
    g = Cohort(make, client, tokens, psql, rules={"small_group_threshold": 3})
    people = [g.mentee() for _ in range(9)]
    workshop = activity(g.coord, g, kind="workshop", held_on=day(-2), capacity=20)
    workshop2 = activity(g.coord, g, kind="workshop", held_on=day(-1), capacity=20)
    orientation = activity(g.coord, g, kind="orientation", held_on=day(-3), capacity=20)
    activity(g.coord, g, kind="event", held_on=day(5))          # not held yet: not counted
    for p in people[:5]:
        expect(register(g.coord, workshop, p), 201)
    for p in people[5:9]:
        expect(register(g.coord, workshop2, p), 201)
    for p in people[:6]:
        expect(g.coord.post(seat(workshop if p in people[:5] else workshop2, p, "attended")), 200)
    for p in people[:4]:
        expect(register(g.coord, orientation, p), 201)
    expect(g.coord.post(seat(orientation, people[0], "attended")), 200)

    full = expect(g.coord.get(f"/v1/programmes/{g.id}/stats"), 200)["activities"]
    assert full["suppressed"] is False
    assert full["by_kind"]["workshop"] == {"activities_held": 2, "registered": 9, "attended": 6, "not_attended": 3,
                                           "attendance_rate": 0.6667}
    assert full["by_kind"]["orientation"] == {"activities_held": 1, "registered": 4, "attended": 1,
                                              "not_attended": 3, "attendance_rate": 0.25}
    assert full["by_kind"]["event"] == {"activities_held": 0, "registered": 0, "attended": 0, "not_attended": 0,
                                        "attendance_rate": None}
    researcher = client(tokens("researcher", prg=[g.id]))
    sup = expect(researcher.get(f"/v1/programmes/{g.id}/stats"), 200)["activities"]
    assert sup["suppressed"] is True
    assert sup["by_kind"]["workshop"] == full["by_kind"]["workshop"]      # every cell >= 3
    # orientation: attended 1 < 3 is hidden, and so is the only other cell
    assert sup["by_kind"]["orientation"] == {"activities_held": 1, "registered": 4, "attended": None,
                                             "not_attended": None, "attendance_rate": None}
    assert sup["by_kind"]["event"] == {"activities_held": 0, "registered": None, "attended": None,
                                       "not_attended": None, "attendance_rate": None}


# ------------------------------------------------------------------ changes

def test_change_an_activity(g, make, client, tokens, unchanged):
    a = activity(g.coord, g, capacity=1, audience="both")
    x, y, z = g.mentee(), g.mentee(), g.mentor()
    for p in (x, y, z):
        expect(register(g.coord, a, p), 201)
    etag = g.coord.get(f"/v1/activities/{a['id']}").headers["ETag"]
    elsewhere = Cohort(make, client, tokens, g.psql)
    url = f"/v1/activities/{a['id']}"
    with unchanged():
        expect(g.coord.patch(url, {"capacity": 3}, headers={"If-Match": '"0000000000000000"'}), 412)
        expect(g.coord.patch(url, {"programme_id": elsewhere.id}), 422, "/programme_id")
        expect(g.coord.patch(url, {"audience": "all"}), 422, "/audience")
        expect(g.coord.patch(url, {"colour": "red"}), 400, "/colour")
        expect(g.coord.patch(url, {"audience": "mentees"}), 409, "/audience")      # a mentor is registered
        expect(elsewhere.coord.patch(url, {"capacity": 3}), 404)
        expect(g.as_(x).patch(url, {"capacity": 3}), 403)
        expect(client(tokens("researcher", prg="*")).patch(url, {"capacity": 3}), 403)
    got = expect(g.coach.patch(url, {"capacity": 3, "place": None, "kind": "event"}, headers={"If-Match": etag}), 200)
    assert (got["capacity"], got["registered"], got["waitlisted"], got["place"], got["kind"]) == (3, 3, 0, None, "event")
    with unchanged():
        expect(g.coord.patch(url, {"capacity": 2}), 409, "/capacity")
    past = activity(g.coord, g, held_on=day(0))
    expect(register(g.coord, past, x), 201)
    expect(g.coord.post(seat(past, x, "attended")), 200)
    with unchanged():
        expect(g.coord.patch(f"/v1/activities/{past['id']}", {"held_on": day(1)}), 409, "/held_on")
