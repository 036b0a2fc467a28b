"""Employment outcomes (issue 4, part 3): recording, reading, correcting and
removing them, who may, what is refused, and the `outcome_due` follow-up.

months_after_end is expected as the tests count it (months_between: whole
months as PostgreSQL's age() counts them) from the closing day the test set."""
import datetime
import uuid

import pytest

from conftest import ROLES, expect
from statshelpers import Programme, a_closing_day, add_months, day, months_between, today


@pytest.fixture
def prog(make, client, tokens, psql):
    return Programme(make, client, tokens, psql, rules={"followup_interval_days": 30})


@pytest.fixture
def closed(prog):
    """A mentee whose pair completed about 400 days ago (a day <= 28), and their mentor."""
    mentor, mentee = prog.person("mentor"), prog.person("mentee")
    ended = a_closing_day(400)
    pair = prog.closed_pair(mentor, mentee, "completed", "goal_reached", ended)
    return {"mentor": mentor, "mentee": mentee, "ended": ended, "pair": pair}


def url(person):
    return f"/v1/participants/{person['id']}/outcomes"


def record(c, person, **body):
    return expect(c.post(url(person), body), 201)


# --------------------------------------------------------------------------- recording

def test_record_counts_the_months_from_the_end(prog, closed, make):
    employer = make.partner(kind="employer")
    for months in (0, 3, 6, 12, 13):
        measured = add_months(closed["ended"], months) + datetime.timedelta(days=1 if months == 13 else 0)
        if measured > today():
            continue
        r = prog.coach.post(url(closed["mentee"]), {"measured_on": measured.isoformat(), "status": "job_at_level",
                                                   "employer_partner_id": employer["id"]})
        o = expect(r, 201)
        assert r.headers["Location"] == f"/v1/outcomes/{o['id']}"
        assert r.headers.get("ETag")
        assert o["months_after_end"] == months_between(closed["ended"], measured) == months
        assert o["participant_id"] == closed["mentee"]["id"]
        assert o["measured_on"] == measured.isoformat() and o["status"] == "job_at_level"
        assert o["employer_partner_id"] == employer["id"]
    # one day short of a month is not yet that month
    o = record(prog.coach, closed["mentee"], measured_on=(add_months(closed["ended"], 2) -
                                                          datetime.timedelta(days=1)).isoformat(), status="seeking")
    assert o["months_after_end"] == 1
    assert o["employer_partner_id"] is None


def test_months_given_are_kept(prog, closed):
    o = record(prog.coord, closed["mentee"], measured_on=day(-1), months_after_end=4, status="training")
    assert o["months_after_end"] == 4


def test_months_are_counted_from_the_last_closed_pair(prog):
    mentee = prog.person("mentee")
    first, second = a_closing_day(300), a_closing_day(100)
    prog.closed_pair(prog.person("mentor"), mentee, "ended", "no_click", first)
    prog.closed_pair(prog.person("mentor"), mentee, "completed", "goal_reached", second)
    measured = add_months(second, 2)
    o = record(prog.coach, mentee, measured_on=measured.isoformat(), status="seeking")
    assert o["months_after_end"] == months_between(second, measured) == 2


def test_without_a_closed_pair_months_are_required(prog, unchanged):
    mentee = prog.person("mentee")
    with unchanged():
        expect(prog.coach.post(url(mentee), {"measured_on": day(0), "status": "seeking"}), 422, "/months_after_end")
    o = record(prog.coach, mentee, measured_on=day(0), status="seeking", months_after_end=0)
    assert o["months_after_end"] == 0


