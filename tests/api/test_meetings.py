"""Meetings (issue 3): logging on a pair, every validation rule, the pair states
that refuse a meeting, who may log, read and edit, and the /v1/meetings list
with its filters and pages."""
import json
import uuid

import pytest

from conftest import ROLES, expect
from pairhelpers import Cohort, day, expected_progress

TOPICS = ["transition", "training_tips", "teaching_tips", "finances", "other"]


@pytest.fixture
def cohort(make, client, tokens, psql):
    return Cohort(make, client, tokens, psql, topics=TOPICS)


def meeting(**kw):
    body = {"held_on": day(0), "duration_minutes": 60, "mode": "video"}
    body.update(kw)
    return body


def post(c, person, pair, body):
    return c.as_(person).post(f"/v1/pairs/{pair['id']}/meetings", body)


# =========================================================================== logging and reading

def test_log_a_full_meeting_and_read_it_back(cohort, psql):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    c.backdate_pair(p["id"], 10)
    body = {"held_on": day(-3), "duration_minutes": 90, "mode": "in_person", "place": "cafe",
            "topics": ["training_tips", "transition"], "initiated_by": "mentee",
            "summary": "Hoe Marc de bank verliet.", "next_steps": "Jonas bezoekt de school."}
    r = post(c, mentee, p, body)
    m = expect(r, 201)
    assert r.headers["Location"].endswith(f"/v1/meetings/{m['id']}") and r.headers.get("ETag")
    for k, v in body.items():
        assert m[k] == v, k
    assert m["pair_id"] == p["id"] and m["reported_by"] == mentee["id"]
    for reader in (c.as_(mentor), c.as_(mentee), c.coach, c.coord):
        assert expect(reader.get(f"/v1/meetings/{m['id']}"), 200) == m
        assert [x["id"] for x in reader.walk(f"/v1/pairs/{p['id']}/meetings")] == [m["id"]]
    assert psql("SELECT topics[1], topics[2], reported_by::text FROM meetings WHERE id = %s", m["id"]) == \
        [("training_tips", "transition", mentee["id"])]
    # the pair's progress counts it
    assert c.get_pair(p["id"])["progress"] == expected_progress("accepted", None, [(day(-3), 90)], c.rules)


def test_minimal_meeting_has_nulls(cohort):
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    m = expect(post(c, mentor, p, meeting(mode="phone")), 201)
    assert m["place"] is None and m["initiated_by"] is None and m["summary"] is None and m["next_steps"] is None
    assert m["topics"] == [] and m["reported_by"] == mentor["id"]


def test_meeting_on_a_proposed_pair_is_allowed(cohort):
    c = cohort
    mentor, mentee = c.mentor(), c.mentee()
    p = c.propose(mentor, mentee)
    expect(post(c, mentee, p, meeting()), 201)


# =========================================================================== validation

@pytest.fixture
def open_pair(cohort):
    p, mentor, mentee = cohort.accepted_pair()
    return cohort, p, mentor, mentee


@pytest.mark.parametrize("minutes,status", [(0, 422), (601, 422), (-5, 422), (1, 201), (600, 201)])
def test_duration_bounds(open_pair, unchanged, minutes, status):
    c, p, mentor, mentee = open_pair
    if status == 201:
        assert expect(post(c, mentee, p, meeting(duration_minutes=minutes)), 201)["duration_minutes"] == minutes
        return
    with unchanged():
        expect(post(c, mentee, p, meeting(duration_minutes=minutes)), 422, "/duration_minutes")


def test_held_on_in_the_future(open_pair, unchanged):
    c, p, mentor, mentee = open_pair
    with unchanged():
        expect(post(c, mentee, p, meeting(held_on=day(1))), 422, "/held_on")
        expect(post(c, mentee, p, meeting(held_on="2999-01-01")), 422, "/held_on")
    expect(post(c, mentee, p, meeting(held_on=day(0))), 201)


