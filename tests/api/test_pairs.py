"""Pairs (issue 3): the teaching pilot played through the API, every illegal
transition and capacity rule, the concurrent last slot, decisions by the wrong
person, the contact rule, and the role matrix and bad input of every pair
endpoint. Every response is checked against openapi.yaml by conftest's Client."""
import json
import uuid

import pytest

from conftest import ROLES, expect, unique
from pairhelpers import (Cohort, day, expected_on_track, expected_progress, open_pairs_of_mentor,
                         problem_detail, race)

PILOT_TOPICS = ["work_life_balance", "training_tips", "teaching_tips", "transition", "internships",
                "training_programmes", "applying", "education_sectors", "finances", "other"]
PILOT_RULES = {"min_meetings": 6, "min_duration_days": 90, "max_mentees_per_mentor": 2,
               "waiting_alert_days": 30, "followup_interval_days": 30}


@pytest.fixture
def cohort(make, client, tokens, psql):
    return Cohort(make, client, tokens, psql, rules=dict(PILOT_RULES), topics=PILOT_TOPICS[:4])


# =========================================================================== the teaching pilot

class Model:
    """The participant statuses as pairs.c documents them (header comment and
    openapi.yaml): waiting → matched on a proposal, → active when the pair
    activates, → completed on completion; back to waiting on a decline or an
    end (withdrawn for mentee_stopped / mentor_stopped), a mentor only when no
    other open pair keeps them busy."""

    def __init__(self):
        self.status = {}
        self.open = {}  # pair key -> (mentor, mentee) while proposed/accepted/active

    def add(self, pid):
        self.status[pid] = "waiting"

    def _move(self, pid, frm, to):
        if self.status[pid] in frm:
            self.status[pid] = to

    def _mentor_busy_elsewhere(self, mentor, key):
        return any(m == mentor for k, (m, _) in self.open.items() if k != key)

    def propose(self, key, mentor, mentee):
        self.open[key] = (mentor, mentee)
        self._move(mentee, {"waiting"}, "matched")
        self._move(mentor, {"waiting"}, "matched")

    def activate(self, key):
        mentor, mentee = self.open[key]
        self._move(mentee, {"matched"}, "active")
        self._move(mentor, {"matched"}, "active")

    def decline(self, key):
        mentor, mentee = self.open[key]
        self._move(mentee, {"matched"}, "waiting")
        if not self._mentor_busy_elsewhere(mentor, key):
            self._move(mentor, {"matched"}, "waiting")
        del self.open[key]

    def close(self, key, status, reason):
        mentor, mentee = self.open[key]
        busy = self._mentor_busy_elsewhere(mentor, key)
        if status == "completed":
            self._move(mentee, {"active"}, "completed")
            if not busy:
                self._move(mentor, {"active"}, "completed")
        else:
            self._move(mentee, {"matched", "active"}, "withdrawn" if reason == "mentee_stopped" else "waiting")
            if not busy:
                self._move(mentor, {"matched", "active"}, "withdrawn" if reason == "mentor_stopped" else "waiting")
        del self.open[key]


# What happens to each of the 13 pairs: meetings as (days ago, minutes, logged by),
# "first" = meetings logged before the confirmations, the rest after; closure.
PILOT = [
    # mentor 0 has two mentees (capacity 2): pairs 0 and 12
    dict(mentor=0, mentee=0, accept=["mentee", "mentor"], first=[(110, 60, "mentor"), (140, 90, "mentee")],
         later=[(80, 60, "mentee"), (50, 45, "mentee"), (20, 90, "mentor"), (5, 60, "mentee")],
         confirm=["mentor", "mentee"], close=("completed", "goal_reached", "coach")),
    dict(mentor=1, mentee=1, accept=["mentor", "mentee"], first=[(130, 90, "mentee")],
         later=[(115, 75, "mentee"), (100, 60, "mentor"), (85, 90, "mentee"), (60, 60, "mentee"), (30, 120, "mentor")],
         confirm=["mentee", "mentor"], close=("completed", "goal_reached", "coordinator")),
    dict(mentor=2, mentee=2, accept=["mentee", "mentor"], first=[(120, 60, "mentee")],
         later=[(90, 45, "mentee"), (40, 30, "mentor")],
         confirm=["mentee", "mentor"], close=("completed", "goal_reached", "coach")),
    dict(mentor=3, mentee=3, accept=["mentor", "mentee"], first=[(100, 60, "mentee")], later=[(70, 30, "mentor")],
         confirm=["mentor", "mentee"], close=("ended", "no_click", "coach")),
    dict(mentor=4, mentee=4, accept=["mentee", "mentor"], first=[], later=[], confirm=[],
         close=("ended", "mentee_stopped", "coach")),
    dict(mentor=5, mentee=5, accept=[], decline=("mentee", "Ik zoek liever iemand uit het lager onderwijs."),
         first=[], later=[], confirm=[], close=None),
    dict(mentor=6, mentee=6, accept=["mentor"], first=[], later=[], confirm=[], close=None),
    dict(mentor=7, mentee=7, accept=["mentor", "mentee"], first=[(10, 90, "mentee")], later=[], confirm=["mentee"],
         close=None),
    dict(mentor=8, mentee=8, accept=["mentee", "mentor"], first=[(95, 60, "mentee")], later=[(45, 60, "mentee")],
         confirm=["mentor", "mentee"], close=("ended", "mentor_stopped", "coordinator")),
    dict(mentor=9, mentee=9, accept=["mentor", "mentee"], first=[(100, 90, "mentee")],
         later=[(80, 90, "mentee"), (55, 60, "mentor"), (12, 75, "mentee")], confirm=["mentee", "mentor"], close=None),
    dict(mentor=10, mentee=10, accept=["mentee", "mentor"], first=[(20, 45, "mentee")], later=[(3, 50, "mentor")],
         confirm=["mentor", "mentee"], close=None),
    dict(mentor=11, mentee=11, accept=["mentee", "mentor"], first=[(0, 60, "mentee")], later=[],
         confirm=["mentee", "mentor"], close=None),
    dict(mentor=0, mentee=12, accept=["mentor", "mentee"], first=[(65, 90, "mentee")],
         later=[(40, 60, "mentee"), (15, 60, "mentor")], confirm=["mentee", "mentor"], close=None,
         proposed_by="coordinator"),
]


