"""Closing the relationship (issue 6): feedback between mentor and mentee after
closure, its visibility over time (before both wrote, after both, after 14
days), ratings for researchers only aggregated and suppressed, and the
participation records (recognitions) a completed pair produces."""
import uuid

import pytest

from conftest import ROLES, expect
from pairhelpers import Cohort, day


@pytest.fixture
def cohort(make, client, tokens, psql):
    return Cohort(make, client, tokens, psql)


def closed_pair(c, status="completed", meetings=1):
    p, mentor, mentee = c.active_pair(backdate=20, held_on=day(-10))
    for i in range(1, meetings):
        c.meet(p, mentor, day(-i), minutes=30)
    p = c.close(p, status, "goal_reached" if status == "completed" else "no_click")
    assert p["status"] == status and p["closed_on"] == day(0)
    return p, mentor, mentee


def feedback(reader, pair):
    return expect(reader.get(f"/v1/pairs/{pair['id']}/feedback"), 200)


def give(c, person, pair, rating=8, text="Thank you!", **kw):
    return c.as_(person).post(f"/v1/pairs/{pair['id']}/feedback", dict({"rating": rating, "text": text}, **kw))


def sides(view):
    return [f["author_role"] for f in view["items"]]


# =========================================================================== giving feedback

def test_give_feedback_after_completion(cohort, psql):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    r = give(c, mentee, p, 9, "Bedankt voor het schoolbezoek.")
    f = expect(r, 201)
    assert r.headers["Location"].endswith(f"/v1/pairs/{p['id']}/feedback") and r.headers.get("ETag")
    assert f["pair_id"] == p["id"] and f["author_role"] == "mentee" and f["author_id"] == mentee["id"]
    assert f["rating"] == 9 and f["text"] == "Bedankt voor het schoolbezoek."
    assert psql("SELECT author_role, rating::text, text FROM pair_feedback WHERE pair_id = %s", p["id"]) == \
        [("mentee", "9", "Bedankt voor het schoolbezoek.")]
    # the write is audited, with field names only
    rows = psql("SELECT action, actor, changed_fields::text FROM audit_log WHERE entity = 'pair_feedback' "
                "AND entity_id = %s", p["id"])
    assert len(rows) == 1 and rows[0][0] == "create" and rows[0][1] == mentee["id"]
    assert "rating" in rows[0][2] and "Bedankt" not in rows[0][2]


def test_feedback_on_an_ended_pair_and_without_text(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c, "ended")
    f = expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/feedback", {"rating": 4}), 201)
    assert f["text"] is None and f["rating"] == 4 and f["author_role"] == "mentor"


def test_feedback_only_once_closed(cohort, unchanged):
    c = cohort
    p, mentor, mentee = c.active_pair()
    with unchanged():
        r = expect(give(c, mentee, p), 409)
        assert "active" in r["detail"]
    p2, mentor2, mentee2 = c.accepted_pair()
    with unchanged():
        expect(give(c, mentor2, p2), 409)


def test_feedback_is_final(cohort, unchanged):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    expect(give(c, mentor, p, 7), 201)
    with unchanged():
        r = expect(give(c, mentor, p, 10, "changed my mind"), 409)
        assert "already" in r["detail"]
    assert [f["rating"] for f in feedback(c.coord, p)["items"]] == [7]


def test_idempotent_retry_makes_one_row(cohort, psql):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    key = str(uuid.uuid4())
    body = {"rating": 6, "text": "Fijne samenwerking"}
    a = c.as_(mentee).post(f"/v1/pairs/{p['id']}/feedback", body, headers={"Idempotency-Key": key})
    b = c.as_(mentee).post(f"/v1/pairs/{p['id']}/feedback", body, headers={"Idempotency-Key": key})
    assert expect(a, 201) == expect(b, 201)
    assert psql("SELECT count(*) FROM pair_feedback WHERE pair_id = %s", p["id"]) == [("1",)]


