"""Programme statistics (issue 4, part 4): GET /v1/programmes/{id}/stats.

One programme is built through the API (people, pairs in every state,
meetings, closures, outcomes) and time is made to pass with psql (pair starts,
closing days, how long each match took). Every figure is then computed here,
from what was built, and compared exactly: for coordinators and coaches in
full, for researchers with the small cells suppressed (null, never 0)."""
import datetime
import json
import uuid

import pytest

from conftest import ROLES, expect
from statshelpers import (END_REASONS, OUTCOME_STATUSES, PAIR_STATUSES, PARTICIPANT_STATUSES, Programme,
                          a_closing_day, add_months, cell, counts, day, has_surveys, months_between,
                          percentile_cont, rounded, shown_map, today)

T = 3  # the programme's small_group_threshold
RULES = {"small_group_threshold": T, "min_meetings": 4, "min_duration_days": 100, "followup_interval_days": 90}


@pytest.fixture(scope="module")
def built(make, client, tokens, psql):
    """The programme and what the tests expect of it (kept next to what was made)."""
    g = Programme(make, client, tokens, psql, rules=dict(RULES))
    people = []          # (kind, final status)
    pairs = []           # (status, end_reason)
    waits = {"mentor": [], "mentee": []}
    active = []          # (started days ago, meetings held)
    outcomes = []        # (mentee id, months_after_end, measured_on, status)

    def pair_people(mentor_wait, mentee_wait):
        m, e = g.person("mentor"), g.person("mentee")
        return m, e, mentor_wait, mentee_wait

    def waited(m, e, mw, ew):
        g.waited(m, mw)
        g.waited(e, ew)
        waits["mentor"].append(mw)
        waits["mentee"].append(ew)

    # four active pairs: (start, further meetings); on track needs floor(4 * min(1, days / 100)) meetings
    for i, (start, more) in enumerate(((50, [-45, -40, -30, -20]), (80, []), (10, [-5]), (200, [-150, -100]))):
        m, e, mw, ew = pair_people(1 + i, 3 + 2 * i)
        g.active_pair(m, e, [-start] + more)
        waited(m, e, mw, ew)
        people += [("mentor", "active"), ("mentee", "active")]
        pairs.append(("active", None))
        active.append((start, 1 + len(more)))

    # three completed and two ended pairs, closed about 400 days ago; their mentees' outcomes
    closed = {}
    for i, (status, reason, mentee_after) in enumerate((
            ("completed", "goal_reached", "completed"), ("completed", "goal_reached", "completed"),
            ("completed", "other", "completed"), ("ended", "no_click", "waiting"),
            ("ended", "mentee_stopped", "withdrawn"))):
        m, e, mw, ew = pair_people(2 + 3 * i, 11 + 5 * i)
        ended = a_closing_day(400 + i)
        g.closed_pair(m, e, status, reason, ended)
        waited(m, e, mw, ew)
        mentor_after = "completed" if status == "completed" else "waiting"
        people += [("mentor", mentor_after), ("mentee", mentee_after)]
        pairs.append((status, reason))
        closed[i] = (e, ended)

    # outcomes: months after the end -> status, per closed mentee (by index)
    plan = {0: [(3, "seeking"), (6, "job_below_level"), (12, "job_at_level")],
            1: [(2, "seeking"), (4, "training"), (13, "job_at_level")],
            2: [(5, "internship")],
            3: [(3, "seeking"), (8, "job_at_level")],
            4: [(11, "other")]}
    for i, measures in plan.items():
        e, ended = closed[i]
        for months, status in measures:
            measured = add_months(ended, months)
            o = expect(g.coach.post(f"/v1/participants/{e['id']}/outcomes",
                                    {"measured_on": measured.isoformat(), "status": status}), 201)
            assert o["months_after_end"] == months_between(ended, measured) == months
            outcomes.append((e["id"], months, measured, status))

    # a proposal, and a declined one
    m, e, mw, ew = pair_people(30, 45)
    g.propose(m, e)
    waited(m, e, mw, ew)
    people += [("mentor", "matched"), ("mentee", "matched")]
    pairs.append(("proposed", None))
    m, e, mw, ew = pair_people(4, 7)
    p = g.propose(m, e)
    expect(g.as_(e).post(f"/v1/pairs/{p['id']}/decline", {"reason": "too far"}), 200)
    waited(m, e, mw, ew)
    people += [("mentor", "waiting"), ("mentee", "waiting")]
    pairs.append(("declined", None))
    # an accepted pair, whose people waited a fraction of a day more
    m, e, mw, ew = pair_people(2.5, 12.25)
    g.accept(g.propose(m, e), m, e)
    waited(m, e, mw, ew)
    people += [("mentor", "matched"), ("mentee", "matched")]
    pairs.append(("accepted", None))

    # people without a pair
    g.person("mentee", status="applied")
    g.person("mentee", status="applied")
    g.person("mentor", status="screened")
    r = g.person("mentee", status="screened")
    expect(g.coord.patch(f"/v1/participants/{r['id']}", {"status": "rejected", "rejection": {"reason": "Not eligible for this programme"}}), 200)
    people += [("mentee", "applied"), ("mentee", "applied"), ("mentor", "screened"), ("mentee", "rejected")]

    # surveys (when this installation has them): one for both, one for mentees
    surveys = []
    if has_surveys(psql):
        everyone = [row[0] for row in psql("SELECT id FROM participants WHERE programme_id = %s ORDER BY seq", g.id)]
        kinds = dict(psql("SELECT id, kind FROM participants WHERE programme_id = %s", g.id))
        st = dict(psql("SELECT id, status FROM participants WHERE programme_id = %s", g.id))
        both = g.survey("pre", "both", [{"key": "q", "type": "scale10"}], title="Voormeting")
        answered_both = everyone[:10]
        for pid in answered_both:
            g.respond(both, {"id": pid})
        mentees = g.survey("post", "mentees", [{"key": "q", "type": "scale10"}], title="Nameting")
        answered_mentees = [pid for pid in everyone if kinds[pid] == "mentee"][:2]
        for pid in answered_mentees:
            g.respond(mentees, {"id": pid})

        def invited(audience, answered):
            return sum(1 for pid in everyone
                       if (audience == "both" or kinds[pid] + "s" == audience)
                       and (st[pid] not in ("withdrawn", "rejected") or pid in answered))
        surveys = [(both, "Voormeting", "pre", "both", invited("both", answered_both), len(answered_both)),
                   (mentees, "Nameting", "post", "mentees", invited("mentees", answered_mentees),
                    len(answered_mentees))]

    # the mentor and mentee of an active pair, for the role matrix
    pair_people_row = psql("SELECT mentor_id, mentee_id FROM pairs WHERE programme_id = %s AND status = 'active' "
                           "LIMIT 1", g.id)[0]
    return {"g": g, "people": people, "pairs": pairs, "waits": waits, "active": active, "outcomes": outcomes,
            "surveys": surveys, "mentor_id": pair_people_row[0], "mentee_id": pair_people_row[1]}


