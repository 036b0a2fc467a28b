"""The follow-up worklist (issue 3). Time is made to pass with psql (pairs
proposed, accepted and met in the past, mentees waiting since long ago); each
kind must appear for the right caller with the right due_since, and disappear
once resolved through the API (a decision, a coach note, a meeting, a match)."""
import uuid

import pytest

from conftest import ROLES, expect
from pairhelpers import Cohort, day, ts

KIND_ORDER = ["decision_pending", "first_month_call", "no_recent_meeting", "waiting_too_long", "outcome_due"]
RULES = {"waiting_alert_days": 20, "followup_interval_days": 14}


def items(c, **params):
    """The worklist without no_recent_activity (issue 6; test_activities.py tests it): this
    fixture's waiting mentees attend no activities, so it would be due for them too."""
    return [x for x in c.walk("/v1/followups", params) if x["kind"] != "no_recent_activity"]


def keyed(found):
    """(kind, object id, due_since) of each item, in the order given."""
    return [(x["kind"], x.get("pair_id") or x.get("participant_id"), x["due_since"]) for x in found]


@pytest.fixture
def wl(make, client, tokens, psql):
    """One programme in which every kind is due once (and one of each is not due yet)."""
    c = Cohort(make, client, tokens, psql, rules=dict(RULES))
    w = {"c": c}
    other_coach = make.staff([c.id], role="coach")
    w["coach_b_id"] = other_coach["id"]
    w["coach_b"] = client(tokens("coach", sub=other_coach["id"], prg=[c.id]))

    # decision_pending: proposed 10 days ago, only the mentor accepted -> due 7 days after the proposal
    pd_mentor, pd_mentee = c.mentor(), c.mentee()
    w["Pd"] = c.propose(pd_mentor, pd_mentee)
    c.accept(w["Pd"], pd_mentor)
    c.backdate_pair(w["Pd"]["id"], 10)
    w["Pd_mentee"] = pd_mentee
    # ... one proposed 12 days ago, coached by the other coach, nobody decided yet
    pb_mentor = c.mentor()
    w["Pb"] = c.propose(pb_mentor, c.mentee(), by=c.coord, coach_id=other_coach["id"])
    c.backdate_pair(w["Pb"]["id"], 12)
    w["Pb_mentor"] = pb_mentor
    # ... and one proposed 6 days ago: not due yet
    w["not_yet_pending"] = c.propose(c.mentor(), c.mentee())
    c.backdate_pair(w["not_yet_pending"]["id"], 6)

    # first_month_call: both accepted, the later on 40 days ago -> due 30 days after that
    w["Pf"], _, _ = c.accepted_pair()
    c.make.backdate("pairs", w["Pf"]["id"], ts(-45), column="mentor_accepted_at")
    c.make.backdate("pairs", w["Pf"]["id"], ts(-40), column="mentee_accepted_at")
    c.backdate_pair(w["Pf"]["id"], 50)
    # a note written before the relationship began does not count as the call
    psql("INSERT INTO pair_notes (pair_id, author, text, created_at) VALUES (%s, %s, 'intake call', %s)",
         w["Pf"]["id"], c.coach_id, ts(-48))
    # ... and one that began 29 days ago: not due yet
    w["not_yet_call"], _, _ = c.accepted_pair()
    for col in ("mentor_accepted_at", "mentee_accepted_at"):
        c.make.backdate("pairs", w["not_yet_call"]["id"], ts(-29), column=col)

    # no_recent_meeting: active, the last meeting 30 days ago, interval 14 days -> due 16 days ago
    mentor, mentee = c.mentor(), c.mentee()
    w["Pn"] = c.propose(mentor, mentee)
    c.backdate_pair(w["Pn"]["id"], 60)
    c.accept(w["Pn"], mentor)
    c.accept(w["Pn"], mentee)
    c.meet(w["Pn"], mentee, day(-40))
    c.confirm(w["Pn"], mentor)
    c.confirm(w["Pn"], mentee)
    c.meet(w["Pn"], mentor, day(-30))
    w["Pn_mentee"] = mentee
    # ... and an active pair that met 13 days ago: not due yet
    w["not_yet_meeting"], _, _ = c.active_pair(held_on=day(-13), backdate=20)

    # waiting_too_long: waiting for 25 days, alert 20 -> due 5 days ago; another for 19 days: not yet
    w["W"] = c.mentee()
    c.make.backdate("participants", w["W"]["id"], ts(-25), column="waiting_since")
    w["not_yet_waiting"] = c.mentee()
    c.make.backdate("participants", w["not_yet_waiting"]["id"], ts(-19), column="waiting_since")
    return w


