"""Match suggestions (issue 3): a hand-built programme where the ranking is known,
the scores recomputed from the programme's own weights, the reasons, who is
left out (no free place, declined, not matchable, another programme), the 409
rules, the roles, and that asking never creates anything."""
import uuid
from fractions import Fraction

import pytest

from conftest import ROLES, expect
from pairhelpers import Cohort, ts

# Deliberately not the defaults and not summing to 100: a score is 100 x the
# weighted share of the fits, so every point below depends on these numbers.
WEIGHTS = {"occupation": 8, "sector": 6, "region": 3, "availability": 2, "language": 1}
CRITERIA = ["occupation", "sector", "region", "availability", "language"]

MENTEE = dict(occupations=["2330"], sectors=["85.31"], region="Gent", availability=["evenings", "weekends"],
              languages=[{"code": "nl", "level": "B2"}])

# name: (profile, capacity, fits known by hand against MENTEE:
#        occupation level of 4, sector level of 4, same region, shared availability slots of 2, language ok,
#        words the reasons must name per criterion)
MENTORS = {
    "A": (dict(occupations=["2330"], sectors=["85.31"], region="Gent", availability=["evenings", "weekends"],
               languages=[{"code": "nl", "level": "C1"}, {"code": "fr", "level": "B1"}]), 2,
          (4, 4, True, 2, True), {"occupation": "2330", "sector": "85.31"}),
    "B": (dict(occupations=["2330", "2341"], sectors=["85.32"], region="  gent ", availability=["evenings"],
               languages=[{"code": "nl", "level": "B2"}]), 2,
          (4, 3, True, 1, True), {"occupation": "2330", "sector": "85.3"}),
    "C": (dict(occupations=["2320"], sectors=["85.59"], region="Antwerpen", availability=["evenings"],
               languages=[{"code": "nl", "level": "C2"}]), 1,
          (2, 2, False, 1, True), {"occupation": "23", "sector": "85"}),
    "D": (dict(occupations=["2611"], sectors=["P"], region="Antwerpen", availability=["working_hours"],
               languages=[{"code": "nl", "level": "A2"}]), 1,
          (1, 1, False, 0, False), {"occupation": "2", "sector": "P"}),
    # the generalist: an HR profile, no shared sector
    "E": (dict(occupations=["2423"], sectors=["78.10"], region="Gent", availability=["weekends"],
               languages=[{"code": "nl", "level": "C2"}]), 1,
          (1, 0, True, 1, True), {"sector": "78.10"}),
    # J and K tie; J has waited longer and comes first
    "J": (dict(occupations=["2330"], sectors=["85.31"], region="Brugge", availability=["evenings"],
               languages=[{"code": "en", "level": "C1"}]), 1,
          (4, 4, False, 1, False), {}),
    "K": (dict(occupations=["2330"], sectors=["85.31"], region="Brugge", availability=["evenings"],
               languages=[{"code": "en", "level": "C1"}]), 1,
          (4, 4, False, 1, False), {}),
    # nothing given at all: a generalist with zero points
    "L": (dict(occupations=[], sectors=[], availability=[], languages=[]), 1, (0, 0, False, 0, False), {}),
}
GENERALISTS = {"E", "L"}
PERFECT = dict(occupations=["2330"], sectors=["85.31"], region="Gent", availability=["evenings", "weekends"],
               languages=[{"code": "nl", "level": "C2"}])


def expected_points(fits):
    """Exact points per criterion (Fractions) from the programme's weights."""
    occ, sec, reg, av, lang = fits
    ws = sum(WEIGHTS.values())
    share = {"occupation": Fraction(occ, 4), "sector": Fraction(sec, 4), "region": Fraction(int(reg)),
             "availability": Fraction(av, len(MENTEE["availability"])), "language": Fraction(int(lang))}
    return {k: 100 * WEIGHTS[k] * share[k] / ws for k in CRITERIA}