def test_get_list_and_the_mentee_themselves(prog, closed, client, tokens):
    a = record(prog.coach, closed["mentee"], measured_on=add_months(closed["ended"], 3).isoformat(), status="seeking")
    b = record(prog.coord, closed["mentee"], measured_on=add_months(closed["ended"], 6).isoformat(),
               status="internship")
    for c in (prog.coach, prog.coord, prog.as_(closed["mentee"])):
        r = c.get(f"/v1/outcomes/{a['id']}")
        assert expect(r, 200) == a
        assert c.walk(url(closed["mentee"])) == [a, b]
    # the pages follow each other
    page = expect(prog.coach.get(url(closed["mentee"]), params={"limit": 1}), 200)
    assert page["items"] == [a] and page["next_cursor"]
    page = expect(prog.coach.get(url(closed["mentee"]), params={"limit": 1, "cursor": page["next_cursor"]}), 200)
    assert page["items"] == [b] and page["next_cursor"] is None
    # a cursor belongs to one participant's list
    other = prog.person("mentee")
    first = expect(prog.coach.get(url(closed["mentee"]), params={"limit": 1}), 200)
    expect(prog.coach.get(url(other), params={"cursor": first["next_cursor"]}), 400)
    # updated_since
    prog.make.backdate("outcomes", a["id"])
    assert prog.coach.walk(url(closed["mentee"]), {"updated_since": b["updated_at"]}) == [b]
    # the mentor of the pair does not see the mentee's outcomes
    expect(prog.as_(closed["mentor"]).get(f"/v1/outcomes/{a['id']}"), 404)
    expect(prog.as_(closed["mentor"]).get(url(closed["mentee"])), 404)
    # the mentor's own list is there (and empty)
    assert prog.as_(closed["mentor"]).walk(url(closed["mentor"])) == []
    # another mentee of the programme sees nothing of it
    stranger = prog.as_(prog.person("mentee"))
    expect(stranger.get(f"/v1/outcomes/{a['id']}"), 404)
    expect(stranger.get(url(closed["mentee"])), 404)