@pytest.mark.parametrize("body,pointer,status", [
    ({}, "/rating", 422),
    ({"rating": 0}, "/rating", 422),
    ({"rating": 11}, "/rating", 422),
    ({"rating": -3}, "/rating", 422),
    ({"rating": "9"}, "/rating", 422),
    ({"rating": 7.5}, "/rating", 422),
    ({"rating": None}, "/rating", 422),
    ({"rating": True}, "/rating", 422),
    ({"rating": 8, "text": "x" * 2001}, "/text", 422),
    ({"rating": 8, "text": 42}, "/text", 422),
    ({"rating": 8, "text": ["a"]}, "/text", 422),
    ({"rating": 8, "author_role": "mentor"}, "/author_role", 422),
    ({"rating": 8, "pair_id": str(uuid.uuid4())}, "/pair_id", 422),
    ({"rating": 8, "id": str(uuid.uuid4())}, "/id", 422),
    ({"rating": 8, "stars": 5}, "/stars", 400),
])
def test_bad_feedback_is_refused(cohort, unchanged, body, pointer, status):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    with unchanged():
        expect(c.as_(mentee).post(f"/v1/pairs/{p['id']}/feedback", body), status, pointer)


def test_text_limit_counts_characters(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    text = "é" * 2000  # 4,000 bytes, 2,000 characters
    assert expect(give(c, mentee, p, 10, text), 201)["text"] == text


def test_bad_pair_ids(cohort, unchanged):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    with unchanged():
        for pid in ("nope", str(uuid.uuid4())):
            expect(c.as_(mentee).post(f"/v1/pairs/{pid}/feedback", {"rating": 5}), 404)
            expect(c.as_(mentee).get(f"/v1/pairs/{pid}/feedback"), 404)
    expect(c.as_(mentee).get(f"/v1/pairs/{p['id']}/feedback", params={"x": "1"}), 400)


# =========================================================================== visibility over time

def test_before_both_wrote_each_sees_only_their_own(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    v = feedback(c.as_(mentor), p)
    assert v["items"] == [] and v["hidden"] == [] and v["missing"] == ["mentee", "mentor"]
    assert v["status"] == "completed" and v["closed_on"] == day(0) and v["reveal_on"] == day(14)
    f = expect(give(c, mentee, p, 9, "Voor mijn mentor"), 201)
    # the mentor knows there is feedback, but cannot read it yet
    v = feedback(c.as_(mentor), p)
    assert v["items"] == [] and v["hidden"] == ["mentee"] and v["missing"] == ["mentor"]
    assert "Voor mijn mentor" not in str(v)
    # the mentee reads their own
    v = feedback(c.as_(mentee), p)
    assert v["items"] == [f] and v["hidden"] == [] and v["missing"] == ["mentor"]
    # staff see it at once
    for staff in (c.coach, c.coord):
        v = feedback(staff, p)
        assert v["items"] == [f] and v["hidden"] == [] and v["missing"] == ["mentor"]


def test_after_both_wrote_both_see_both(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    fm = expect(give(c, mentee, p, 9, "Voor mijn mentor"), 201)
    fr = expect(give(c, mentor, p, 8, "Voor mijn mentee"), 201)
    for reader in (c.as_(mentor), c.as_(mentee), c.coach, c.coord):
        v = feedback(reader, p)
        assert v["items"] == [fm, fr] and v["hidden"] == [] and v["missing"] == []


def test_after_14_days_the_other_side_is_revealed(cohort, psql):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    f = expect(give(c, mentor, p, 7, "Veel succes!"), 201)
    psql("UPDATE pairs SET closed_on = current_date - 13 WHERE id = %s", p["id"])
    v = feedback(c.as_(mentee), p)
    assert v["items"] == [] and v["hidden"] == ["mentor"] and v["reveal_on"] == day(1)
    psql("UPDATE pairs SET closed_on = current_date - 14 WHERE id = %s", p["id"])
    v = feedback(c.as_(mentee), p)
    assert v["items"] == [f] and v["hidden"] == [] and v["missing"] == ["mentee"] and v["reveal_on"] == day(0)


def test_other_pairs_people_see_nothing(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    expect(give(c, mentee, p), 201)
    q, mentor2, mentee2 = closed_pair(c)
    for stranger in (c.as_(mentor2), c.as_(mentee2)):
        expect(stranger.get(f"/v1/pairs/{p['id']}/feedback"), 404)


# =========================================================================== roles

@pytest.mark.parametrize("role", ROLES)
def test_roles_on_feedback(cohort, make, client, tokens, unchanged, role):
    c = cohort
    p, mentor, mentee = closed_pair(c)
    expect(give(c, mentee, p, 9), 201)
    other = make.programme()
    url = f"/v1/pairs/{p['id']}/feedback"
    if role in ("coordinator", "coach"):
        inside = c.coord if role == "coordinator" else c.coach
        assert len(expect(inside.get(url), 200)["items"]) == 1
        with unchanged():
            expect(inside.post(url, {"rating": 5}), 403)
        outside = client(tokens(role, sub=str(uuid.uuid4()), prg=[other["id"]]))
        expect(outside.get(url), 404)
    elif role in ("mentor", "mentee"):
        stranger = c.mentor() if role == "mentor" else c.mentee()
        with unchanged():
            expect(c.as_(stranger).post(url, {"rating": 5}), 404)
        expect(c.as_(stranger).get(url), 404)
    else:
        kw = {"partner": str(uuid.uuid4())} if role == "integration" else {}
        t = client(tokens(role, sub=str(uuid.uuid4()), prg=[c.id], **kw))
        expect(t.get(url), 403)
        with unchanged():
            expect(t.post(url, {"rating": 5}), 403)


# =========================================================================== ratings in the statistics

def test_ratings_in_stats_for_staff_and_suppressed_for_researchers(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql, rules={"small_group_threshold": 3})
    pairs = [closed_pair(c) for _ in range(3)]
    ratings = [(10, 6), (8, 9), (9, 3)]  # (mentee's, mentor's)
    for (p, mentor, mentee), (a, b) in zip(pairs, ratings):
        expect(give(c, mentee, p, a, "geheim " + p["id"]), 201)
        if p is not pairs[2][0]:
            expect(give(c, mentor, p, b), 201)
    stats = expect(c.coord.get(f"/v1/programmes/{c.id}/stats"), 200)
    fb = stats["feedback"]
    assert fb["mentee_ratings"] == {"n": 3, "mean": 9.0, "bands": {"1-4": 0, "5-6": 0, "7-8": 1, "9-10": 2},
                                    "suppressed": False}
    assert fb["mentor_ratings"] == {"n": 2, "mean": 7.5, "bands": {"1-4": 0, "5-6": 1, "7-8": 0, "9-10": 1},
                                    "suppressed": False}
    researcher = client(tokens("researcher", sub=str(uuid.uuid4()), prg=[c.id]))
    got = expect(researcher.get(f"/v1/programmes/{c.id}/stats"), 200)
    assert "geheim" not in str(got)
    fb = got["feedback"]
    # three mentee ratings reach the threshold: n and mean shown, every band below 3 hidden
    assert fb["mentee_ratings"]["n"] == 3 and fb["mentee_ratings"]["mean"] == 9.0
    assert fb["mentee_ratings"]["bands"] == {"1-4": None, "5-6": None, "7-8": None, "9-10": None}
    assert fb["mentee_ratings"]["suppressed"] is True
    # two mentor ratings are below it: nothing shown
    assert fb["mentor_ratings"] == {"n": None, "mean": None,
                                    "bands": {"1-4": None, "5-6": None, "7-8": None, "9-10": None},
                                    "suppressed": True}


def test_stats_without_feedback(cohort):
    fb = expect(cohort.coord.get(f"/v1/programmes/{cohort.id}/stats"), 200)["feedback"]
    for side in ("mentor_ratings", "mentee_ratings"):
        assert fb[side]["n"] == 0 and fb[side]["mean"] is None and fb[side]["suppressed"] is False


# =========================================================================== recognitions

def test_a_completed_pair_is_a_record_for_both(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c, meetings=3)
    for person, role in ((mentor, "mentor"), (mentee, "mentee")):
        got = expect(c.as_(person).get(f"/v1/participants/{person['id']}/recognitions"), 200)
        assert got["participant_id"] == person["id"]
        assert got["items"] == [{
            "kind": "mentoring_completed", "participant_id": person["id"], "role": role, "pair_id": p["id"],
            "programme_id": c.id, "programme_name": c.programme["name"], "started_on": p["started_on"],
            "completed_on": day(0), "meetings_held": 3, "minutes_total": 60 + 30 + 30}]
        for staff in (c.coord, c.coach):
            assert expect(staff.get(f"/v1/participants/{person['id']}/recognitions"), 200) == got


def test_ended_and_open_pairs_give_no_record(cohort):
    c = cohort
    p, mentor, mentee = closed_pair(c, "ended")
    q, mentor2, mentee2 = c.active_pair()
    for person in (mentor, mentee, mentor2, mentee2):
        assert expect(c.coord.get(f"/v1/participants/{person['id']}/recognitions"), 200)["items"] == []


def test_a_mentor_collects_records_over_pairs(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": 2})
    mentor = c.mentor(capacity=2)
    p1, _, _ = c.active_pair(mentor=mentor)
    p2, _, _ = c.active_pair(mentor=mentor)
    p1 = c.close(p1, "completed", "goal_reached")
    p2 = c.close(p2, "completed", "goal_reached")
    got = expect(c.as_(mentor).get(f"/v1/participants/{mentor['id']}/recognitions"), 200)["items"]
    assert [x["pair_id"] for x in got] == [p1["id"], p2["id"]]
    assert all(x["role"] == "mentor" for x in got)


@pytest.mark.parametrize("role", ROLES)
def test_roles_on_recognitions(cohort, make, client, tokens, role):
    employer = make.partner(kind="employer")
    c = cohort
    mentor = c.mentor(employer_partner_id=employer["id"])
    p, _, mentee = closed_pair_with(c, mentor)
    url = f"/v1/participants/{mentor['id']}/recognitions"
    other = make.programme()
    if role in ("coordinator", "coach"):
        inside = c.coord if role == "coordinator" else c.coach
        assert len(expect(inside.get(url), 200)["items"]) == 1
        expect(client(tokens(role, sub=str(uuid.uuid4()), prg=[other["id"]])).get(url), 404)
    elif role == "mentor":
        assert len(expect(c.as_(mentor).get(url), 200)["items"]) == 1
        expect(c.as_(c.mentor()).get(url), 404)
    elif role == "mentee":
        # the counterpart sees the mentor's profile, not their records
        expect(c.as_(mentee).get(url), 403)
        expect(c.as_(c.mentee()).get(url), 404)
        assert len(expect(c.as_(mentee).get(f"/v1/participants/{mentee['id']}/recognitions"), 200)["items"]) == 1
    elif role == "integration":
        mine = client(tokens("integration", sub=str(uuid.uuid4()), prg=[c.id], partner=employer["id"]))
        assert len(expect(mine.get(url), 200)["items"]) == 1
        theirs = client(tokens("integration", sub=str(uuid.uuid4()), prg=[c.id], partner=str(uuid.uuid4())))
        expect(theirs.get(url), 404)
    else:
        expect(client(tokens(role, sub=str(uuid.uuid4()), prg=[c.id])).get(url), 403)


def closed_pair_with(c, mentor):
    p, _, mentee = c.active_pair(mentor=mentor, backdate=20, held_on=day(-10))
    return c.close(p, "completed", "goal_reached"), mentor, mentee


def test_recognitions_bad_ids_and_query(cohort):
    c = cohort
    for pid in ("nope", str(uuid.uuid4())):
        expect(c.coord.get(f"/v1/participants/{pid}/recognitions"), 404)
    m = c.mentor()
    expect(c.coord.get(f"/v1/participants/{m['id']}/recognitions", params={"limit": "5"}), 400)