def test_teaching_pilot(cohort, psql, tokens, client):
    c = cohort
    rules = c.rules
    assert rules["max_mentees_per_mentor"] == 2
    model = Model()
    # 12 mentors (teachers and school leaders who left a bank), mentor 0 with capacity 2; 13 mentees (bankers)
    mentors = [c.mentor(capacity=2 if i == 0 else 1, sectors=["85.31"], occupations=["2330"], region="Antwerpen",
                        availability=["evenings"], languages=[{"code": "nl", "level": "C2"}],
                        short_profile=f"Leraar {i}") for i in range(12)]
    mentees = [c.mentee(sectors=["64.19"], occupations=["3312"], region="Antwerpen", availability=["evenings"],
                        languages=[{"code": "nl", "level": "C2"}], job_target="Leraar economie") for _ in range(13)]
    for p in mentors + mentees:
        model.add(p["id"])
        assert c.status(p["id"]) == "waiting"
    actor_id = {"coach": c.coach_id, "coordinator": c.coord_id}
    actor_client = {"coach": c.coach, "coordinator": c.coord}

    # ---- 13 proposals; every pair is dated 150 days back so that its meetings can be
    pairs, decisions, meetings = [], [], []
    for i, plan in enumerate(PILOT):
        mentor, mentee = mentors[plan["mentor"]], mentees[plan["mentee"]]
        by = plan.get("proposed_by", "coach")
        body = {"mentor_id": mentor["id"], "mentee_id": mentee["id"],
                "agreements": {"frequency": "every_two_weeks", "contact_modes": ["video", "phone"],
                               "planned_end_on": day(60)},
                "goals": [f"Kiezen tussen secundair en hoger onderwijs ({i})"]}
        if by == "coordinator":
            body["coach_id"] = c.coach_id
        r = actor_client[by].post("/v1/pairs", body)
        p = expect(r, 201)
        assert r.headers["Location"].endswith(f"/v1/pairs/{p['id']}")
        assert p["status"] == "proposed" and p["programme_id"] == c.id
        assert p["mentor_id"] == mentor["id"] and p["mentee_id"] == mentee["id"]
        assert p["coach_id"] == c.coach_id, "a coach proposing becomes the coach; a coordinator names one"
        assert p["agreements"] == body["agreements"] and p["goals"] == body["goals"]
        model.propose(i, mentor["id"], mentee["id"])
        c.backdate_pair(p["id"], 150)
        pairs.append(p)
        decisions.append([("proposed", actor_id[by], by, None)])
        meetings.append([])
    # after the proposals everybody is matched
    for pid, want in model.status.items():
        assert want == "matched"
        assert c.status(pid) == "matched", pid

    # ---- acceptances, declines, meetings, confirmations
    started = {}
    for i, plan in enumerate(PILOT):
        p = pairs[i]
        who = {"mentor": mentors[plan["mentor"]], "mentee": mentees[plan["mentee"]]}
        for side in plan["accept"]:
            got = c.accept(p, who[side])
            decisions[i].append(("accepted", who[side]["id"], side, None))
            assert got[f"{side}_accepted_at"] is not None
        if "decline" in plan:
            side, reason = plan["decline"]
            got = expect(c.as_(who[side]).post(f"/v1/pairs/{p['id']}/decline", {"reason": reason}), 200)
            assert got["status"] == "declined" and got["declined_by"] == side and got["decline_reason"] == reason
            decisions[i].append(("declined", who[side]["id"], side, reason))
            model.decline(i)
        for ago, minutes, side in plan["first"]:
            m = c.meet(p, who[side], day(-ago), minutes, topics=PILOT_TOPICS[:1 + ago % 3])
            assert m["reported_by"] == who[side]["id"] and m["held_on"] == day(-ago)
            meetings[i].append((day(-ago), minutes))
        for n, side in enumerate(plan["confirm"]):
            got = c.confirm(p, who[side])
            decisions[i].append(("confirmed", who[side]["id"], side, None))
            if n == 1:
                decisions[i].append(("activated", who[side]["id"], side, None))
                started[i] = min(m[0] for m in meetings[i])
                model.activate(i)
                assert got["status"] == "active"
                assert got["started_on"] == started[i], "started_on is the date of the first meeting"
            else:
                assert got["status"] == "accepted"
        for ago, minutes, side in plan["later"]:
            c.meet(p, who[side], day(-ago), minutes)
            meetings[i].append((day(-ago), minutes))
    for pid, want in model.status.items():
        assert c.status(pid) == want, f"after activation: {pid}"

    # ---- closures
    for i, plan in enumerate(PILOT):
        if not plan["close"]:
            continue
        status, reason, by = plan["close"]
        got = c.close(pairs[i], status, reason, by=actor_client[by])
        assert got["status"] == status and got["end_reason"] == reason and got["closed_on"] == day(0)
        decisions[i].append(("closed", actor_id[by], by, reason))
        model.close(i, status, reason)

    # ---- the result, pair by pair
    final_status = []
    for i, plan in enumerate(PILOT):
        got = c.get_pair(pairs[i]["id"])
        if "decline" in plan:
            want = "declined"
        elif plan["close"]:
            want = plan["close"][0]
        elif len(plan["confirm"]) == 2:
            want = "active"
        elif len(plan["accept"]) == 2:
            want = "accepted"
        else:
            want = "proposed"
        final_status.append(want)
        assert got["status"] == want, i
        assert got["started_on"] == started.get(i), i
        assert got["closed_on"] == (day(0) if plan["close"] else None), i
        assert got["end_reason"] == (plan["close"][1] if plan["close"] else None), i
        assert [(d["action"], d["by"], d["role"], d["reason"]) for d in got["decisions"]] == decisions[i], i
        for side in ("mentor", "mentee"):
            assert (got[f"{side}_accepted_at"] is not None) == (side in plan["accept"]), (i, side)
            assert (got[f"{side}_confirmed_at"] is not None) == (side in plan["confirm"]), (i, side)
        assert got["progress"] == expected_progress(want, started.get(i), meetings[i], rules), i
        assert got["coach_id"] == c.coach_id
    # the participants
    for pid, want in model.status.items():
        assert c.status(pid) == want, pid
        assert expect(c.coord.get(f"/v1/participants/{pid}"), 200)["status"] == want
    # spot checks of the model against the domain: mentor 0 keeps their active pair 12
    assert model.status[mentors[0]["id"]] == "active" and model.status[mentees[0]["id"]] == "completed"
    assert model.status[mentees[4]["id"]] == "withdrawn" and model.status[mentors[8]["id"]] == "withdrawn"

    # ---- the lists agree: the coordinator's, per status, and each person's own
    listed = {x["id"]: x for x in c.coord.walk("/v1/pairs", {"programme_id": c.id})}
    assert set(listed) == {p["id"] for p in pairs}
    for st in ("proposed", "accepted", "active", "completed", "ended", "declined"):
        got = {x["id"] for x in c.coord.walk("/v1/pairs", {"programme_id": c.id, "status": st})}
        assert got == {pairs[i]["id"] for i in range(13) if final_status[i] == st}, st
    own = {x["id"] for x in c.as_(mentors[0]).walk("/v1/pairs")}
    assert own == {pairs[0]["id"], pairs[12]["id"]}
    assert {x["id"] for x in c.as_(mentees[12]).walk("/v1/pairs")} == {pairs[12]["id"]}
    # meetings of the whole programme, as the coordinator reads them
    logged = c.coord.walk("/v1/meetings", {"programme_id": c.id})
    assert len(logged) == sum(len(m) for m in meetings)
    assert sum(m["duration_minutes"] for m in logged) == sum(x[1] for ms in meetings for x in ms)