def expected(b, suppress):
    """Every figure, computed from what the fixture built."""
    g, t = b["g"], T
    participants = {"suppressed": False}
    for kind in ("mentor", "mentee"):
        statuses = [s for k, s in b["people"] if k == kind]
        by = shown_map(counts(statuses, PARTICIPANT_STATUSES), t, suppress)
        total = cell(len(statuses), t, suppress)
        participants[kind] = {"total": total, "by_status": by}
        participants["suppressed"] |= total is None or None in by.values()

    waiting = {"suppressed": False}
    for kind in ("mentee", "mentor"):
        xs = b["waits"][kind]
        if suppress and len(xs) < t:
            waiting[kind] = {"n": None, "median_days": None, "p90_days": None}
            waiting["suppressed"] = True
        else:
            waiting[kind] = {"n": len(xs), "median_days": rounded(percentile_cont(xs, 0.5), 2),
                             "p90_days": rounded(percentile_cont(xs, 0.9), 2)}

    pair_counts = counts([s for s, _ in b["pairs"]], PAIR_STATUSES)
    pair_by = shown_map(pair_counts, t, suppress)
    pair_total = cell(len(b["pairs"]), t, suppress)
    pairs = {"suppressed": pair_total is None or None in pair_by.values(), "total": pair_total, "by_status": pair_by}

    held = [n for _, n in b["active"]]
    if suppress and len(held) < t:
        meetings = {"suppressed": True, "active_pairs": None, "meetings_held": None, "mean_per_pair": None,
                    "median_per_pair": None}
    else:
        meetings = {"suppressed": False, "active_pairs": len(held), "meetings_held": sum(held),
                    "mean_per_pair": rounded(sum(held) / len(held), 2) if held else None,
                    "median_per_pair": rounded(percentile_cont(held, 0.5), 2)}

    min_m, dur = RULES["min_meetings"], RULES["min_duration_days"]
    on = sum(1 for days, n in b["active"] if n >= (min_m * min(days, dur)) // dur)
    ot = shown_map({"on_track": on, "not_on_track": len(b["active"]) - on}, t, suppress)
    hidden = (suppress and len(b["active"]) < t) or None in ot.values()
    on_track = {"suppressed": bool(suppress and hidden), "active_pairs": cell(len(b["active"]), t, suppress),
                "on_track": ot["on_track"], "not_on_track": ot["not_on_track"],
                "share": None if hidden or not b["active"] else rounded(on / len(b["active"]), 4)}

    c, e = pair_by["completed"], pair_by["ended"]
    reasons = {s: shown_map(counts([r for st, r in b["pairs"] if st == s], END_REASONS), t, suppress)
               for s in ("completed", "ended")}
    closures = {"completion_rate": rounded(c / (c + e), 4) if c is not None and e is not None and c + e else None,
                "dropout_rate": rounded(e / (c + e), 4) if c is not None and e is not None and c + e else None,
                "end_reasons": reasons,
                "suppressed": bool(suppress and (c is None or e is None or
                                                 any(None in m.values() for m in reasons.values())))}

    windows = {3: (2, 4), 6: (5, 7), 12: (11, 13)}
    outcomes = {"suppressed": False}
    for point, (lo, hi) in windows.items():
        latest = {}
        for pid, months, measured, status in b["outcomes"]:
            if lo <= months <= hi and (pid not in latest or measured > latest[pid][0]):
                latest[pid] = (measured, status)
        by = shown_map(counts([s for _, s in latest.values()], OUTCOME_STATUSES), t, suppress)
        n = cell(len(latest), t, suppress)
        outcomes[f"at_{point}_months"] = {"months_from": lo, "months_to": hi, "participants": n, "by_status": by}
        outcomes["suppressed"] |= n is None or None in by.values()

    items = []
    for sid, title, phase, audience, invited, responded in b["surveys"]:
        m = shown_map({"responded": responded, "not_responded": invited - responded}, t, suppress)
        inv = cell(invited, t, suppress)
        hid = inv is None or None in m.values()
        items.append({"survey_id": sid, "title": title, "phase": phase, "audience": audience, "invited": inv,
                      "responded": m["responded"],
                      "response_rate": None if hid or not invited else rounded(responded / invited, 4),
                      "suppressed": bool(suppress and hid)})
    surveys = {"suppressed": any(i["suppressed"] for i in items), "available": bool(b["surveys"]), "items": items}

    return {"programme_id": g.id, "as_of": today().isoformat(), "suppression": {"applied": suppress, "threshold": t},
            "participants": participants, "waiting": waiting, "pairs": pairs, "meetings": meetings,
            "on_track": on_track, "closures": closures, "surveys": surveys, "outcomes": outcomes}


def stats(c, b):
    return expect(c.get(f"/v1/programmes/{b['g'].id}/stats"), 200)


def test_staff_get_every_figure(built):
    want = expected(built, False)
    for c in (built["g"].coord, built["g"].coach):
        got = stats(c, built)
        for group in want:
            assert got[group] == want[group], group
    # the same as each pair's own progress says
    pairs = built["g"].coord.walk("/v1/pairs", {"programme_id": built["g"].id, "status": "active"})
    assert sum(p["progress"]["on_track"] for p in pairs) == want["on_track"]["on_track"]
    assert sum(p["progress"]["meetings_held"] for p in pairs) == want["meetings"]["meetings_held"]
    # the fixture exercises what it should
    assert want["on_track"]["on_track"] and want["on_track"]["not_on_track"]
    assert want["participants"]["mentor"]["by_status"]["applied"] == 0
    assert want["waiting"]["mentee"]["median_days"] != int(want["waiting"]["mentee"]["median_days"])


def test_researchers_get_small_cells_suppressed(built):
    got = stats(built["g"].researcher, built)
    want = expected(built, True)
    for group in want:
        assert got[group] == want[group], group
    # a zero is hidden as null, never shown as 0
    assert got["participants"]["mentor"]["by_status"]["applied"] is None
    for group in ("participants", "pairs", "on_track", "closures", "outcomes"):
        assert got[group]["suppressed"] is True, group
    assert got["waiting"]["suppressed"] is False and got["meetings"]["suppressed"] is False
    # nothing below the threshold shows anywhere
    def walk(x, path=""):
        if isinstance(x, dict):
            for k, v in x.items():
                yield from walk(v, f"{path}/{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                yield from walk(v, f"{path}/{i}")
        else:
            yield path, x
    count_keys = set(PARTICIPANT_STATUSES) | set(PAIR_STATUSES) | set(END_REASONS) | set(OUTCOME_STATUSES) | {
        "total", "n", "active_pairs", "on_track", "not_on_track", "participants", "invited", "responded"}
    for path, v in walk(got):
        if path.rsplit("/", 1)[-1] in count_keys and isinstance(v, int) and not isinstance(v, bool):
            assert v >= T, f"{path} = {v} is below the threshold {T}"


def test_the_threshold_is_the_programmes(built, make, client, tokens, psql):
    """Raising the threshold hides more; a threshold of 1 hides nothing but zeros."""
    g = built["g"]
    for t in (1, 6):
        expect(g.make.coord.patch(f"/v1/programmes/{g.id}", {"rules": {"small_group_threshold": t}}), 200)
        try:
            got = stats(g.researcher, built)
            assert got["suppression"] == {"applied": True, "threshold": t}
            if t == 1:
                assert got["participants"]["mentor"]["by_status"]["applied"] is None  # 0 < 1
                assert got["pairs"]["by_status"] == {s: n for s, n in counts(
                    [st for st, _ in built["pairs"]], PAIR_STATUSES).items()}
            else:
                assert got["meetings"]["active_pairs"] is None and got["meetings"]["suppressed"] is True
        finally:
            expect(g.make.coord.patch(f"/v1/programmes/{g.id}", {"rules": {"small_group_threshold": T}}), 200)


def test_one_hidden_cell_hides_another(psql):
    """The complementary rule, on the SQL function itself."""
    def m(cells, t, suppress=True):
        return json.loads(psql("SELECT stats_map(%s::jsonb, %s, %s)::text", json.dumps(cells), t,
                               "t" if suppress else "f")[0][0])
    for cells, t in (({"a": 1, "b": 5, "c": 7}, 3), ({"a": 0, "b": 9}, 3), ({"a": 2, "b": 2, "c": 9}, 3),
                     ({"a": 4, "b": 5}, 3), ({"a": 1}, 3), ({"x": 3, "a": 3, "b": 0}, 3)):
        assert m(cells, t) == shown_map(cells, t, True), cells
        assert m(cells, t, False) == cells
    assert m({"a": 1, "b": 5, "c": 7}, 3) == {"a": None, "b": None, "c": 7}


def test_an_empty_programme(make, client, tokens, psql):
    g = Programme(make, client, tokens, psql)
    got = stats(g.coord, {"g": g})
    assert got["participants"]["mentee"] == {"total": 0, "by_status": {s: 0 for s in PARTICIPANT_STATUSES}}
    assert got["waiting"]["mentee"] == {"n": 0, "median_days": None, "p90_days": None}
    assert got["meetings"] == {"suppressed": False, "active_pairs": 0, "meetings_held": 0, "mean_per_pair": None,
                               "median_per_pair": None}
    assert got["on_track"]["share"] is None and got["closures"]["completion_rate"] is None
    assert got["outcomes"]["at_3_months"]["participants"] == 0
    got = stats(g.researcher, {"g": g})
    assert got["pairs"]["total"] is None and got["pairs"]["suppressed"] is True


def test_etag(built):
    c = built["g"].coord
    r = c.get(f"/v1/programmes/{built['g'].id}/stats")
    etag = expect(r, 200) and r.headers["ETag"]
    assert c.get(f"/v1/programmes/{built['g'].id}/stats", headers={"If-None-Match": etag}).status_code == 304


# --------------------------------------------------------------------------- who may

@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(built, make, client, tokens, role):
    g = built["g"]
    foreign = make.programme()
    sub = {"mentor": built["mentor_id"], "mentee": built["mentee_id"]}.get(role)
    partner = make.partner()["id"] if role == "integration" else None
    own = client(tokens(role, sub=sub, prg=[g.id], partner=partner))
    everywhere = client(tokens(role, sub=sub, prg="*", partner=partner))
    if role in ("coordinator", "coach", "researcher"):
        got = stats(own, built)
        assert got["suppression"]["applied"] is (role == "researcher")
        assert stats(everywhere, built)["suppression"]["applied"] is (role == "researcher")
        expect(own.get(f"/v1/programmes/{foreign['id']}/stats"), 404)
    else:
        # mentors and mentees of the programme itself, and integration clients, may not
        expect(own.get(f"/v1/programmes/{g.id}/stats"), 403)
        expect(everywhere.get(f"/v1/programmes/{foreign['id']}/stats"), 403)


def test_unknown_programme_and_bad_requests(built, coord, anon):
    expect(coord.get(f"/v1/programmes/{uuid.uuid4()}/stats"), 404)
    expect(coord.get("/v1/programmes/not-a-uuid/stats"), 404)
    expect(coord.get(f"/v1/programmes/{built['g'].id}/stats", params={"kind": "mentee"}), 400)
    expect(anon.get(f"/v1/programmes/{built['g'].id}/stats"), 401)
    expect(coord.post(f"/v1/programmes/{built['g'].id}/stats", {}), 405)


def test_status_history_is_recorded(built, psql):
    """The waiting times come from participant_status_history, which the
    participants trigger fills on every change of status."""
    g = built["g"]
    rows = psql("SELECT h.from_status, h.to_status FROM participant_status_history h "
                "JOIN participants p ON p.id = h.participant_id WHERE p.programme_id = %s AND p.status = 'rejected'",
                g.id)
    assert rows == [(None, "screened"), ("screened", "rejected")]
    n = psql("SELECT count(*) FROM participant_status_history h JOIN participants p ON p.id = h.participant_id "
             "WHERE p.programme_id = %s AND h.from_status = 'waiting' AND h.to_status = 'matched'", g.id)[0][0]
    assert int(n) == len(built["waits"]["mentee"]) + len(built["waits"]["mentor"])