def test_held_on_before_the_proposal(open_pair, unchanged):
    c, p, mentor, mentee = open_pair
    with unchanged():
        expect(post(c, mentee, p, meeting(held_on=day(-1))), 422, "/held_on")
    c.backdate_pair(p["id"], 10)
    with unchanged():
        expect(post(c, mentee, p, meeting(held_on=day(-11))), 422, "/held_on")
        expect(post(c, mentee, p, meeting(held_on="1999-12-31")), 422, "/held_on")
    expect(post(c, mentee, p, meeting(held_on=day(-10))), 201)


def test_unknown_topic_is_422_naming_it(open_pair, unchanged, make):
    c, p, mentor, mentee = open_pair
    # a key of another programme's vocabulary is unknown here too
    other = make.programme()
    expect(make.coord.put(f"/v1/programmes/{other['id']}/topics", {"items": [{"key": "cv", "label": "CV"}]}), 200)
    with unchanged():
        r = post(c, mentee, p, meeting(topics=["transition", "bogus_topic"]))
        expect(r, 422, "/topics/1")
        errs = {e["pointer"]: e["message"] for e in r.json()["errors"]}
        assert "bogus_topic" in errs["/topics/1"] and "/topics/0" not in errs
        r = post(c, mentee, p, meeting(topics=["cv", "finances", "nope"]))
        expect(r, 422, "/topics/0")
        expect(r, 422, "/topics/2")
        assert "/topics/1" not in {e["pointer"] for e in r.json()["errors"]}


def test_topic_count_and_duplicates(open_pair, unchanged):
    c, p, mentor, mentee = open_pair
    with unchanged():
        expect(post(c, mentee, p, meeting(topics=TOPICS[:4])), 422, "/topics")
        expect(post(c, mentee, p, meeting(topics=["finances", "finances"])), 422, "/topics/1")
        expect(post(c, mentee, p, meeting(topics=[""])), 422, "/topics/0")
        expect(post(c, mentee, p, meeting(topics=["x" * 65])), 422, "/topics/0")
    assert expect(post(c, mentee, p, meeting(topics=TOPICS[:3])), 201)["topics"] == TOPICS[:3]


WRONG_TYPES = [("/held_on", 20240101), ("/duration_minutes", "60"), ("/duration_minutes", 60.5), ("/mode", 1),
               ("/place", True), ("/topics", "transition"), ("/topics/0", 3), ("/initiated_by", ["mentee"]),
               ("/summary", 5), ("/next_steps", {"a": 1})]
INVALID = [("/held_on", "2024-02-30"), ("/held_on", "yesterday"), ("/mode", "telepathy"), ("/place", "beach"),
           ("/initiated_by", "coordinator"), ("/summary", "x" * 4001), ("/mode", None), ("/held_on", None)]


def _with(body, pointer, value):
    body = json.loads(json.dumps(body))
    parts = pointer.strip("/").split("/")
    if len(parts) == 2:
        body[parts[0]] = [value]
    else:
        body[parts[0]] = value
    return body


@pytest.mark.parametrize("pointer,value", WRONG_TYPES + INVALID,
                         ids=[f"{p}={json.dumps(v)[:16]}" for p, v in WRONG_TYPES + INVALID])
def test_invalid_values_are_422(open_pair, unchanged, pointer, value):
    c, p, mentor, mentee = open_pair
    with unchanged():
        expect(post(c, mentee, p, _with(meeting(), pointer, value)), 422, pointer)


@pytest.mark.parametrize("field", ["held_on", "duration_minutes", "mode"])
def test_required_fields(open_pair, unchanged, field):
    c, p, mentor, mentee = open_pair
    body = meeting()
    del body[field]
    with unchanged():
        expect(post(c, mentee, p, body), 422, f"/{field}")


@pytest.mark.parametrize("field", ["id", "pair_id", "reported_by", "created_at", "updated_at"])
def test_read_only_fields_are_422(open_pair, unchanged, field):
    c, p, mentor, mentee = open_pair
    value = str(uuid.uuid4()) if field.endswith("id") or field == "reported_by" else "2024-01-01T00:00:00Z"
    with unchanged():
        expect(post(c, mentee, p, meeting(**{field: value})), 422, f"/{field}")


