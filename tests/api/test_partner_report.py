"""Partner reports (issue 4, part 5): GET /v1/partners/{id}/report.

Employer X supplies mentors in two programmes; their pairs, the mentees they
mentored, those mentees' outcomes, X's hires and the mentors' answers to a
post survey are built through the API (surveys as rows, see statshelpers),
and every figure is computed here from what was built."""
import uuid

import pytest

from conftest import ROLES, expect
from statshelpers import (OUTCOME_STATUSES, PAIR_STATUSES, PARTICIPANT_STATUSES, Programme, a_closing_day,
                          add_months, counts, day, has_surveys, rounded, shown_map)

T = 3


@pytest.fixture(scope="module")
def rep(make, client, tokens, psql):
    x, y = make.partner(kind="employer"), make.partner(kind="employer")
    g = Programme(make, client, tokens, psql, rules={"small_group_threshold": T, "max_mentees_per_mentor": 2})
    h = Programme(make, client, tokens, psql, rules={"small_group_threshold": 2})
    w = {"x": x, "y": y, "g": g, "h": h}

    def mentor(prog, partner, capacity=1, **kw):
        return prog.person("mentor", employer_partner_id=partner["id"] if partner else None, capacity=capacity, **kw)

    # X's mentors in g: one completed pair and one active; one with a declined proposal; one still waiting
    mx1, mx2, mx3, mx4 = mentor(g, x), mentor(g, x, capacity=2), mentor(g, x), mentor(g, x)
    e1, e2, e3 = g.person("mentee"), g.person("mentee"), g.person("mentee")
    ended = a_closing_day(300)
    g.closed_pair(mx1, e1, "completed", "goal_reached", ended)
    g.active_pair(mx2, e2, [-20])
    declined = g.propose(mx3, e3)
    expect(g.as_(mx3).post(f"/v1/pairs/{declined['id']}/decline"), 200)
    # a proposal to mx2 still open: its mentee is not yet "paired"
    e4 = g.person("mentee")
    g.propose(mx2, e4)
    # Y's mentor in g with a mentee X hired anyway
    my = mentor(g, y)
    e9 = g.person("mentee")
    g.closed_pair(my, e9, "ended", "no_click", a_closing_day(200))
    # an X mentor in h: their pair ended; the mentee was measured seeking
    mh = mentor(h, x)
    eh = h.person("mentee")
    h_ended = a_closing_day(150)
    h.closed_pair(mh, eh, "ended", "moved", h_ended)

    # outcomes: e1 seeking at 3 months, then hired by X at its level; e9 hired below level by X; eh seeking
    def outcome(prog, person, base, months, status, employer=None):
        body = {"measured_on": add_months(base, months).isoformat(), "status": status}
        if employer:
            body["employer_partner_id"] = employer["id"]
        return expect(prog.coach.post(f"/v1/participants/{person['id']}/outcomes", body), 201)
    outcome(g, e1, ended, 3, "seeking")
    outcome(g, e1, ended, 6, "job_at_level", x)
    outcome(g, e9, a_closing_day(200), 2, "job_below_level", x)
    outcome(h, eh, h_ended, 3, "seeking")
    # a Y hire does not count for X
    outcome(g, e9, a_closing_day(200), 4, "job_at_level", y)

    # mx2 stays active with a second proposal open; mx3 waits again after the decline
    w["statuses"] = {g.id: ["completed", "active", "waiting", "waiting"], h.id: ["waiting"]}
    w["pairs"] = {g.id: ["completed", "active", "declined", "proposed"], h.id: ["ended"]}
    w["paired_mentees"] = {g.id: {e1["id"]: "job_at_level", e2["id"]: None}, h.id: {eh["id"]: "seeking"}}
    w["hires"] = {g.id: {e1["id"]: "job_at_level", e9["id"]: "job_below_level"}, h.id: {}}

    # mentor satisfaction: a post survey for mentors in g, answered by mx1, mx2 and Y's mentor
    w["survey"] = None
    if has_surveys(psql):
        qs = [{"key": "overall", "type": "scale10"}, {"key": "learned", "type": "likert5", "allow_not_used": True},
              {"key": "comment", "type": "text"}]
        sid = g.survey("post", "mentors", qs, title="Nameting mentoren")
        g.respond(sid, mx1, {"overall": 8, "learned": 4, "comment": "fine"})
        g.respond(sid, mx2, {"overall": 7, "learned": "not_used"})
        g.respond(sid, my, {"overall": 2, "learned": 1})
        # a pre survey and a mentees' post survey do not count
        pre = g.survey("pre", "mentors", [{"key": "overall", "type": "scale10"}])
        g.respond(pre, mx1, {"overall": 1})
        g.survey("post", "mentees", [{"key": "overall", "type": "scale10"}])
        w["survey"] = (sid, g.id, "Nameting mentoren", 2, [("overall", "scale10", [8, 7]), ("learned", "likert5", [4])])
    w["coord_g"] = g.make.coord
    return w