def expected(w, who):
    pd = ("decision_pending", w["Pd"]["id"], day(-3))
    pb = ("decision_pending", w["Pb"]["id"], day(-5))
    pf = ("first_month_call", w["Pf"]["id"], day(-10))
    pn = ("no_recent_meeting", w["Pn"]["id"], day(-16))
    wt = ("waiting_too_long", w["W"]["id"], day(-5))
    mine = {"coach": [pd, pf, pn, wt], "coach_b": [pb, wt], "coordinator": [pd, pb, pf, pn, wt]}[who]
    # due_since first, then the kind's order
    return sorted(mine, key=lambda x: (x[2], KIND_ORDER.index(x[0])))


def test_each_kind_for_the_right_caller(wl):
    w, c = wl, wl["c"]
    callers = {"coach": c.coach, "coach_b": w["coach_b"], "coordinator": c.coord}
    for who, caller in callers.items():
        got = items(caller)
        assert keyed(got) == expected(w, who), who
        for x in got:
            assert x["programme_id"] == c.id and x["detail"]
            obj = x.get("pair_id") or x.get("participant_id")
            assert x["link"] == (f"/v1/pairs/{obj}" if "pair_id" in x else f"/v1/participants/{obj}")
            assert not ("pair_id" in x and "participant_id" in x)
    # the link leads to the object, for the caller
    for x in items(c.coach):
        expect(c.coach.get(x["link"]), 200)
    # what is not due yet is not listed for anyone
    listed = {k[1] for who in callers for k in keyed(items(callers[who]))}
    for key in ("not_yet_pending", "not_yet_call", "not_yet_meeting", "not_yet_waiting"):
        assert w[key]["id"] not in listed, key


def test_the_details_name_who(wl):
    w, c = wl, wl["c"]
    got = {x.get("pair_id") or x.get("participant_id"): x for x in items(c.coord)}
    # only the mentee of Pd has yet to decide
    assert w["Pd_mentee"]["family_name"] in got[w["Pd"]["id"]]["detail"]
    assert w["W"]["family_name"] in got[w["W"]["id"]]["detail"]


def test_a_coordinator_of_all_programmes_filters_by_programme(wl, coord):
    w = wl
    assert keyed(items(coord, programme_id=w["c"].id)) == expected(w, "coordinator")


def test_another_programmes_staff_see_none_of_it(wl, make, client, tokens, psql):
    w = wl
    other = Cohort(make, client, tokens, psql)
    for caller in (other.coord, other.coach):
        assert all(x["programme_id"] != w["c"].id for x in items(caller))
        assert items(caller, programme_id=w["c"].id) == []


def test_filter_kind(wl):
    w, c = wl, wl["c"]
    for kind in KIND_ORDER:
        assert keyed(items(c.coord, kind=kind)) == [x for x in expected(w, "coordinator") if x[0] == kind], kind
    assert keyed(items(c.coord, kind="decision_pending", programme_id=c.id)) == \
        [x for x in expected(w, "coordinator") if x[0] == "decision_pending"]


def test_filter_updated_since_keeps_what_became_due_since(wl):
    w, c = wl, wl["c"]
    since = ts(-5)
    assert keyed(items(c.coord, updated_since=since)) == [x for x in expected(w, "coordinator")
                                                          if x[2] >= day(-5)]