def test_unknown_field_is_400(open_pair, unchanged):
    c, p, mentor, mentee = open_pair
    with unchanged():
        expect(post(c, mentee, p, meeting(location="Gent")), 400, "/location")


@pytest.mark.parametrize("raw", [b'{"held_on": ', b"[]", b'"x"', b'{"a":1,"a":2}', b"{'a': 1}"], ids=range(5))
def test_malformed_json_is_400(open_pair, unchanged, raw):
    c, p, mentor, mentee = open_pair
    m = expect(post(c, mentee, p, meeting()), 201)
    with unchanged():
        expect(c.as_(mentee).request("POST", f"/v1/pairs/{p['id']}/meetings", data=raw,
                                     headers={"Content-Type": "application/json"}), 400)
        expect(c.as_(mentee).request("PATCH", f"/v1/meetings/{m['id']}", data=raw,
                                     headers={"Content-Type": "application/merge-patch+json"}), 400)


SQL_PAYLOADS = ["'; DROP TABLE meetings; --", '\\" OR 1=1', "Robert'); DELETE FROM pairs;--", "$1 $$ :'p0' %s %_",
                "ünïcødé ‘quotes’ — 🚀"]


@pytest.mark.parametrize("payload", SQL_PAYLOADS, ids=range(len(SQL_PAYLOADS)))
def test_sql_metacharacters_stored_verbatim(open_pair, psql, payload):
    c, p, mentor, mentee = open_pair
    m = expect(post(c, mentee, p, meeting(summary=payload, next_steps=payload[::-1])), 201)
    assert m["summary"] == payload and m["next_steps"] == payload[::-1]
    assert expect(c.coord.get(f"/v1/meetings/{m['id']}"), 200)["summary"] == payload
    assert psql("SELECT summary, next_steps FROM meetings WHERE id = %s", m["id"]) == [(payload, payload[::-1])]
    got = expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"summary": payload + payload}), 200)
    assert got["summary"] == payload + payload
    with_topic = post(c, mentee, p, meeting(topics=[payload[:60]]))
    expect(with_topic, 422, "/topics/0")
    assert psql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'meetings'") == [("1",)]


# =========================================================================== closed pairs

@pytest.mark.parametrize("how", ["declined", "completed", "ended"])
def test_no_meeting_on_a_closed_pair(cohort, unchanged, how):
    c = cohort
    if how == "declined":
        mentor, mentee = c.mentor(), c.mentee()
        p = c.propose(mentor, mentee)
        m, reporter = c.meet(p, mentee, day(0)), mentee
        expect(c.as_(mentor).post(f"/v1/pairs/{p['id']}/decline", {"reason": "geen klik"}), 200)
    else:
        p, mentor, mentee = c.active_pair()
        m, reporter = c.meet(p, mentor, day(0)), mentor
        c.close(p, how, "goal_reached" if how == "completed" else "no_click")
    with unchanged():
        for person in (mentor, mentee):
            r = post(c, person, p, meeting())
            expect(r, 409)
            assert how in r.json()["detail"]
        expect(c.coord.post(f"/v1/pairs/{p['id']}/meetings", meeting()), 409)
        expect(c.as_(reporter).patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 30}), 409)
        expect(c.coord.patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 30}), 409)
    # still readable
    assert expect(c.as_(mentee).get(f"/v1/meetings/{m['id']}"), 200)["id"] == m["id"]


# =========================================================================== who may log, read and edit