def expected(w, programmes, suppress):
    statuses = [s for p in programmes for s in w["statuses"][p]]
    pairs = [s for p in programmes for s in w["pairs"][p]]
    paired = {k: v for p in programmes for k, v in w["paired_mentees"][p].items()}
    hires = {k: v for p in programmes for k, v in w["hires"][p].items()}
    t = T if w["g"].id in programmes else 2
    if not programmes:
        t = 5
    measured = [v for v in paired.values() if v]
    by = shown_map(counts(measured, OUTCOME_STATUSES), t, suppress)
    n = None if suppress and len(measured) < t else len(measured)
    want = {
        "partner_id": w["x"]["id"],
        "suppression": {"applied": suppress, "threshold": t},
        "mentors": {"supplied": len(statuses), "by_status": counts(statuses, PARTICIPANT_STATUSES)},
        "pairs": {"total": len(pairs), "by_status": counts(pairs, PAIR_STATUSES)},
        "mentee_outcomes": {"mentees": len(paired), "measured": n, "by_status": by,
                            "suppressed": bool(suppress and (n is None or None in by.values()))},
        "hires": {"mentees_hired": len(hires), "job_at_level": sum(v == "job_at_level" for v in hires.values()),
                  "job_below_level": sum(v == "job_below_level" for v in hires.values())},
    }
    if w["survey"] is None:
        want["satisfaction"] = None
        want["notes"] = ["mentor satisfaction is not available: this installation has no surveys yet"]
        return want
    sid, pid, title, respondents, questions = w["survey"]
    surveys = []
    if pid in programmes:
        st = T
        qs = [{"key": k, "type": ty, "n": None if suppress and len(v) < st else len(v),
               "mean": None if (suppress and len(v) < st) or not v else rounded(sum(v) / len(v), 2),
               "suppressed": suppress and len(v) < st} for k, ty, v in questions]
        surveys.append({"survey_id": sid, "programme_id": pid, "title": title,
                        "respondents": None if suppress and respondents < st else respondents, "questions": qs,
                        "suppressed": suppress and (respondents < st or any(q["suppressed"] for q in qs))})
    want["satisfaction"] = {"suppressed": any(s["suppressed"] for s in surveys), "surveys": surveys}
    want["notes"] = []
    return want


def report(c, partner_id):
    return expect(c.get(f"/v1/partners/{partner_id}/report"), 200)


def check(got, want):
    for k, v in want.items():
        assert got[k] == v, k


def test_coordinator_of_all_programmes(rep):
    got = report(rep["coord_g"], rep["x"]["id"])
    check(got, expected(rep, [rep["g"].id, rep["h"].id], False))
    assert got["hires"]["mentees_hired"] == 2 and got["mentors"]["supplied"] == 5


def test_coordinator_of_one_programme_sees_its_figures(rep, client, tokens):
    for prog in (rep["g"], rep["h"]):
        got = report(prog.coord, rep["x"]["id"])
        check(got, expected(rep, [prog.id], False))
    # a programme where the partner supplies nobody
    other = client(tokens("coordinator", prg=[str(uuid.uuid4())]))
    got = report(other, rep["x"]["id"])
    check(got, expected(rep, [], False))