def test_if_none_match(prog, closed):
    o = record(prog.coach, closed["mentee"], measured_on=day(-2), status="seeking")
    r = prog.coach.get(f"/v1/outcomes/{o['id']}")
    r2 = prog.coach.get(f"/v1/outcomes/{o['id']}", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304


# --------------------------------------------------------------------------- refused

def test_refused_values(prog, closed, make, unchanged):
    m = closed["mentee"]
    good = {"measured_on": day(-1), "status": "seeking"}
    with unchanged():
        expect(prog.coach.post(url(m), dict(good, measured_on=day(1))), 422, "/measured_on")
        expect(prog.coach.post(url(m), dict(good, measured_on="2024-02-30")), 422, "/measured_on")
        expect(prog.coach.post(url(m), dict(good, measured_on=20240101)), 422, "/measured_on")
        expect(prog.coach.post(url(m), dict(good, status="employed")), 422, "/status")
        expect(prog.coach.post(url(m), dict(good, status=None)), 422, "/status")
        expect(prog.coach.post(url(m), dict(good, months_after_end=121)), 422, "/months_after_end")
        expect(prog.coach.post(url(m), dict(good, months_after_end=-1)), 422, "/months_after_end")
        expect(prog.coach.post(url(m), dict(good, months_after_end="3")), 422, "/months_after_end")
        expect(prog.coach.post(url(m), dict(good, months_after_end=2.5)), 422, "/months_after_end")
        expect(prog.coach.post(url(m), dict(good, employer_partner_id="acme")), 422, "/employer_partner_id")
        expect(prog.coach.post(url(m), dict(good, employer_partner_id=str(uuid.uuid4()))), 422,
               "/employer_partner_id")
        expect(prog.coach.post(url(m), {"status": "seeking"}), 422, "/measured_on")
        expect(prog.coach.post(url(m), {"measured_on": day(-1)}), 422, "/status")
        # before the end of the pair, or more than 120 months after it
        expect(prog.coach.post(url(m), dict(good, measured_on=(closed["ended"] - datetime.timedelta(days=1))
                                            .isoformat())), 422, "/measured_on")
        # what the service sets
        for field, value in (("id", str(uuid.uuid4())), ("participant_id", m["id"]),
                             ("created_at", "2024-01-01T00:00:00Z")):
            expect(prog.coach.post(url(m), dict(good, **{field: value})), 422, f"/{field}")
        # unknown fields are 400, naming them
        r = prog.coach.post(url(m), dict(good, employer="acme", note="x"))
        expect(r, 400, "/employer")
        expect(r, 400, "/note")
        # every problem at once
        r = expect(prog.coach.post(url(m), {"measured_on": day(3), "status": "x", "months_after_end": 500}), 422)
        assert {e["pointer"] for e in r["errors"]} == {"/status", "/months_after_end"}
        # malformed JSON, not an object, wrong media type
        expect(prog.coach.request("POST", url(m), data=b'{"measured_on": ', headers={"Content-Type": "application/json"}),
               400)
        expect(prog.coach.request("POST", url(m), data=b'[]', headers={"Content-Type": "application/json"}), 400)
        expect(prog.coach.request("POST", url(m), data=b'{}', headers={"Content-Type": "text/plain"}), 415)
        # a query parameter on a write
        expect(prog.coach.post(url(m), good, params={"dry_run": "1"}), 400)


def test_more_than_120_months_after_the_end(prog, unchanged):
    mentee = prog.person("mentee")
    ended = a_closing_day(3700)
    prog.closed_pair(prog.person("mentor"), mentee, "completed", "goal_reached", ended)
    with unchanged():
        expect(prog.coach.post(url(mentee), {"measured_on": day(0), "status": "seeking"}), 422, "/measured_on")
    assert record(prog.coach, mentee, measured_on=day(0), status="seeking", months_after_end=120)


def test_a_mentor_has_no_outcomes_and_one_per_day(prog, closed, unchanged):
    with unchanged():
        expect(prog.coach.post(url(closed["mentor"]), {"measured_on": day(0), "status": "other",
                                                       "months_after_end": 1}), 409)
    record(prog.coach, closed["mentee"], measured_on=day(-5), status="seeking")
    with unchanged():
        expect(prog.coach.post(url(closed["mentee"]), {"measured_on": day(-5), "status": "training"}), 409)


def test_unknown_and_foreign_participants_are_404(prog, closed, make, client, tokens, psql, unchanged):
    other = Programme(make, client, tokens, psql)
    body = {"measured_on": day(0), "status": "seeking", "months_after_end": 1}
    with unchanged():
        for pid in (str(uuid.uuid4()), "not-a-uuid"):
            expect(prog.coach.post(f"/v1/participants/{pid}/outcomes", body), 404)
            expect(prog.coach.get(f"/v1/participants/{pid}/outcomes"), 404)
        for c in (other.coach, other.coord):
            expect(c.post(url(closed["mentee"]), body), 404)
            expect(c.get(url(closed["mentee"])), 404)
    o = record(prog.coach, closed["mentee"], measured_on=day(0), status="seeking")
    with unchanged():
        for c in (other.coach, other.coord):
            expect(c.get(f"/v1/outcomes/{o['id']}"), 404)
            expect(c.patch(f"/v1/outcomes/{o['id']}", {"status": "training"}), 404)
        expect(other.coord.delete(f"/v1/outcomes/{o['id']}"), 404)
        expect(prog.coach.get(f"/v1/outcomes/{uuid.uuid4()}"), 404)
        expect(prog.coach.get("/v1/outcomes/nope"), 404)
        expect(prog.coach.get(f"/v1/outcomes/{o['id']}", params={"x": "1"}), 400)


# --------------------------------------------------------------------------- correcting and removing

def test_patch(prog, closed, make, unchanged):
    employer = make.partner(kind="employer")
    measured = add_months(closed["ended"], 3)
    o = record(prog.coach, closed["mentee"], measured_on=measured.isoformat(), status="job_at_level",
               employer_partner_id=employer["id"])
    path = f"/v1/outcomes/{o['id']}"
    etag = prog.coach.get(path).headers["ETag"]
    # a new day counts the months again
    later = add_months(closed["ended"], 7)
    r = prog.coach.patch(path, {"measured_on": later.isoformat()},
                         headers={"Content-Type": "application/merge-patch+json", "If-Match": etag})
    p = expect(r, 200)
    assert p["measured_on"] == later.isoformat() and p["months_after_end"] == 7
    assert p["status"] == "job_at_level" and p["employer_partner_id"] == employer["id"]
    assert r.headers["ETag"] != etag
    # months given win over counting; null clears the employer
    p = expect(prog.coord.patch(path, {"measured_on": add_months(closed["ended"], 8).isoformat(),
                                       "months_after_end": 6, "employer_partner_id": None,
                                       "status": "job_below_level"}), 200)
    assert p["months_after_end"] == 6 and p["employer_partner_id"] is None and p["status"] == "job_below_level"
    assert expect(prog.coach.get(path), 200) == p
    with unchanged():
        # a stale ETag
        expect(prog.coach.patch(path, {"status": "seeking"}, headers={"If-Match": etag}), 412)
        for body, ptr in (({"status": None}, "/status"), ({"measured_on": None}, "/measured_on"),
                          ({"months_after_end": None}, "/months_after_end"), ({"measured_on": day(2)}, "/measured_on"),
                          ({"employer_partner_id": str(uuid.uuid4())}, "/employer_partner_id"),
                          ({"participant_id": str(uuid.uuid4())}, "/participant_id"),
                          ({"id": o["id"]}, "/id"), ({"status": 3}, "/status"),
                          ({"measured_on": (closed["ended"] - datetime.timedelta(days=3)).isoformat()}, "/measured_on")):
            expect(prog.coach.patch(path, body), 422, ptr)
        expect(prog.coach.patch(path, {"verified": True}), 400, "/verified")
        # the participant reads, never writes
        expect(prog.as_(closed["mentee"]).patch(path, {"status": "seeking"}), 403)


def test_delete(prog, closed, unchanged):
    o = record(prog.coach, closed["mentee"], measured_on=day(-3), status="seeking")
    path = f"/v1/outcomes/{o['id']}"
    with unchanged():
        expect(prog.coach.delete(path), 403)
        expect(prog.as_(closed["mentee"]).delete(path), 403)
        expect(prog.coord.delete(path, headers={"If-Match": '"0000000000000000"'}), 412)
    etag = prog.coord.get(path).headers["ETag"]
    expect(prog.coord.delete(path, headers={"If-Match": etag}), 204)
    expect(prog.coord.get(path), 404)
    expect(prog.coord.delete(path), 404)
    assert prog.coord.walk(url(closed["mentee"])) == []


# --------------------------------------------------------------------------- the role matrix

READ = {"coordinator": 200, "coach": 200, "mentor": 404, "mentee": 200, "researcher": 403, "integration": 403}
WRITE = {"coordinator": 201, "coach": 201, "mentor": 403, "mentee": 403, "researcher": 403, "integration": 403}


@pytest.fixture
def matrix(prog, closed, make, client, tokens, psql):
    """Own: the programme of `closed` (the mentee token is the measured mentee's
    own, the mentor token their mentor's); foreign: a second programme."""
    other = Programme(make, client, tokens, psql)
    foreign_mentee = other.person("mentee")
    partner = make.partner(kind="employer")
    sub = {"coordinator": None, "coach": prog.coach_id, "mentor": closed["mentor"]["id"],
           "mentee": closed["mentee"]["id"], "researcher": None, "integration": None}
    callers = {r: client(tokens(r, sub=sub[r], prg=[prog.id], partner=partner["id"] if r == "integration" else None))
               for r in ROLES}
    own = record(prog.coach, closed["mentee"], measured_on=day(-10), status="seeking")
    foreign = record(other.coach, foreign_mentee, measured_on=day(-10), status="seeking", months_after_end=1)
    return {"callers": callers, "own": own, "foreign": foreign, "mentee": closed["mentee"],
            "foreign_mentee": foreign_mentee}


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(matrix, role, unchanged):
    c = matrix["callers"][role]
    own, foreign = matrix["own"], matrix["foreign"]
    refused = READ[role] == 403
    expect(c.get(f"/v1/outcomes/{own['id']}"), READ[role])
    expect(c.get(url(matrix["mentee"])), READ[role])
    expect(c.get(f"/v1/outcomes/{foreign['id']}"), 403 if refused else 404)
    expect(c.get(url(matrix["foreign_mentee"])), 403 if refused else 404)
    body = {"measured_on": day(-2), "status": "training"}
    if WRITE[role] == 201:
        expect(c.post(url(matrix["mentee"]), body), 201)
        expect(c.patch(f"/v1/outcomes/{own['id']}", {"status": "other"}), 200)
    with unchanged():
        if WRITE[role] == 403:
            expect(c.post(url(matrix["mentee"]), body), 403)
            expect(c.patch(f"/v1/outcomes/{own['id']}", {"status": "other"}), 403)
        expect(c.post(url(matrix["foreign_mentee"]), body), 403 if WRITE[role] == 403 else 404)
        expect(c.patch(f"/v1/outcomes/{foreign['id']}", {"status": "other"}), 403 if WRITE[role] == 403 else 404)
        expect(c.delete(f"/v1/outcomes/{foreign['id']}"), 404 if role == "coordinator" else 403)
        if role != "coordinator":
            expect(c.delete(f"/v1/outcomes/{own['id']}"), 403)
    if role == "coordinator":
        expect(c.delete(f"/v1/outcomes/{own['id']}"), 204)


# --------------------------------------------------------------------------- the worklist: outcome_due

def due(c, programme_id):
    return [(x["participant_id"], x["due_since"]) for x in
            c.walk("/v1/followups", {"kind": "outcome_due", "programme_id": programme_id})]


def test_outcome_due(prog, make, client, tokens):
    every = prog.rules["followup_interval_days"]
    other_coach_id = str(uuid.uuid4())
    make.staff([prog.id], role="coach", id=other_coach_id)
    other_coach = client(tokens("coach", sub=other_coach_id, prg=[prog.id]))

    # closed 65 days ago: the second measurement (60 days after) is due
    a = prog.person("mentee")
    a_end = today() - datetime.timedelta(days=65)
    prog.closed_pair(prog.person("mentor"), a, "completed", "goal_reached", a_end)
    a_due = (a_end + datetime.timedelta(days=2 * every)).isoformat()
    # closed 20 days ago: nothing due yet
    b = prog.person("mentee")
    prog.closed_pair(prog.person("mentor"), b, "ended", "no_click", today() - datetime.timedelta(days=20))
    # closed 400 days ago: the follow-up year (and its last interval) is over
    c = prog.person("mentee")
    prog.closed_pair(prog.person("mentor"), c, "completed", "goal_reached", today() - datetime.timedelta(days=400))
    # closed 100 days ago but in a new pair now: not due
    d = prog.person("mentee")
    prog.closed_pair(prog.person("mentor"), d, "ended", "no_click", today() - datetime.timedelta(days=100))
    assert expect(prog.coach.get(f"/v1/participants/{d['id']}"), 200)["status"] == "waiting"
    prog.propose(prog.person("mentor"), d)

    expected = [(a["id"], a_due)]
    assert due(prog.coach, prog.id) == expected
    assert due(prog.coord, prog.id) == expected
    # another coach of the programme did not coach that pair
    assert due(other_coach, prog.id) == []
    item = [x for x in prog.coach.walk("/v1/followups", {"kind": "outcome_due"}) if x["participant_id"] == a["id"]][0]
    assert item["link"] == f"/v1/participants/{a['id']}" and item["programme_id"] == prog.id
    assert a["family_name"] in item["detail"] and "pair_id" not in item

    # a measurement before the due date does not settle it; one on or after it does
    record(prog.coach, a, measured_on=(a_end + datetime.timedelta(days=40)).isoformat(), status="seeking")
    assert due(prog.coach, prog.id) == expected
    o = record(prog.coach, a, measured_on=a_due, status="training")
    assert due(prog.coach, prog.id) == []
    # removing it makes it due again
    expect(prog.coord.delete(f"/v1/outcomes/{o['id']}"), 204)
    assert due(prog.coach, prog.id) == expected
    # kind=outcome_due is a known filter value
    expect(prog.coach.get("/v1/followups", params={"kind": "outcome_due"}), 200)


def test_outcome_due_at_the_end_of_the_year(prog):
    """Interval 30: due days 30, 60, ..., 360 (the last within 12 months); on
    day 380 the measurement of day 360 is due; from day 390 nothing."""
    every = prog.rules["followup_interval_days"]
    a, b = prog.person("mentee"), prog.person("mentee")
    a_end = today() - datetime.timedelta(days=380)
    b_end = today() - datetime.timedelta(days=390)
    prog.closed_pair(prog.person("mentor"), a, "completed", "goal_reached", a_end)
    prog.closed_pair(prog.person("mentor"), b, "completed", "goal_reached", b_end)
    try:
        year_on = a_end.replace(year=a_end.year + 1)
    except ValueError:  # 29 February
        year_on = a_end.replace(year=a_end.year + 1, day=28)
    last_k = (year_on - a_end).days // every
    k = 380 // every
    assert k == 12 and k <= last_k and 390 // every > last_k
    assert due(prog.coach, prog.id) == [(a["id"], (a_end + datetime.timedelta(days=k * every)).isoformat())]