@pytest.fixture
def people(cohort, make, client, tokens, psql):
    """The pair's mentor and mentee, its coach, a coordinator; the other pair's people; another coach of
    the programme (not this pair's), staff of another programme."""
    c = cohort
    p, mentor, mentee = c.accepted_pair()
    q, other_mentor, other_mentee = c.accepted_pair()
    other_coach = make.staff([c.id], role="coach")
    foreign = Cohort(make, client, tokens, psql)
    return {
        "c": c, "pair": p, "other_pair": q,
        "mentor": c.as_(mentor), "mentee": c.as_(mentee), "coach": c.coach, "coordinator": c.coord,
        "other_mentor": c.as_(other_mentor), "other_mentee": c.as_(other_mentee),
        "programme_coach": client(tokens("coach", sub=other_coach["id"], prg=[c.id])),
        "foreign_coordinator": foreign.coord, "foreign_coach": foreign.coach,
        "researcher": client(tokens("researcher", prg=[c.id])),
        "integration": client(tokens("integration", partner=make.partner()["id"])),
        "ids": {"mentor": mentor["id"], "mentee": mentee["id"], "coordinator": c.coord_id},
    }


# who: (POST on the pair, GET the pair's meetings / one meeting)
ACCESS = {
    "mentor": (201, 200), "mentee": (201, 200), "coordinator": (201, 200), "coach": (403, 200),
    "other_mentor": (404, 404), "other_mentee": (404, 404), "programme_coach": (403, 404),
    "foreign_coordinator": (404, 404), "foreign_coach": (403, 404), "researcher": (403, 403),
    "integration": (403, 403),
}


@pytest.mark.parametrize("who", list(ACCESS))
def test_who_may_log_and_read(people, unchanged, who):
    w = people
    c, p = w["c"], w["pair"]
    existing = c.meet(p, {"id": w["ids"]["mentee"], "kind": "mentee"}, day(0))
    log_status, read_status = ACCESS[who]
    caller = w[who]
    if log_status == 201:
        m = expect(caller.post(f"/v1/pairs/{p['id']}/meetings", meeting()), 201)
        assert m["reported_by"] == w["ids"][who]
    else:
        with unchanged():
            expect(caller.post(f"/v1/pairs/{p['id']}/meetings", meeting()), log_status)
    r = caller.get(f"/v1/pairs/{p['id']}/meetings")
    expect(r, read_status)
    expect(caller.get(f"/v1/meetings/{existing['id']}"), read_status)
    listed = caller.get("/v1/meetings", params={"pair_id": p["id"]})
    if read_status == 403:
        expect(listed, 403)
    else:
        got = {x["id"] for x in expect(listed, 200)["items"]}
        assert (existing["id"] in got) == (read_status == 200)


# who: PATCH a meeting the mentee reported
PATCH_ACCESS = {"mentee": 200, "mentor": 403, "coordinator": 200, "coach": 403, "programme_coach": 403,
                "other_mentor": 404, "other_mentee": 404, "foreign_coordinator": 404, "researcher": 403,
                "integration": 403}


@pytest.mark.parametrize("who", list(PATCH_ACCESS))
def test_who_may_edit(people, unchanged, who):
    w = people
    c, p = w["c"], w["pair"]
    m = c.meet(p, {"id": w["ids"]["mentee"], "kind": "mentee"}, day(0), minutes=45)
    caller = w[who]
    want = PATCH_ACCESS[who]
    if want == 200:
        got = expect(caller.patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 75}), 200)
        assert got["duration_minutes"] == 75 and got["reported_by"] == w["ids"]["mentee"]
        return
    with unchanged():
        expect(caller.patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 75}), want)


def test_mentor_edits_own_report(people):
    w = people
    p = w["pair"]
    m = expect(w["mentor"].post(f"/v1/pairs/{p['id']}/meetings", meeting()), 201)
    assert expect(w["mentor"].patch(f"/v1/meetings/{m['id']}", {"summary": "mijn verslag"}), 200)["summary"] == \
        "mijn verslag"
    expect(w["mentee"].patch(f"/v1/meetings/{m['id']}", {"summary": "niet het mijne"}), 403)


# =========================================================================== editing