def test_paging(wl):
    w, c = wl, wl["c"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = expect(c.coord.get("/v1/followups", params=params), 200)
        assert len(body["items"]) <= 2
        seen += [x for x in body["items"] if x["kind"] != "no_recent_activity"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert keyed(seen) == expected(w, "coordinator")


def test_resolved_items_disappear(wl):
    w, c = wl, wl["c"]
    before = keyed(items(c.coord))

    def now():
        return keyed(items(c.coord))

    # the missing decision is made
    c.accept(w["Pd"], w["Pd_mentee"])
    assert now() == [x for x in before if x[1] != w["Pd"]["id"]]
    # the other proposal is declined
    expect(c.as_(w["Pb_mentor"]).post(f"/v1/pairs/{w['Pb']['id']}/decline", {"reason": "geen tijd"}), 200)
    assert w["Pb"]["id"] not in {x[1] for x in now()}
    # the one-month call is logged as a coach note
    expect(c.coach.post(f"/v1/pairs/{w['Pf']['id']}/notes", {"text": "Maandgesprek met beiden."}), 201)
    assert w["Pf"]["id"] not in {x[1] for x in now()}
    # a meeting is logged
    c.meet(w["Pn"], w["Pn_mentee"], day(0))
    assert w["Pn"]["id"] not in {x[1] for x in now()}
    # the waiting mentee is matched
    c.propose(c.mentor(), w["W"])
    assert now() == []
    assert items(c.coach) == [] and items(w["coach_b"]) == []


def test_no_recent_meeting_counts_from_the_start_without_meetings_since(make, client, tokens, psql):
    """An active pair with only its first meeting: due interval days after it."""
    c = Cohort(make, client, tokens, psql, rules=dict(RULES))
    p, _, _ = c.active_pair(held_on=day(-20), backdate=25)
    got = keyed(items(c.coord, kind="no_recent_meeting"))
    assert got == [("no_recent_meeting", p["id"], day(-20 + RULES["followup_interval_days"]))]


def test_ended_and_completed_pairs_need_no_follow_up(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql, rules=dict(RULES))
    p, _, _ = c.active_pair(held_on=day(-40), backdate=45)
    assert keyed(items(c.coord, kind="no_recent_meeting")) == [("no_recent_meeting", p["id"], day(-26))]
    c.close(p, "completed", "goal_reached")
    assert items(c.coord) == []
    q = c.propose(c.mentor(), c.mentee())
    c.backdate_pair(q["id"], 30)
    assert keyed(items(c.coord)) == [("decision_pending", q["id"], day(-23))]
    c.close(q, "ended", "other")
    # the mentee waits again, from now on: not yet too long
    assert items(c.coord) == []


@pytest.mark.parametrize("params", [{"kind": "call"}, {"programme_id": "x"}, {"updated_since": "yesterday"},
                                    {"limit": 0}, {"limit": 201}, {"cursor": "abc"}, {"status": "open"},
                                    {"kind": "'; DROP TABLE pairs; --"}])
def test_bad_queries_are_400(coord, params):
    expect(coord.get("/v1/followups", params=params), 400)


@pytest.mark.parametrize("role", ROLES)
def test_roles(wl, client, tokens, role):
    c = wl["c"]
    if role in ("coordinator", "coach"):
        caller = c.coord if role == "coordinator" else c.coach
        assert keyed(items(caller)) == expected(wl, role)
        return
    person = c.mentee() if role == "mentee" else c.mentor()
    t = {"mentor": lambda: tokens("mentor", sub=person["id"], prg=[c.id]),
         "mentee": lambda: tokens("mentee", sub=person["id"], prg=[c.id]),
         "researcher": lambda: tokens("researcher", prg=[c.id]),
         "integration": lambda: tokens("integration", partner=str(uuid.uuid4()))}[role]()
    expect(client(t).get("/v1/followups"), 403)
    expect(client(t).get("/v1/followups", params={"programme_id": c.id}), 403)