def test_on_track_at_the_exact_pro_rata_boundary(cohort):
    """6 meetings in 90 days: a pair started 30 days ago needs 6*30/90 = 2 meetings,
    one started 75 days ago needs 5. One meeting fewer is not on track."""
    c = cohort
    wrong = []
    for days, held in ((30, 1), (30, 2), (75, 4), (75, 5), (45, 3), (45, 2), (89, 5), (90, 5), (120, 6)):
        p, mentor, mentee = c.active_pair(held_on=day(-days), backdate=days + 1)
        for k in range(1, held):
            c.meet(p, mentee, day(-days + k))
        got = c.get_pair(p["id"])
        want = expected_on_track("active", day(-days), held, 6, 90)
        assert want == (held >= 6 * min(days, 90) // 90)
        assert got["progress"]["meetings_held"] == held and got["started_on"] == day(-days)
        if got["progress"]["on_track"] is not want:
            wrong.append(f"started {days} days ago with {held} meetings: on_track {got['progress']['on_track']}, "
                         f"should be {want}")
    assert not wrong, "minimum 6 meetings in 90 days: " + "; ".join(wrong)


# =========================================================================== illegal transitions → 409

def test_accept_a_declined_pair(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/decline", {}), 200)
    with unchanged():
        r = c.as_(mentor).post(f"/v1/pairs/{p['id']}/accept")
        expect(r, 409)
        assert "declined" in problem_detail(r)
        expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/decline"), 409)


def test_accept_an_active_pair(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.active_pair()
    with unchanged():
        expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/accept"), 409)
        expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/accept", {}), 409)
        expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/decline"), 409)
        expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/confirm"), 409)


def test_decline_an_accepted_pair(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    with unchanged():
        expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/decline", {"reason": "changed my mind"}), 409)


def test_confirm_before_both_accepted(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    c.accept(p, mentor)
    c.meet(p, mentee, day(0))
    with unchanged():
        r = c.as_(mentor).post(f"/v1/pairs/{p['id']}/confirm")
        expect(r, 409)
        expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/confirm"), 409)
    assert c.get_pair(p["id"])["status"] == "proposed"


def test_confirm_without_a_meeting(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    with unchanged():
        r = c.as_(mentee).post(f"/v1/pairs/{p['id']}/confirm")
        expect(r, 409)
        assert "meeting" in problem_detail(r)


def test_double_accept(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    c.accept(p, mentor)
    with unchanged():
        expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/accept"), 409)
    got = c.get_pair(p["id"])
    assert got["status"] == "proposed" and got["mentee_accepted_at"] is None
    assert [d["action"] for d in got["decisions"]] == ["proposed", "accepted"]


def test_double_confirm(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    c.meet(p, mentor, day(0))
    c.confirm(p, mentor)
    with unchanged():
        expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/confirm"), 409)
    assert c.get_pair(p["id"])["status"] == "accepted"


@pytest.mark.parametrize("stage", ["proposed", "accepted"])
def test_close_completed_before_active(cohort, unchanged, stage):
    c = cohort
    if stage == "proposed":
        mentor, mentee = c.mentor(), c.mentee()
        p = c.propose(mentor, mentee)
    else:
        p, mentor, mentee = c.accepted_pair()
    with unchanged():
        r = c.coach.post(f"/v1/pairs/{p['id']}/close", {"status": "completed", "end_reason": "goal_reached"})
        expect(r, 409)
        assert stage in problem_detail(r)


@pytest.mark.parametrize("first", ["completed", "ended"])
def test_close_a_closed_pair(cohort, unchanged, first):
    c = cohort
    p, mentor, mentee = c.active_pair()
    c.close(p, first, "goal_reached" if first == "completed" else "moved")
    with unchanged():
        expect(c.coach.post(f"/v1/pairs/{p['id']}/close", {"status": "ended", "end_reason": "other"}), 409)
        expect(c.coord.post(f"/v1/pairs/{p['id']}/close", {"status": "completed", "end_reason": "goal_reached"}), 409)


def test_close_a_declined_pair(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/decline"), 200)
    with unchanged():
        expect(c.coach.post(f"/v1/pairs/{p['id']}/close", {"status": "ended", "end_reason": "other"}), 409)


@pytest.mark.parametrize("how", ["completed", "ended", "declined"])
def test_patch_a_closed_pair(cohort, unchanged, how):
    c = cohort
    if how == "declined":
        mentor, mentee = c.mentor(), c.mentee()
        p = c.propose(mentor, mentee)
        expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/decline"), 200)
    else:
        p, mentor, mentee = c.active_pair()
        c.close(p, how, "goal_reached" if how == "completed" else "no_click")
    with unchanged():
        expect(c.coach.patch(f"/v1/pairs/{p['id']}", {"goals": ["Nog iets"]}), 409)
        expect(c.as_(mentor).patch(f"/v1/pairs/{p['id']}", {"agreements": {"frequency": "monthly"}}), 409)


def test_closing_an_accepted_pair_as_ended_frees_both(cohort):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    got = c.close(p, "ended", "moved")
    assert got["status"] == "ended" and got["started_on"] is None
    assert c.status(mentor["id"]) == "waiting" and c.status(mentee["id"]) == "waiting"
    # the mentee can be matched again, with another mentor
    p2 = c.propose(c.mentor(), mentee)
    assert p2["status"] == "proposed" and c.status(mentee["id"]) == "matched"


# =========================================================================== capacity and who can be matched

@pytest.mark.parametrize("capacity,programme_max,allowed", [(1, 2, 1), (3, 2, 2), (2, 3, 2), (None, 3, 1), (0, 2, 0)])
def test_mentor_capacity_is_the_smaller_of_both(make, client, tokens, psql, unchanged, capacity, programme_max,
                                                  allowed):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": programme_max})
    mentor = c.mentor(capacity=capacity)
    for _ in range(allowed):
        c.propose(mentor, c.mentee())
    extra = c.mentee()
    with unchanged():
        r = c.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": extra["id"]})
        expect(r, 409)
        assert "capacity" in problem_detail(r)
    assert open_pairs_of_mentor(c.psql, mentor["id"]) == allowed
    assert c.status(extra["id"]) == "waiting"


def test_capacity_counts_proposed_accepted_and_active_only(make, client, tokens, psql, unchanged):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": 3})
    mentor = c.mentor(capacity=3)
    c.propose(mentor, c.mentee())                     # proposed
    c.accepted_pair(mentor=mentor)                    # accepted
    c.active_pair(mentor=mentor)                      # active
    extra = c.mentee()
    with unchanged():
        expect(c.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": extra["id"]}), 409)
    # a declined and an ended pair give their place back
    declined = c.mentor(capacity=1)
    p = c.propose(declined, c.mentee())
    expect(c.as_(declined).post(f"/v1/pairs/{p['id']}/decline"), 200)
    c.propose(declined, c.mentee())
    ended, _, _ = c.active_pair(mentor=c.mentor(capacity=1))
    c.close(ended, "ended", "no_click")
    c.propose({"id": ended["mentor_id"]}, c.mentee())


def test_mentee_with_an_open_pair(cohort, unchanged):
    c = cohort
    mentee = c.mentee()
    c.propose(c.mentor(), mentee)
    other = c.mentor()
    with unchanged():
        r = c.coach.post("/v1/pairs", {"mentor_id": other["id"], "mentee_id": mentee["id"]})
        expect(r, 409)
        assert "open pair" in problem_detail(r)


def test_different_programmes(cohort, make, client, tokens, psql, unchanged):
    other = Cohort(make, client, tokens, psql)
    mentor, mentee = cohort.mentor(), other.mentee()
    both = client(tokens("coordinator", prg=[cohort.id, other.id]))
    with unchanged():
        r = both.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"]})
        expect(r, 409)
        assert "programme" in problem_detail(r)


@pytest.mark.parametrize("status", ["applied", "screened"])
def test_mentee_not_waiting(cohort, unchanged, status):
    c = cohort
    mentee, mentor = c.mentee(status=status), c.mentor()
    with unchanged():
        r = c.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"]})
        expect(r, 409)
        assert "waiting" in problem_detail(r)


def test_mentee_withdrawn_after_stopping_cannot_be_proposed(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    c.close(p, "ended", "mentee_stopped")
    assert c.status(mentee["id"]) == "withdrawn"
    other = c.mentor()
    with unchanged():
        expect(c.coach.post("/v1/pairs", {"mentor_id": other["id"], "mentee_id": mentee["id"]}), 409)


def test_mentor_not_available(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(status="screened"), c.mentee()
    with unchanged():
        r = c.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"]})
        expect(r, 409)
        assert "screened" in problem_detail(r)


def test_kinds_swapped_and_unknown_people_are_422(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    with unchanged():
        expect(c.coach.post("/v1/pairs", {"mentor_id": mentee["id"], "mentee_id": mentor["id"]}), 422, "/mentor_id")
        expect(c.coach.post("/v1/pairs", {"mentor_id": str(uuid.uuid4()), "mentee_id": mentee["id"]}), 422,
               "/mentor_id")
        expect(c.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": str(uuid.uuid4())}), 422,
               "/mentee_id")
        expect(c.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentor["id"]}), 422)


def test_coach_id_must_be_a_registered_coach_of_the_programme(cohort, make, unchanged):
    c = cohort
    elsewhere = make.staff([make.programme()["id"]], role="coach")
    coordinator = make.staff([c.id], role="coordinator")
    mentor, mentee = c.mentor(), c.mentee()
    for bad in (str(uuid.uuid4()), elsewhere["id"], coordinator["id"]):
        with unchanged():
            expect(c.coord.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"],
                                               "coach_id": bad}), 422, "/coach_id")


# =========================================================================== the last slot, twice at once

@pytest.mark.parametrize("round_", range(10))
def test_concurrent_proposals_for_the_last_slot(make, client, tokens, psql, round_):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": 2})
    # even rounds: capacity 1, nothing taken; odd rounds: capacity 2, one place taken already
    capacity = 1 + round_ % 2
    mentor = c.mentor(capacity=capacity)
    if capacity == 2:
        c.propose(mentor, c.mentee())
    a, b = c.mentee(), c.mentee()
    coach_a = client(tokens("coach", sub=c.coach_id, prg=[c.id]))
    coach_b = client(tokens("coordinator", prg=[c.id]))
    results = race([
        lambda: coach_a.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": a["id"]}),
        lambda: coach_b.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": b["id"]}),
    ])
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409], [(r.status_code, r.text[:300]) for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert "capacity" in problem_detail(loser)
    assert open_pairs_of_mentor(psql, mentor["id"]) == capacity
    raced = psql("SELECT count(*) FROM pairs WHERE mentor_id = %s AND mentee_id IN (%s, %s) "
                 "AND status IN ('proposed', 'accepted', 'active')", mentor["id"], a["id"], b["id"])
    assert raced == [("1",)], "exactly one of the two racing proposals holds the slot"
    winner = next(r for r in results if r.status_code == 201).json()
    won, lost = (a, b) if winner["mentee_id"] == a["id"] else (b, a)
    assert c.status(won["id"]) == "matched" and c.status(lost["id"]) == "waiting"
    assert psql("SELECT count(*) FROM pairs WHERE mentee_id = %s", lost["id"]) == [("0",)]


def test_concurrent_proposals_for_the_same_mentee(cohort, client, tokens, psql):
    c = cohort
    mentee = c.mentee()
    m1, m2 = c.mentor(), c.mentor()
    other = client(tokens("coordinator", prg=[c.id]))
    results = race([
        lambda: c.coach.post("/v1/pairs", {"mentor_id": m1["id"], "mentee_id": mentee["id"]}),
        lambda: other.post("/v1/pairs", {"mentor_id": m2["id"], "mentee_id": mentee["id"]}),
    ])
    assert sorted(r.status_code for r in results) == [201, 409], [r.text[:300] for r in results]
    assert psql("SELECT count(*) FROM pairs WHERE mentee_id = %s AND status IN ('proposed','accepted','active')",
                mentee["id"]) == [("1",)]


# =========================================================================== decisions by the wrong person

def test_mentor_of_another_pair_cannot_decide(cohort, unchanged):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    stranger_pair = c.propose(c.mentor(), c.mentee())
    stranger = {"id": stranger_pair["mentor_id"], "kind": "mentor"}
    stranger_mentee = {"id": stranger_pair["mentee_id"], "kind": "mentee"}
    with unchanged():
        for action in ("accept", "decline", "confirm"):
            expect(c.as_(stranger).post(f"/v1/pairs/{p['id']}/{action}"), 404)
            expect(c.as_(stranger_mentee).post(f"/v1/pairs/{p['id']}/{action}"), 404)
        expect(c.as_(stranger).get(f"/v1/pairs/{p['id']}"), 404)


@pytest.mark.parametrize("role", ["coach", "coordinator", "researcher", "integration"])
def test_staff_and_others_cannot_accept(cohort, client, tokens, unchanged, role):
    c = cohort
    p = c.propose(c.mentor(), c.mentee())
    who = {"coach": c.coach, "coordinator": c.coord,
           "researcher": client(tokens("researcher", prg=[c.id])),
           "integration": client(tokens("integration", partner=str(uuid.uuid4())))}[role]
    with unchanged():
        for action in ("accept", "decline", "confirm"):
            expect(who.post(f"/v1/pairs/{p['id']}/{action}"), 403)


def test_a_participant_token_of_the_wrong_kind_cannot_act_for_the_other_side(cohort, client, tokens, unchanged):
    """A mentee token carrying the mentor's id (or the reverse) matches nothing."""
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    fake_mentee = client(tokens("mentee", sub=mentor["id"], prg=[c.id]))
    fake_mentor = client(tokens("mentor", sub=mentee["id"], prg=[c.id]))
    with unchanged():
        expect(fake_mentee.post(f"/v1/pairs/{p['id']}/accept"), 404)
        expect(fake_mentor.post(f"/v1/pairs/{p['id']}/accept"), 404)


def test_mentee_acceptance_counts_for_the_mentee_side_only(cohort):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    got = c.accept(p, mentee)
    assert got["status"] == "proposed"
    assert got["mentee_accepted_at"] is not None and got["mentor_accepted_at"] is None
    assert got["decisions"][-1]["by"] == mentee["id"] and got["decisions"][-1]["role"] == "mentee"
    # the mentee cannot accept a second time to make up for the mentor
    expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/accept"), 409)
    got = expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/accept", {}), 200)   # an empty object is no body
    assert got["status"] == "accepted"
    assert got["decisions"][-1]["by"] == mentor["id"] and got["decisions"][-1]["role"] == "mentor"


def test_confirmation_of_one_side_does_not_activate(cohort):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    c.meet(p, mentor, day(0))
    got = c.confirm(p, mentee)
    assert got["status"] == "accepted" and got["mentee_confirmed_at"] and got["mentor_confirmed_at"] is None
    assert c.status(mentee["id"]) == "matched"
    got = c.confirm(p, mentor)
    assert got["status"] == "active" and got["started_on"] == day(0)
    assert c.status(mentee["id"]) == "active" and c.status(mentor["id"]) == "active"


def test_an_active_mentor_with_a_free_place_takes_another_mentee(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": 2})
    mentor = c.mentor(capacity=2)
    first, _, first_mentee = c.active_pair(mentor=mentor)
    assert c.status(mentor["id"]) == "active"
    second_mentee = c.mentee()
    second = c.propose(mentor, second_mentee)
    assert c.status(mentor["id"]) == "active" and c.status(second_mentee["id"]) == "matched"
    # the second is declined: the mentor keeps the active pair and stays active
    expect(c.as_(second_mentee).post(f"/v1/pairs/{second['id']}/decline"), 200)
    assert c.status(mentor["id"]) == "active" and c.status(second_mentee["id"]) == "waiting"
    # the first completes: nothing else keeps the mentor busy
    c.close(first, "completed", "goal_reached")
    assert c.status(mentor["id"]) == "completed" and c.status(first_mentee["id"]) == "completed"


def test_decline_by_mentor_keeps_a_busy_mentor_matched(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": 2})
    mentor = c.mentor(capacity=2)
    c.propose(mentor, c.mentee())
    mentee = c.mentee()
    p = c.propose(mentor, mentee)
    got = expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/decline", {"reason": None}), 200)
    assert got["declined_by"] == "mentor" and got["decline_reason"] is None
    assert got["decisions"][-1] == {**got["decisions"][-1], "action": "declined", "by": mentor["id"],
                                    "role": "mentor", "reason": None}
    assert c.status(mentor["id"]) == "matched" and c.status(mentee["id"]) == "waiting"


# =========================================================================== the contact rule

def _view(c, viewer, target):
    return expect(c.as_(viewer).get(f"/v1/participants/{target['id']}"), 200)


SHORT_PROFILE = {"id", "programme_id", "kind", "given_name", "family_name", "sectors", "occupations", "region",
                 "languages", "years_experience", "short_profile"}


@pytest.mark.parametrize("order", [("mentor", "mentee"), ("mentee", "mentor")])
def test_contact_details_only_once_both_accepted(cohort, order):
    c = cohort
    mentor = c.mentor(short_profile="Leraar wiskunde, ex-bankier", motivation="mentor motivation",
                      years_experience=22, phone="+32 470 00 00 01")
    mentee = c.mentee(motivation="mentee motivation", job_target="Leraar", phone="+32 470 00 00 02")
    # no pair: nothing visible
    expect(c.as_(mentor).get(f"/v1/participants/{mentee['id']}"), 404)
    expect(c.as_(mentee).get(f"/v1/participants/{mentor['id']}"), 404)
    p = c.propose(mentor, mentee)
    who = {"mentor": mentor, "mentee": mentee}
    for step in ("proposed", "one accepted"):
        seen_by_mentor = _view(c, mentor, mentee)
        assert "email" not in seen_by_mentor and "phone" not in seen_by_mentor, step
        assert seen_by_mentor["motivation"] == "mentee motivation" and seen_by_mentor["job_target"] == "Leraar"
        seen_by_mentee = _view(c, mentee, mentor)
        assert set(seen_by_mentee) <= SHORT_PROFILE, set(seen_by_mentee) - SHORT_PROFILE
        assert seen_by_mentee["short_profile"] == "Leraar wiskunde, ex-bankier"
        assert seen_by_mentee["years_experience"] == 22
        if step == "proposed":
            c.accept(p, who[order[0]])
    c.accept(p, who[order[1]])
    seen_by_mentor = _view(c, mentor, mentee)
    assert seen_by_mentor["email"] == mentee["email"] and seen_by_mentor["phone"] == "+32 470 00 00 02"
    seen_by_mentee = _view(c, mentee, mentor)
    assert seen_by_mentee["email"] == mentor["email"] and seen_by_mentee["phone"] == "+32 470 00 00 01"
    assert set(seen_by_mentee) <= SHORT_PROFILE | {"email", "phone"}
    assert "motivation" not in seen_by_mentee


def test_a_declined_pair_shows_no_counterpart(cohort):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/decline", {"reason": "anders"}), 200)
    expect(c.as_(mentor).get(f"/v1/participants/{mentee['id']}"), 404)
    expect(c.as_(mentee).get(f"/v1/participants/{mentor['id']}"), 404)


# =========================================================================== arrangements, notes, lists

def test_patch_arrangements(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    r = c.coach.get(f"/v1/pairs/{p['id']}")
    etag = r.headers["ETag"]
    got = expect(c.as_(mentee).patch(f"/v1/pairs/{p['id']}",
                                     {"agreements": {"frequency": "monthly", "contact_modes": ["chat"]},
                                      "goals": ["Stage lopen", "Diploma halen"]},
                                     headers={"If-Match": etag}), 200)
    assert got["agreements"]["frequency"] == "monthly" and got["agreements"]["contact_modes"] == ["chat"]
    assert got["goals"] == ["Stage lopen", "Diploma halen"]
    with unchanged():
        expect(c.coach.patch(f"/v1/pairs/{p['id']}", {"goals": []}, headers={"If-Match": etag}), 412)
        expect(c.as_(mentor).patch(f"/v1/pairs/{p['id']}", {"coach_id": None}), 403)
        expect(c.coach.patch(f"/v1/pairs/{p['id']}", {"coach_id": str(uuid.uuid4())}), 422, "/coach_id")
        expect(c.coach.patch(f"/v1/pairs/{p['id']}", {"status": "active"}), 400, "/status")
        expect(c.coach.patch(f"/v1/pairs/{p['id']}", {"mentor_id": mentee["id"]}), 400, "/mentor_id")
    # a merge patch: frequency null clears it, the rest stays
    got = expect(c.coach.patch(f"/v1/pairs/{p['id']}", {"agreements": {"frequency": None}}), 200)
    assert got["agreements"]["frequency"] is None and got["agreements"]["contact_modes"] == ["chat"]
    assert got["goals"] == ["Stage lopen", "Diploma halen"]
    got = expect(c.coord.patch(f"/v1/pairs/{p['id']}", {"coach_id": None}), 200)
    assert got["coach_id"] is None


def test_notes_are_for_staff_only(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    n1 = expect(c.coach.post(f"/v1/pairs/{p['id']}/notes", {"text": "Eerste maandgesprek gehad."}), 201)
    assert n1["author"] == c.coach_id and n1["pair_id"] == p["id"]
    n2 = expect(c.coord.post(f"/v1/pairs/{p['id']}/notes", {"text": "Opvolging door coördinator."}), 201)
    got = c.coach.walk(f"/v1/pairs/{p['id']}/notes")
    assert [(n["id"], n["text"], n["author"]) for n in got] == [(n1["id"], n1["text"], c.coach_id),
                                                               (n2["id"], n2["text"], c.coord_id)]
    with unchanged():
        for person in (mentor, mentee):
            expect(c.as_(person).get(f"/v1/pairs/{p['id']}/notes"), 403)
            expect(c.as_(person).post(f"/v1/pairs/{p['id']}/notes", {"text": "mag niet"}), 403)
    # notes never show in the pair itself
    assert "Eerste maandgesprek" not in json.dumps(expect(c.as_(mentor).get(f"/v1/pairs/{p['id']}"), 200))


def test_notes_updated_since(cohort, make, unchanged):
    """Notes are never edited: updated_since keeps those written at or after the instant."""
    c = cohort
    p, _, _ = c.accepted_pair()
    url = f"/v1/pairs/{p['id']}/notes"
    notes = [expect(c.coach.post(url, {"text": f"Notitie {i}"}), 201) for i in range(4)]
    ids = [n["id"] for n in notes]
    make.backdate("pair_notes", ids[0], "2020-01-01T00:00:00Z", column="created_at")
    make.backdate("pair_notes", ids[1], "2021-06-01T12:00:00Z", column="created_at")

    def since(value, **kw):
        return [n["id"] for n in c.coach.walk(url, {"updated_since": value}, **kw)]

    assert since("2019-12-31T23:59:59Z") == ids
    assert since("2020-01-01T00:00:00Z") == ids, "at the instant counts"
    assert since("2020-01-01T00:00:00.000001Z") == ids[1:]
    # 14:00 at +02:00 is 12:00 UTC: the second note is kept, 12:00:01 drops it
    assert since("2021-06-01T14:00:00+02:00") == ids[1:]
    assert since("2021-06-01T12:00:01Z") == ids[2:]
    assert since("2021-06-01T12:00:01Z", limit=1) == ids[2:], "pages keep the filter"
    assert since("2099-01-01T00:00:00Z") == []
    with unchanged():
        for bad in ["2024-01-01", "yesterday", "2024-02-30T00:00:00Z", "2024-01-01T25:00:00Z",
                    "2024-01-01 00:00:00Z", "2024-01-01T00:00:00", ""]:
            r = c.coach.get(url, params={"updated_since": bad})
            expect(r, 400)
            assert "updated_since" in r.json()["detail"], (bad, r.text)


def test_pair_list_filters_and_paging(cohort, make):
    c = cohort
    other_coach = make.staff([c.id], role="coach")
    made = []
    for i in range(5):
        body = {"coach_id": other_coach["id"]} if i % 2 else {}
        made.append(c.propose(c.mentor(), c.mentee(), by=c.coord, **body))
    ids = [p["id"] for p in made]
    assert [x["id"] for x in c.coord.walk("/v1/pairs", {"programme_id": c.id}, limit=2)] == ids
    assert {x["id"] for x in c.coord.walk("/v1/pairs", {"coach_id": other_coach["id"]})} == {ids[1], ids[3]}
    assert {x["id"] for x in c.coord.walk("/v1/pairs", {"mentor_id": made[2]["mentor_id"]})} == {ids[2]}
    assert {x["id"] for x in c.coord.walk("/v1/pairs", {"mentee_id": made[4]["mentee_id"]})} == {ids[4]}
    since = made[3]["updated_at"]
    assert {x["id"] for x in c.coord.walk("/v1/pairs", {"programme_id": c.id, "updated_since": since})} >= {ids[3],
                                                                                                         ids[4]}
    c.make.backdate("pairs", ids[0], "2001-01-01T00:00:00Z")
    assert ids[0] not in {x["id"] for x in c.coord.walk("/v1/pairs", {"programme_id": c.id,
                                                                      "updated_since": "2010-01-01T00:00:00Z"})}
    for bad in ({"status": "finished"}, {"programme_id": "x"}, {"limit": 0}, {"limit": 201}, {"cursor": "abc"},
                {"updated_since": "yesterday"}, {"colour": "red"}):
        expect(c.coord.get("/v1/pairs", params=bad), 400)


def test_proposal_is_scored_and_flags_a_generalist(cohort):
    c = cohort
    mentee = c.mentee(sectors=["85.31"], occupations=["2330"])
    same = c.propose(c.mentor(sectors=["85.31"], occupations=["2330"]), mentee)
    assert same["generalist"] is False
    assert [r["criterion"] for r in same["match_reasons"]] == ["occupation", "sector", "region", "availability",
                                                              "language"]
    assert same["match_score"] == pytest.approx(sum(r["points"] for r in same["match_reasons"]))
    other = c.mentee(sectors=["85.31"])
    gen = c.propose(c.mentor(sectors=["78.10"], occupations=["2423"]), other)
    assert gen["generalist"] is True


# =========================================================================== role matrix

@pytest.fixture(scope="module")
def rw(make, client, tokens, psql):
    """Own programme A (with the role's own pair) and foreign programme B."""
    a = Cohort(make, client, tokens, psql)
    b = Cohort(make, client, tokens, psql)
    w = {"A": a, "B": b}
    w["own"], w["mentor"], w["mentee"] = a.accepted_pair()
    w["neighbour"], _, _ = a.accepted_pair()          # another pair in the same programme
    w["foreign"], _, _ = b.accepted_pair()
    w["c"] = {
        "coordinator": a.coord, "coach": a.coach,
        "mentor": a.as_(w["mentor"]), "mentee": a.as_(w["mentee"]),
        "researcher": client(tokens("researcher", prg=[a.id])),
        "integration": client(tokens("integration", partner=make.partner()["id"])),
    }
    return w


STAFF = ("coordinator", "coach")
PEOPLE = ("mentor", "mentee")


@pytest.mark.parametrize("role", ROLES)
def test_roles_list_and_get(rw, role):
    c = rw["c"][role]
    own, neighbour, foreign = rw["own"]["id"], rw["neighbour"]["id"], rw["foreign"]["id"]
    if role in ("researcher", "integration"):
        expect(c.get("/v1/pairs"), 403)
        for pid in (own, foreign):
            expect(c.get(f"/v1/pairs/{pid}"), 403)
        return
    seen = {x["id"] for x in c.walk("/v1/pairs")}
    assert own in seen and foreign not in seen
    expect(c.get(f"/v1/pairs/{own}"), 200)
    expect(c.get(f"/v1/pairs/{foreign}"), 404)
    if role in PEOPLE:
        assert seen == {own}
        expect(c.get(f"/v1/pairs/{neighbour}"), 404)
    else:
        assert neighbour in seen
        expect(c.get(f"/v1/pairs/{neighbour}"), 200)


@pytest.mark.parametrize("role", ROLES)
def test_roles_propose(rw, role, unchanged):
    a, b = rw["A"], rw["B"]
    c = rw["c"][role]
    own = {"mentor_id": a.mentor()["id"], "mentee_id": a.mentee()["id"]}
    foreign = {"mentor_id": b.mentor()["id"], "mentee_id": b.mentee()["id"]}
    if role in STAFF:
        expect(c.post("/v1/pairs", own), 201)
        with unchanged():
            r = c.post("/v1/pairs", foreign)
            expect(r, 422, "/mentor_id")
            expect(r, 422, "/mentee_id")
        return
    with unchanged():
        expect(c.post("/v1/pairs", own), 403)
        expect(c.post("/v1/pairs", foreign), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_patch(rw, role, unchanged):
    c = rw["c"][role]
    own, foreign = rw["own"]["id"], rw["foreign"]["id"]
    body = {"goals": [unique("goal")]}
    if role in STAFF + PEOPLE:
        assert expect(c.patch(f"/v1/pairs/{own}", body), 200)["goals"] == body["goals"]
        with unchanged():
            expect(c.patch(f"/v1/pairs/{foreign}", body), 404)
            if role in PEOPLE:
                expect(c.patch(f"/v1/pairs/{rw['neighbour']['id']}", body), 404)
        return
    with unchanged():
        expect(c.patch(f"/v1/pairs/{own}", body), 403)
        expect(c.patch(f"/v1/pairs/{foreign}", body), 403)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["accept", "decline", "confirm"])
def test_roles_decisions(rw, role, action, unchanged):
    a = rw["A"]
    c = rw["c"][role]
    if role in PEOPLE:
        # a fresh pair of the role's own (a real token: sub = the person), in the state the action needs
        own, mentor, mentee = a.accepted_pair() if action == "confirm" else (None, a.mentor(), a.mentee())
        if own is None:
            own = a.propose(mentor, mentee)
        else:
            a.meet(own, mentee, day(0))
        me = mentor if role == "mentor" else mentee
        got = expect(a.as_(me).post(f"/v1/pairs/{own['id']}/{action}"), 200)
        if action == "decline":
            assert got["status"] == "declined" and got["declined_by"] == role
        else:
            assert got[f"{role}_{action}ed_at"] is not None
        with unchanged():
            expect(c.post(f"/v1/pairs/{rw['foreign']['id']}/{action}"), 404)
            expect(c.post(f"/v1/pairs/{rw['neighbour']['id']}/{action}"), 404)
        return
    with unchanged():
        expect(c.post(f"/v1/pairs/{rw['own']['id']}/{action}"), 403)
        expect(c.post(f"/v1/pairs/{rw['foreign']['id']}/{action}"), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_close(rw, role, unchanged):
    a = rw["A"]
    c = rw["c"][role]
    if role in STAFF:
        p, _, _ = a.accepted_pair()
        assert expect(c.post(f"/v1/pairs/{p['id']}/close", {"status": "ended", "end_reason": "other"}),
                      200)["status"] == "ended"
        with unchanged():
            expect(c.post(f"/v1/pairs/{rw['foreign']['id']}/close", {"status": "ended", "end_reason": "other"}), 404)
        return
    with unchanged():
        expect(c.post(f"/v1/pairs/{rw['own']['id']}/close", {"status": "ended", "end_reason": "other"}), 403)
        expect(c.post(f"/v1/pairs/{rw['foreign']['id']}/close", {"status": "ended", "end_reason": "other"}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_notes(rw, role, unchanged):
    c = rw["c"][role]
    own, foreign = rw["neighbour"]["id"], rw["foreign"]["id"]
    if role in STAFF:
        expect(c.post(f"/v1/pairs/{own}/notes", {"text": unique("note")}), 201)
        expect(c.get(f"/v1/pairs/{own}/notes"), 200)
        with unchanged():
            expect(c.post(f"/v1/pairs/{foreign}/notes", {"text": "x"}), 404)
            expect(c.get(f"/v1/pairs/{foreign}/notes"), 404)
        return
    with unchanged():
        expect(c.post(f"/v1/pairs/{own}/notes", {"text": "x"}), 403)
        expect(c.get(f"/v1/pairs/{own}/notes"), 403)
        expect(c.get(f"/v1/pairs/{foreign}/notes"), 403)


def test_unknown_and_malformed_pair_ids_are_404(rw):
    coord, mentee = rw["c"]["coordinator"], rw["c"]["mentee"]
    for pid in (str(uuid.uuid4()), "not-a-uuid", "1%27%20OR%201=1"):
        expect(coord.get(f"/v1/pairs/{pid}"), 404)
        expect(coord.get(f"/v1/pairs/{pid}/notes"), 404)
        expect(coord.patch(f"/v1/pairs/{pid}", {"goals": []}), 404)
        expect(coord.post(f"/v1/pairs/{pid}/close", {"status": "ended", "end_reason": "other"}), 404)
        expect(coord.post(f"/v1/pairs/{pid}/notes", {"text": "x"}), 404)
        for action in ("accept", "decline", "confirm"):
            expect(mentee.post(f"/v1/pairs/{pid}/{action}"), 404)


# =========================================================================== bad input

@pytest.fixture(scope="module")
def bw(make, client, tokens, psql):
    a = Cohort(make, client, tokens, psql)
    w = {"A": a}
    w["pair"], w["mentor"], w["mentee"] = a.accepted_pair()
    w["proposed"] = a.propose(a.mentor(), a.mentee())
    return w


def _new_proposal(a):
    return {"mentor_id": a.mentor()["id"], "mentee_id": a.mentee()["id"],
            "agreements": {"frequency": "weekly", "contact_modes": ["phone"], "planned_end_on": "2030-01-31"},
            "goals": ["Een doel"]}


def _set(body, pointer, value):
    body = json.loads(json.dumps(body))
    parts = pointer.strip("/").split("/")
    node = body
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return body


PROPOSAL_WRONG = [("/mentor_id", 5), ("/mentee_id", True), ("/coach_id", 7), ("/agreements", "weekly"),
                  ("/agreements/frequency", 1), ("/agreements/contact_modes", "phone"),
                  ("/agreements/planned_end_on", 20300131), ("/goals", "doel"), ("/goals/0", 5),
                  ("/agreements/contact_modes/0", ["phone"])]
PROPOSAL_INVALID = [("/mentor_id", "not-a-uuid"), ("/agreements/frequency", "daily"),
                    ("/agreements/contact_modes/0", "pigeon"), ("/agreements/planned_end_on", "2030-02-30"),
                    ("/goals/0", ""), ("/goals/0", "x" * 501), ("/mentor_id", None)]
PROPOSAL_UNKNOWN = ["/status", "/programme_id", "/colour", "/agreements/venue"]


@pytest.mark.parametrize("pointer,value", PROPOSAL_WRONG + PROPOSAL_INVALID,
                         ids=[f"{p}={json.dumps(v)[:16]}" for p, v in PROPOSAL_WRONG + PROPOSAL_INVALID])
def test_propose_invalid_values_are_422(bw, unchanged, pointer, value):
    a = bw["A"]
    body = _set(_new_proposal(a), pointer, value)
    with unchanged():
        expect(a.coach.post("/v1/pairs", body), 422, pointer)


@pytest.mark.parametrize("pointer", PROPOSAL_UNKNOWN)
def test_propose_unknown_fields_are_400(bw, unchanged, pointer):
    a = bw["A"]
    body = _set(_new_proposal(a), pointer, "x")
    with unchanged():
        expect(a.coach.post("/v1/pairs", body), 400, pointer)


def test_propose_duplicates_and_limits(bw, unchanged):
    a = bw["A"]
    base = _new_proposal(a)
    with unchanged():
        expect(a.coach.post("/v1/pairs", _set(base, "/goals", ["a", "a"])), 422, "/goals/1")
        expect(a.coach.post("/v1/pairs", _set(base, "/goals", [f"g{i}" for i in range(11)])), 422, "/goals")
        expect(a.coach.post("/v1/pairs", _set(base, "/agreements/contact_modes", ["phone", "phone"])),
               422, "/agreements/contact_modes/1")
        body = dict(base)
        del body["mentee_id"]
        expect(a.coach.post("/v1/pairs", body), 422, "/mentee_id")


MALFORMED = [b'{"mentor_id": ', b"[1]", b'"x"', b'{"a":1,"a":2}', b"{'a': 1}"]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
@pytest.mark.parametrize("path", ["/v1/pairs", "PAIR", "PAIR/accept", "PAIR/decline", "PAIR/confirm",
                                  "PAIR/close", "PAIR/notes"])
def test_malformed_json_is_400(bw, unchanged, raw, path):
    a = bw["A"]
    pid = bw["proposed"]["id"]
    path = path.replace("PAIR", f"/v1/pairs/{pid}")
    method = "PATCH" if path.endswith(pid) else "POST"
    who = bw["mentee"] if any(path.endswith(s) for s in ("accept", "decline", "confirm")) else None
    c = a.as_(who) if who else a.coach
    if who:
        # the mentee of the accepted pair is not in the proposed one: use its own pair
        path = path.replace(pid, bw["pair"]["id"])
    with unchanged():
        expect(c.request(method, path, data=raw, headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("action", ["accept", "confirm"])
def test_action_without_body_fields_names_an_unknown_field(bw, unchanged, action):
    a = bw["A"]
    with unchanged():
        expect(a.as_(bw["mentee"]).post(f"/v1/pairs/{bw['pair']['id']}/{action}", {"really": True}), 400, "/really")


def test_decline_body(bw, unchanged):
    a = bw["A"]
    pid = bw["proposed"]["id"]
    mentor = {"id": bw["proposed"]["mentor_id"], "kind": "mentor"}
    c = a.as_(mentor)
    with unchanged():
        expect(c.post(f"/v1/pairs/{pid}/decline", {"reason": 5}), 422, "/reason")
        expect(c.post(f"/v1/pairs/{pid}/decline", {"reason": "x" * 1001}), 422, "/reason")
        expect(c.post(f"/v1/pairs/{pid}/decline", {"why": "x"}), 400, "/why")


@pytest.mark.parametrize("body,pointer,status", [
    ({"status": "finished", "end_reason": "other"}, "/status", 422),
    ({"status": "ended", "end_reason": "bored"}, "/end_reason", 422),
    ({"status": 1, "end_reason": "other"}, "/status", 422),
    ({"status": "ended", "end_reason": ["other"]}, "/end_reason", 422),
    ({"status": "ended"}, "/end_reason", 422),
    ({"end_reason": "other"}, "/status", 422),
    ({"status": "ended", "end_reason": None}, "/end_reason", 422),
    ({"status": "ended", "end_reason": "other", "note": "x"}, "/note", 400),
])
def test_close_body(bw, unchanged, body, pointer, status):
    a = bw["A"]
    with unchanged():
        expect(a.coach.post(f"/v1/pairs/{bw['pair']['id']}/close", body), status, pointer)


@pytest.mark.parametrize("body,pointer,status", [
    ({"text": ""}, "/text", 422), ({"text": 5}, "/text", 422), ({"text": "x" * 4001}, "/text", 422),
    ({}, "/text", 422), ({"text": "x", "private": True}, "/private", 400)])
def test_note_body(bw, unchanged, body, pointer, status):
    a = bw["A"]
    with unchanged():
        expect(a.coach.post(f"/v1/pairs/{bw['pair']['id']}/notes", body), status, pointer)


@pytest.mark.parametrize("pointer,value", PROPOSAL_WRONG[2:] + PROPOSAL_INVALID[1:6],
                         ids=[f"{p}={json.dumps(v)[:16]}" for p, v in PROPOSAL_WRONG[2:] + PROPOSAL_INVALID[1:6]])
def test_patch_invalid_values_are_422(bw, unchanged, pointer, value):
    a = bw["A"]
    base = {"agreements": {"frequency": "weekly", "contact_modes": ["phone"], "planned_end_on": "2030-01-31"},
            "goals": ["Een doel"]}
    with unchanged():
        expect(a.coach.patch(f"/v1/pairs/{bw['pair']['id']}", _set(base, pointer, value)), 422, pointer)


SQL_PAYLOADS = ["'; DROP TABLE pairs; --", '\\" OR 1=1', "Robert'); DELETE FROM participants;--",
                "$1 $$ :'p0' %s %_", "ünïcødé ‘quotes’ — 🚀"]


@pytest.mark.parametrize("payload", SQL_PAYLOADS, ids=range(len(SQL_PAYLOADS)))
def test_sql_metacharacters_stored_verbatim(make, client, tokens, psql, payload):
    a = Cohort(make, client, tokens, psql)
    mentor, mentee = a.mentor(), a.mentee()
    p = expect(a.coach.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"],
                                          "goals": [payload, "plain"]}), 201)
    assert p["goals"] == [payload, "plain"]
    assert expect(a.coord.get(f"/v1/pairs/{p['id']}"), 200)["goals"] == [payload, "plain"]
    assert psql("SELECT goals[1] FROM pairs WHERE id = %s", p["id"]) == [(payload,)]
    got = expect(a.coach.patch(f"/v1/pairs/{p['id']}", {"goals": [payload + "!"]}), 200)
    assert got["goals"] == [payload + "!"]
    note = expect(a.coach.post(f"/v1/pairs/{p['id']}/notes", {"text": payload}), 201)
    assert note["text"] == payload
    assert [n["text"] for n in a.coach.walk(f"/v1/pairs/{p['id']}/notes")] == [payload]
    assert psql("SELECT text FROM pair_notes WHERE pair_id = %s", p["id"]) == [(payload,)]
    got = expect(a.as_(mentee).post(f"/v1/pairs/{p['id']}/decline", {"reason": payload}), 200)
    assert got["decline_reason"] == payload and got["decisions"][-1]["reason"] == payload
    assert psql("SELECT decline_reason FROM pairs WHERE id = %s", p["id"]) == [(payload,)]
    assert psql("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('pairs', 'participants')") == \
        [("2",)]


@pytest.mark.parametrize("name", ["programme_id", "status", "mentor_id", "mentee_id", "coach_id", "updated_since"])
@pytest.mark.parametrize("payload", SQL_PAYLOADS + ["", "a" * 3000], ids=range(len(SQL_PAYLOADS) + 2))
def test_hostile_filter_values_are_400(coord, name, payload):
    expect(coord.get("/v1/pairs", params={name: payload}), 400)