def test_patch_is_a_merge_patch_with_if_match(open_pair, unchanged):
    c, p, mentor, mentee = open_pair
    m = c.meet(p, mentee, day(0), minutes=60, topics=["finances"], summary="s", next_steps="n")
    r = c.as_(mentee).get(f"/v1/meetings/{m['id']}")
    etag = r.headers["ETag"]
    got = expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 120, "next_steps": None},
                                     headers={"If-Match": etag}), 200)
    assert got["duration_minutes"] == 120 and got["next_steps"] is None
    assert got["summary"] == "s" and got["topics"] == ["finances"] and got["held_on"] == day(0)
    with unchanged():
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 30},
                                   headers={"If-Match": etag}), 412)
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"held_on": day(1)}), 422, "/held_on")
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"topics": ["nope"]}), 422, "/topics/0")
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"duration_minutes": 601}), 422, "/duration_minutes")
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"pair_id": str(uuid.uuid4())}), 422, "/pair_id")
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"reported_by": mentor["id"]}), 422, "/reported_by")
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"mode": None}), 422, "/mode")
        expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"venue": "x"}), 400, "/venue")
    got = expect(c.as_(mentee).patch(f"/v1/meetings/{m['id']}", {"topics": ["other", "transition"]}), 200)
    assert got["topics"] == ["other", "transition"]
    # the pair's progress follows the edit
    assert c.get_pair(p["id"])["progress"]["minutes_total"] == 120


def test_unknown_meeting_ids_are_404(coord):
    for mid in (str(uuid.uuid4()), "not-a-uuid"):
        expect(coord.get(f"/v1/meetings/{mid}"), 404)
        expect(coord.patch(f"/v1/meetings/{mid}", {"summary": "x"}), 404)
        expect(coord.get(f"/v1/pairs/{mid}/meetings"), 404)
        expect(coord.post(f"/v1/pairs/{mid}/meetings", meeting()), 404)


# =========================================================================== the /v1/meetings list

@pytest.fixture
def history(make, client, tokens, psql):
    """Two programmes; in the first two pairs coached by its coach and one without a coach."""
    c = Cohort(make, client, tokens, psql, topics=TOPICS)
    d = Cohort(make, client, tokens, psql)
    p1, m1, e1 = c.accepted_pair()
    p2, m2, e2 = c.accepted_pair()
    m3, e3 = c.mentor(), c.mentee()
    p3 = c.propose(m3, e3, by=c.coord)   # a coordinator proposes without a coach
    assert p3["coach_id"] is None
    q, qm, qe = d.accepted_pair()
    for pair in (p1, p2, p3, q):
        (c if pair is not q else d).backdate_pair(pair["id"], 60)
    logged = []
    plan = [(p1, e1, 50), (p1, m1, 40), (p2, e2, 30), (p3, e3, 20), (p1, e1, 10), (p2, m2, 5), (p3, m3, 0)]
    for pair, who, ago in plan:
        logged.append((pair["id"], day(-ago), c.meet(pair, who, day(-ago))))
    foreign = d.meet(q, qe, day(-15))
    return {"c": c, "d": d, "pairs": (p1, p2, p3), "logged": logged, "foreign": foreign}


def _ids(items):
    return [x["id"] for x in items]