def close_to(got, exact, tol=Fraction(1, 200)):
    """Points are shown to the hundredth: within half a hundredth of the exact value."""
    return abs(Fraction(str(got)) - exact) <= tol


@pytest.fixture
def fx(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql, rules={"max_mentees_per_mentor": 2, "match_weights": WEIGHTS})
    assert c.rules["match_weights"] == WEIGHTS
    w = {"c": c}
    w["mentee"] = c.mentee(**MENTEE)
    w["mentors"] = {}
    for name, (profile, cap, _, _) in MENTORS.items():
        w["mentors"][name] = c.mentor(capacity=cap, **profile)
    # J has been waiting for 20 days, K for 10 (the tie is broken by who waited longest)
    c.make.backdate("participants", w["mentors"]["J"]["id"], ts(-20), column="waiting_since")
    c.make.backdate("participants", w["mentors"]["K"]["id"], ts(-10), column="waiting_since")
    # B has one of its two places taken: it stays, with one free place
    c.propose(w["mentors"]["B"], c.mentee())
    # perfect profiles that must not be suggested:
    full = c.mentor(capacity=1, **PERFECT)             # no free place
    c.propose(full, c.mentee())
    declined = c.mentor(capacity=2, **PERFECT)         # this mentee declined them before
    p = c.propose(declined, w["mentee"])
    expect(c.as_(w["mentee"]).post(f"/v1/pairs/{p['id']}/decline", {"reason": "liever iemand anders"}), 200)
    screened = c.mentor(capacity=1, status="screened", **PERFECT)   # not yet matchable
    zero = c.mentor(capacity=0, **PERFECT)             # capacity 0
    other = Cohort(make, client, tokens, psql).mentor(capacity=1, **PERFECT)  # another programme
    w["excluded"] = {"full": full["id"], "declined": declined["id"], "screened": screened["id"],
                     "zero": zero["id"], "other programme": other["id"]}
    return w


def expected_ranking(w, psql):
    """Score descending, then who has waited longest, then id (as openapi.yaml documents)."""
    rows = []
    for name, (_, cap, fits, _) in MENTORS.items():
        mid = w["mentors"][name]["id"]
        waited = psql("SELECT extract(epoch FROM coalesce(waiting_since, created_at))::numeric FROM participants "
                      "WHERE id = %s", mid)[0][0]
        rows.append((-sum(expected_points(fits).values()), Fraction(waited), mid, name))
    return [r[3] for r in sorted(rows)]


def test_ranking_scores_and_reasons(fx, psql):
    c, w = fx["c"], fx
    body = expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"limit": 50}), 200)
    assert body["participant_id"] == w["mentee"]["id"]
    by_id = {m["id"]: n for n, m in w["mentors"].items()}
    got_names = [by_id.get(x["candidate"]["id"], x["candidate"]["id"]) for x in body["items"]]
    assert got_names == expected_ranking(w, psql), "ranking"
    assert got_names[:2] == ["A", "B"] and got_names.index("J") < got_names.index("K")
    assert got_names[-1] == "L"
    free = {"A": 2, "B": 1}
    for item in body["items"]:
        name = by_id[item["candidate"]["id"]]
        _, cap, fits, words = MENTORS[name]
        pts = expected_points(fits)
        assert [r["criterion"] for r in item["reasons"]] == CRITERIA, name
        for r in item["reasons"]:
            k = r["criterion"]
            assert close_to(r["points"], pts[k]), (name, k, r["points"], float(pts[k]))
            assert close_to(r["max_points"], Fraction(100 * WEIGHTS[k], sum(WEIGHTS.values()))), (name, k)
            assert r["detail"], (name, k)
            if k in words:
                assert words[k] in r["detail"], (name, k, r["detail"])
        assert abs(Fraction(str(item["score"])) - sum(Fraction(str(r["points"])) for r in item["reasons"])) < \
            Fraction(1, 10 ** 6), "the reasons add up to the score"
        assert close_to(item["score"], sum(pts.values()), Fraction(3, 100)), (name, item["score"])
        assert item["generalist"] is (name in GENERALISTS), name
        assert item["free_capacity"] == free.get(name, 1), name
        assert item["candidate"]["kind"] == "mentor" and item["candidate"]["programme_id"] == c.id
    assert "generalist" in body["items"][got_names.index("E")]["reasons"][1]["detail"]
    # the perfect mentors that may not be suggested are not
    listed = {x["candidate"]["id"] for x in body["items"]}
    for why, mid in w["excluded"].items():
        assert mid not in listed, why