def test_the_partners_own_integration_client(rep, client, tokens):
    hr = client(tokens("integration", partner=rep["x"]["id"]))
    got = report(hr, rep["x"]["id"])
    want = expected(rep, [rep["g"].id, rep["h"].id], True)
    check(got, want)
    # small groups of other people are hidden as null, never as 0
    assert got["mentee_outcomes"]["measured"] is None and got["mentee_outcomes"]["suppressed"] is True
    if rep["survey"]:
        q = got["satisfaction"]["surveys"][0]["questions"]
        assert [x["mean"] for x in q] == [None, None] and got["satisfaction"]["suppressed"] is True
        # the coordinator sees the means
        full = report(rep["coord_g"], rep["x"]["id"])["satisfaction"]["surveys"][0]["questions"]
        assert [x["mean"] for x in full] == [7.5, 4]


def test_another_partners_client_and_other_roles(rep, client, tokens, make):
    xid = rep["x"]["id"]
    expect(client(tokens("integration", partner=rep["y"]["id"])).get(f"/v1/partners/{xid}/report"), 404)
    # an integration token without a partner claim is no valid token at all
    expect(client(tokens("integration")).get(f"/v1/partners/{xid}/report"), 401)
    for role in ("coach", "researcher", "mentor", "mentee"):
        expect(client(tokens(role, prg="*")).get(f"/v1/partners/{xid}/report"), 403)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(rep, client, tokens, role):
    """Own partner (X) and another (Y) for each role."""
    g = rep["g"]
    partner = rep["x"]["id"] if role == "integration" else None
    c = client(tokens(role, prg=[g.id], partner=partner))
    if role == "coordinator":
        report(c, rep["x"]["id"])
        report(c, rep["y"]["id"])
    elif role == "integration":
        report(c, rep["x"]["id"])
        expect(c.get(f"/v1/partners/{rep['y']['id']}/report"), 404)
    else:
        expect(c.get(f"/v1/partners/{rep['x']['id']}/report"), 403)
        expect(c.get(f"/v1/partners/{rep['y']['id']}/report"), 403)


def test_a_partner_without_mentors(coord, make):
    p = make.partner(kind="funder")
    got = report(coord, p["id"])
    assert got["mentors"] == {"supplied": 0, "by_status": {s: 0 for s in PARTICIPANT_STATUSES}}
    assert got["pairs"] == {"total": 0, "by_status": {s: 0 for s in PAIR_STATUSES}}
    assert got["hires"] == {"mentees_hired": 0, "job_at_level": 0, "job_below_level": 0}
    assert got["mentee_outcomes"]["mentees"] == 0 and got["mentee_outcomes"]["measured"] == 0


def test_unknown_partner_and_bad_requests(coord, rep, anon):
    expect(coord.get(f"/v1/partners/{uuid.uuid4()}/report"), 404)
    expect(coord.get("/v1/partners/nope/report"), 404)
    expect(coord.get(f"/v1/partners/{rep['x']['id']}/report", params={"year": "2024"}), 400)
    expect(anon.get(f"/v1/partners/{rep['x']['id']}/report"), 401)
    expect(coord.delete(f"/v1/partners/{rep['x']['id']}/report"), 405)


def test_etag(coord, rep):
    r = coord.get(f"/v1/partners/{rep['x']['id']}/report")
    assert coord.get(f"/v1/partners/{rep['x']['id']}/report",
                     headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_a_partner_with_outcomes_is_not_removed(coord, make, psql):
    """An outcome naming the partner as employer blocks its removal (409)."""
    p = make.partner(kind="employer")
    prog = make.programme()
    mentee = make.participant(prog["id"], kind="mentee")
    expect(coord.post(f"/v1/participants/{mentee['id']}/outcomes",
                      {"measured_on": day(0), "status": "job_at_level", "months_after_end": 1,
                       "employer_partner_id": p["id"]}), 201)
    expect(coord.delete(f"/v1/partners/{p['id']}"), 409)