def test_list_filters(history):
    h = history
    c = h["c"]
    p1, p2, p3 = h["pairs"]
    all_ids = [m["id"] for _, _, m in h["logged"]]
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": c.id})) == all_ids, "logged order"
    assert _ids(c.coord.walk("/v1/meetings")) == all_ids, "a coordinator of one programme sees it only"
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": h["d"].id})) == []
    assert _ids(c.coord.walk("/v1/meetings", {"pair_id": p2["id"]})) == \
        [m["id"] for pid, _, m in h["logged"] if pid == p2["id"]]
    frm, to = day(-30), day(-5)
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": c.id, "from": frm, "to": to})) == \
        [m["id"] for _, held, m in h["logged"] if frm <= held <= to], "from and to are inclusive"
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": c.id, "from": day(-10)})) == \
        [m["id"] for _, held, m in h["logged"] if held >= day(-10)]
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": c.id, "to": day(-40)})) == \
        [m["id"] for _, held, m in h["logged"] if held <= day(-40)]
    # updated_since: three reports were last changed long ago
    old = [m["id"] for _, _, m in h["logged"][:3]]
    for mid in old:
        c.make.backdate("meetings", mid, "2020-01-01T00:00:00Z")
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": c.id, "updated_since": "2021-01-01T00:00:00Z"})) == \
        [x for x in all_ids if x not in old]
    assert _ids(c.coord.walk("/v1/meetings", {"programme_id": c.id, "updated_since": "2019-12-31T23:59:59Z"})) == \
        all_ids
    # the same filters on one pair's list
    assert _ids(c.coord.walk(f"/v1/pairs/{p1['id']}/meetings", {"from": day(-45), "to": day(0)})) == \
        [m["id"] for pid, held, m in h["logged"] if pid == p1["id"] and held >= day(-45)]


def test_list_scope_per_role(history):
    h = history
    c = h["c"]
    p1, p2, p3 = h["pairs"]
    coached = [m["id"] for pid, _, m in h["logged"] if pid in (p1["id"], p2["id"])]
    assert _ids(c.coach.walk("/v1/meetings")) == coached, "a coach sees the pairs they coach only"
    expect(c.coach.get(f"/v1/pairs/{p3['id']}/meetings"), 404)
    mentee_of_p2 = {"id": p2["mentee_id"], "kind": "mentee"}
    assert _ids(c.as_(mentee_of_p2).walk("/v1/meetings")) == [m["id"] for pid, _, m in h["logged"]
                                                              if pid == p2["id"]]
    assert h["foreign"]["id"] not in _ids(c.coord.walk("/v1/meetings"))


def test_paging(history):
    h = history
    c = h["c"]
    all_ids = [m["id"] for _, _, m in h["logged"]]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"programme_id": c.id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = expect(c.coord.get("/v1/meetings", params=params), 200)
        assert len(body["items"]) <= 2
        seen += _ids(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == all_ids and pages == 4
    # a cursor of the list is refused when tampered with
    first = expect(c.coord.get("/v1/meetings", params={"programme_id": c.id, "limit": 1}), 200)["next_cursor"]
    bad = first[:-2] + ("AA" if not first.endswith("AA") else "BB")
    expect(c.coord.get("/v1/meetings", params={"programme_id": c.id, "limit": 1, "cursor": bad}), 400)
    # a pair's own list pages too, and its cursor is no good for another pair
    p1 = h["pairs"][0]
    page = expect(c.coord.get(f"/v1/pairs/{p1['id']}/meetings", params={"limit": 1}), 200)
    assert page["next_cursor"]
    expect(c.coord.get(f"/v1/pairs/{h['pairs'][1]['id']}/meetings",
                       params={"limit": 1, "cursor": page["next_cursor"]}), 400)


@pytest.mark.parametrize("params", [{"from": "2024-13-01"}, {"to": "tomorrow"}, {"from": day(0), "to": day(-1)},
                                    {"programme_id": "x"}, {"pair_id": "1 OR 1=1"}, {"updated_since": "2024-01-01"},
                                    {"limit": 0}, {"limit": 201}, {"cursor": "x"}, {"status": "active"},
                                    {"programme_id": "'; DROP TABLE meetings; --"}])
def test_list_bad_queries_are_400(coord, params):
    expect(coord.get("/v1/meetings", params=params), 400)


@pytest.mark.parametrize("role", ROLES)
def test_list_roles(client, tokens, role):
    t = tokens(role, prg=[str(uuid.uuid4())], partner=str(uuid.uuid4()) if role == "integration" else None)
    r = client(t).get("/v1/meetings")
    if role in ("researcher", "integration"):
        expect(r, 403)
    else:
        assert expect(r, 200)["items"] == []