def test_scores_follow_the_weights(fx):
    """Changing the programme's weights changes the scores accordingly."""
    c, w = fx["c"], fx
    expect(c.make.coord.patch(f"/v1/programmes/{c.id}",
                              {"rules": {"match_weights": {"occupation": 0, "sector": 0, "region": 1,
                                                           "availability": 0, "language": 0}}}), 200)
    body = expect(c.coord.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"limit": 50}), 200)
    by_id = {m["id"]: n for n, m in w["mentors"].items()}
    for item in body["items"]:
        name = by_id[item["candidate"]["id"]]
        same_region = MENTORS[name][2][2]
        assert item["score"] == (100 if same_region else 0), name
        assert [r["max_points"] for r in item["reasons"]] == [0, 0, 100, 0, 0]
    # region-sharing mentors first (A, B, E), then the others
    names = [by_id[x["candidate"]["id"]] for x in body["items"]]
    assert set(names[:3]) == {"A", "B", "E"}


def test_limit(fx):
    c, w = fx["c"], fx
    full = [x["candidate"]["id"] for x in
            expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"limit": 50}), 200)
            ["items"]]
    for n in (1, 3, 4):
        got = expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"limit": n}), 200)
        assert [x["candidate"]["id"] for x in got["items"]] == full[:n]
    default = expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions"), 200)
    assert [x["candidate"]["id"] for x in default["items"]] == full[:10]
    for bad in ("0", "51", "-1", "ten", "1.5", ""):
        expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"limit": bad}), 400)
    expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"sort": "score"}), 400)


def test_nothing_is_created(fx, unchanged, psql):
    c, w = fx["c"], fx
    before = psql("SELECT count(*) FROM pairs")
    with unchanged():
        for _ in range(3):
            expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions"), 200)
        expect(c.coord.get(f"/v1/participants/{w['mentors']['A']['id']}/suggestions"), 200)
    assert psql("SELECT count(*) FROM pairs") == before
    assert c.status(w["mentee"]["id"]) == "waiting"


def test_a_proposal_carries_the_suggested_score(fx):
    c, w = fx["c"], fx
    body = expect(c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions", params={"limit": 50}), 200)
    pick = next(x for x in body["items"] if x["candidate"]["id"] == w["mentors"]["E"]["id"])
    pair = c.propose(w["mentors"]["E"], w["mentee"])
    assert pair["match_score"] == pick["score"]
    assert pair["match_reasons"] == pick["reasons"]
    assert pair["generalist"] is True
    # once matched, the mentee gets no more suggestions
    r = c.coach.get(f"/v1/participants/{w['mentee']['id']}/suggestions")
    expect(r, 409)


@pytest.mark.parametrize("status", ["applied", "screened"])
def test_a_mentee_who_is_not_waiting_is_409(fx, unchanged, status):
    c = fx["c"]
    m = c.mentee(status=status, **MENTEE)
    with unchanged():
        r = c.coach.get(f"/v1/participants/{m['id']}/suggestions")
        expect(r, 409)
        assert status in r.json()["detail"]


def test_a_mentor_without_a_free_place_is_409(fx, unchanged):
    c = fx["c"]
    full = fx["excluded"]["full"]
    with unchanged():
        expect(c.coach.get(f"/v1/participants/{full}/suggestions"), 409)
        expect(c.coach.get(f"/v1/participants/{fx['excluded']['zero']}/suggestions"), 409)


def test_suggestions_for_a_mentor(make, client, tokens, psql):
    weights = {"occupation": 1, "sector": 1, "region": 1, "availability": 1, "language": 1}
    c = Cohort(make, client, tokens, psql, rules={"match_weights": weights})
    mentor = c.mentor(capacity=1, **PERFECT)
    best = c.mentee(**MENTEE)                                     # everything fits
    region_only = c.mentee(occupations=["7212"], sectors=["25.11"], region="gent", availability=["working_hours"],
                           languages=[{"code": "de", "level": "B2"}])
    nothing = c.mentee(occupations=["9112"], sectors=["81.21"], region="Hasselt", availability=["working_hours"],
                       languages=[{"code": "nl", "level": "A1"}])
    matched = c.mentee(**MENTEE)
    c.propose(c.mentor(), matched)                                # has an open pair
    declined = c.mentee(**MENTEE)
    p = c.propose(mentor, declined)                               # declined this mentor
    expect(c.as_(declined).post(f"/v1/pairs/{p['id']}/decline"), 200)
    screened = c.mentee(status="screened", **MENTEE)
    body = expect(c.coach.get(f"/v1/participants/{mentor['id']}/suggestions", params={"limit": 50}), 200)
    ids = [x["candidate"]["id"] for x in body["items"]]
    assert ids == [best["id"], region_only["id"], nothing["id"]]
    assert body["items"][0]["score"] == 100 and body["items"][1]["score"] == 20
    # a mentee asking for nl A1 is served by a mentor who speaks nl C2
    assert body["items"][2]["reasons"][4]["points"] == 20 and body["items"][2]["score"] == 20
    for item in body["items"]:
        assert item["candidate"]["kind"] == "mentee" and "free_capacity" not in item
    for excluded in (matched, declined, screened):
        assert excluded["id"] not in ids


def test_a_perfect_match_scores_100_whatever_the_weights(make, client, tokens, psql):
    """Weights whose shares are not whole hundredths (8, 6, 3, 3, 1 of 21): a mentor who fits on
    every criterion must score exactly 100 (openapi.yaml: score and match_score are at most 100),
    and the points must still add up to the score."""
    weights = {"occupation": 8, "sector": 6, "region": 3, "availability": 3, "language": 1}
    c = Cohort(make, client, tokens, psql, rules={"match_weights": weights})
    mentee = c.mentee(**MENTEE)
    mentor = c.mentor(capacity=1, **PERFECT)
    body = expect(c.coach.get(f"/v1/participants/{mentee['id']}/suggestions"), 200)
    item = next(x for x in body["items"] if x["candidate"]["id"] == mentor["id"])
    points = [x["points"] for x in item["reasons"]]
    assert item["score"] == 100, f"a perfect match scored {item['score']} (points {points})"


# =========================================================================== roles

@pytest.mark.parametrize("role", ROLES)
def test_roles(fx, make, client, tokens, psql, unchanged, role):
    c, w = fx["c"], fx
    path = f"/v1/participants/{w['mentee']['id']}/suggestions"
    mentor = w["mentors"]["A"]
    callers = {
        "coordinator": c.coord, "coach": c.coach,
        "mentor": c.as_(mentor), "mentee": c.as_(w["mentee"]),
        "researcher": client(tokens("researcher", prg=[c.id])),
        "integration": client(tokens("integration", partner=make.partner()["id"])),
    }
    foreign = Cohort(make, client, tokens, psql)
    with unchanged():
        if role in ("coordinator", "coach"):
            assert expect(callers[role].get(path), 200)["items"]
            stranger = client(tokens(role, sub=foreign.coach_id if role == "coach" else None, prg=[foreign.id]))
            expect(stranger.get(path), 404)
            expect(callers[role].get(f"/v1/participants/{uuid.uuid4()}/suggestions"), 404)
            expect(callers[role].get("/v1/participants/not-a-uuid/suggestions"), 404)
        else:
            expect(callers[role].get(path), 403)
            expect(callers[role].get(f"/v1/participants/{mentor['id']}/suggestions"), 403)
