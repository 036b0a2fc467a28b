"""Surveys: instruments and their questions, answers checked per question type,
the open window, one response per person, frozen instruments, who sees which
responses, the role matrix and bad input on every new route. A refused write
never changes the database. Results are in test_results.py."""
import copy
import datetime
import hashlib
import hmac
import json
import uuid

import pytest

from conftest import ROLES, expect, unique

DEV_EXPORT_KEY = "koppel-development-export-key"  # the suite sets no KOPPEL_EXPORT_KEY (test_exports checks it)


def day(offset=0):
    """A date relative to today in UTC, as the service counts windows."""
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)).isoformat()


QUESTIONS = [
    {"key": "likert", "text": "How useful was it?", "type": "likert5", "allow_not_used": True},
    {"key": "likert_strict", "text": "How clear was it?", "type": "likert5"},
    {"key": "scale", "text": "Rate the programme", "type": "scale10"},
    {"key": "single", "text": "Your sector", "type": "single_choice", "options": ["a", "b", "c"]},
    {"key": "multi", "text": "Topics (at most 2)", "type": "multi_choice", "options": ["a", "b", "c", "d"],
     "max_choices": 2},
    {"key": "ysn", "text": "Did you feel heard?", "type": "yes_sometimes_no"},
    {"key": "number", "text": "Hours per month", "type": "number"},
    {"key": "date", "text": "When did you start?", "type": "date"},
    {"key": "text", "text": "Anything else?", "type": "text"},
    {"key": "must", "text": "Would you do it again?", "type": "yes_sometimes_no", "required": True},
]
Q = {q["key"]: i for i, q in enumerate(QUESTIONS)}

VALID_ANSWERS = {"likert": "not_used", "likert_strict": 3, "scale": 10, "single": "b", "multi": ["a", "d"],
                 "ysn": "sometimes", "number": 2.5, "date": "2022-06-01", "text": "Thank you — 🚀", "must": "yes"}


def survey_body(programme_id, **kw):
    body = {"programme_id": programme_id, "title": unique("survey"), "phase": "pre", "audience": "both",
            "opens_on": day(-30), "closes_on": day(30), "questions": copy.deepcopy(QUESTIONS)}
    body.update(kw)
    return body


def canonical(q):
    """What the service stores of a question it was sent."""
    choice = q["type"] in ("single_choice", "multi_choice")
    return {"key": q["key"], "text": q["text"], "type": q["type"],
            "options": q.get("options") if choice else None,
            "max_choices": (q.get("max_choices") or len(q["options"])) if q["type"] == "multi_choice" else None,
            "allow_not_used": bool(q.get("allow_not_used")), "required": bool(q.get("required"))}


def pseudonym(key, ident):
    return hmac.new(key.encode(), ident.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def world(make, client, tokens, coord):
    """P1 is "own" for every role, P2 "foreign"; partner A is the integration client's."""
    w = {}
    p1, p2 = make.programme(), make.programme()
    w["P1"], w["P2"] = p1["id"], p2["id"]
    a = make.partner(kind="employer")
    consent = {"data_processing": True, "research": True}
    w["M1"] = make.participant(p1["id"], kind="mentor", status="waiting", consent=consent)["id"]
    w["E1"] = make.participant(p1["id"], kind="mentee", status="waiting")["id"]
    w["M2"] = make.participant(p2["id"], kind="mentor", status="waiting")["id"]
    w["E2"] = make.participant(p2["id"], kind="mentee", status="waiting")["id"]
    w["W1"] = make.participant(p1["id"], kind="mentee", status="waiting")["id"]
    expect(coord.patch(f"/v1/participants/{w['W1']}", {"status": "withdrawn"}), 200)
    coord_sub, coach_sub = str(uuid.uuid4()), str(uuid.uuid4())
    make.staff([p1["id"]], role="coordinator", id=coord_sub)
    make.staff([p1["id"]], role="coach", id=coach_sub)
    w["tokens"] = {
        "coordinator": tokens("coordinator", sub=coord_sub, prg=[p1["id"]]),
        "coach": tokens("coach", sub=coach_sub, prg=[p1["id"]]),
        "researcher": tokens("researcher", prg=[p1["id"]]),
        "mentor": tokens("mentor", sub=w["M1"], prg=[p1["id"]]),
        "mentee": tokens("mentee", sub=w["E1"], prg=[p1["id"]]),
        "integration": tokens("integration", partner=a["id"]),
    }
    w["c"] = {r: client(t) for r, t in w["tokens"].items()}
    w["m2"] = client(tokens("mentor", sub=w["M2"], prg=[p2["id"]]))
    w["e2"] = client(tokens("mentee", sub=w["E2"], prg=[p2["id"]]))
    w["w1"] = client(tokens("mentee", sub=w["W1"], prg=[p1["id"]]))
    # an open survey nobody answers: for the refused answers
    w["open"] = new_survey(coord, w["P1"])
    return w


def new_survey(c, programme_id, **kw):
    return expect(c.post("/v1/surveys", survey_body(programme_id, **kw)), 201)


def answer(c, survey_id, answers, **kw):
    return c.post(f"/v1/surveys/{survey_id}/responses", {"answers": answers}, **kw)


# --------------------------------------------------------------------------- surveys

def test_create_stores_the_canonical_form(world):
    c = world["c"]["coordinator"]
    body = survey_body(world["P1"])
    body["questions"].append({"key": "all", "text": "Pick any", "type": "multi_choice", "options": ["x", "y", "z"]})
    r = c.post("/v1/surveys", body)
    s = expect(r, 201)
    assert r.headers["Location"] == f"/v1/surveys/{s['id']}"
    assert r.headers.get("ETag")
    for k in ("programme_id", "title", "phase", "audience", "opens_on", "closes_on"):
        assert s[k] == body[k]
    assert s["questions"] == [canonical(q) for q in body["questions"]]
    assert s["questions"][-1]["max_choices"] == 3
    assert s["frozen"] is False
    got = c.get(f"/v1/surveys/{s['id']}")
    assert expect(got, 200) == s
    assert got.headers["ETag"] == r.headers["ETag"]
    expect(c.get(f"/v1/surveys/{s['id']}", headers={"If-None-Match": r.headers["ETag"]}), 304)


def test_created_survey_is_audited(world, psql):
    s = new_survey(world["c"]["coordinator"], world["P1"])
    rows = psql("SELECT action, actor_role FROM audit_log WHERE entity = 'surveys' AND entity_id = %s", s["id"])
    assert rows == [("create", "coordinator")]


def _q(index, **changes):
    """A body whose question index has these changes (a value of DROP removes the member)."""
    def mutate(body):
        q = body["questions"][index]
        for k, v in changes.items():
            if v is DROP:
                q.pop(k, None)
            else:
                q[k] = v
        return body
    return mutate


DROP = object()


def _dup_key(body):
    body["questions"][1]["key"] = body["questions"][0]["key"]
    return body


QUESTION_INVALID = [
    (_dup_key, "/questions/1/key"),
    (_q(0, key="Bad Key"), "/questions/0/key"),
    (_q(0, key=""), "/questions/0/key"),
    (_q(0, key="k" * 65), "/questions/0/key"),
    (_q(0, key="é"), "/questions/0/key"),
    (_q(0, text=""), "/questions/0/text"),
    (_q(0, text="x" * 1001), "/questions/0/text"),
    (_q(0, type="slider"), "/questions/0/type"),
    (_q(Q["single"], options=DROP), "/questions/3/options"),
    (_q(Q["single"], options=None), "/questions/3/options"),
    (_q(Q["single"], options=["only"]), "/questions/3/options"),
    (_q(Q["single"], options=[]), "/questions/3/options"),
    (_q(Q["single"], options=["a", "a"]), "/questions/3/options/1"),
    (_q(Q["single"], options=["a", ""]), "/questions/3/options/1"),
    (_q(Q["single"], options=["a", "x" * 201]), "/questions/3/options/1"),
    (_q(Q["single"], options=["a"] + [f"o{i}" for i in range(100)]), "/questions/3/options"),
    (_q(Q["multi"], options=DROP), "/questions/4/options"),
    (_q(Q["multi"], max_choices=5), "/questions/4/max_choices"),
    (_q(Q["multi"], max_choices=0), "/questions/4/max_choices"),
    (_q(Q["single"], max_choices=1), "/questions/3/max_choices"),
    (_q(Q["likert"], options=["a", "b"]), "/questions/0/options"),
    (_q(Q["text"], options=["a", "b"]), "/questions/8/options"),
    (_q(Q["scale"], allow_not_used=True), "/questions/2/allow_not_used"),
    (_q(Q["single"], allow_not_used=True), "/questions/3/allow_not_used"),
    (_q(0, key=DROP), "/questions/0/key"),
    (_q(0, text=DROP), "/questions/0/text"),
    (_q(0, type=DROP), "/questions/0/type"),
]


@pytest.mark.parametrize("mutate,pointer", QUESTION_INVALID, ids=[p + f"#{i}" for i, (_, p) in
                                                                  enumerate(QUESTION_INVALID)])
def test_question_rules_are_422(world, unchanged, mutate, pointer):
    body = mutate(survey_body(world["P1"]))
    with unchanged():
        expect(world["c"]["coordinator"].post("/v1/surveys", body), 422, pointer)


SURVEY_INVALID = [("/phase", "middle"), ("/audience", "all"), ("/opens_on", "2024-02-30"), ("/closes_on", "tomorrow"),
                  ("/title", ""), ("/title", "x" * 201), ("/programme_id", "not-a-uuid"), ("/questions", []),
                  ("/frozen", True), ("/id", str(uuid.uuid4())), ("/created_at", "2024-01-01T00:00:00Z")]
SURVEY_WRONG_TYPES = [("/title", 5), ("/phase", ["pre"]), ("/opens_on", 20240101), ("/questions", {"a": 1}),
                      ("/questions/0", "likert5"), ("/questions/0/key", 5), ("/questions/3/options", "a,b"),
                      ("/questions/4/max_choices", "2"), ("/questions/0/required", "yes"),
                      ("/questions/0/allow_not_used", 1), ("/questions/4/options/0", 7)]


def set_ptr(body, pointer, value):
    parts = pointer.strip("/").split("/")
    node = body
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return body


@pytest.mark.parametrize("pointer,value", SURVEY_INVALID + SURVEY_WRONG_TYPES,
                         ids=[f"{p}={json.dumps(v)[:20]}" for p, v in SURVEY_INVALID + SURVEY_WRONG_TYPES])
def test_survey_values_are_422(world, unchanged, pointer, value):
    body = set_ptr(survey_body(world["P1"]), pointer, value)
    with unchanged():
        expect(world["c"]["coordinator"].post("/v1/surveys", body), 422, pointer)


@pytest.mark.parametrize("field", ["programme_id", "title", "phase", "audience", "opens_on", "closes_on",
                                   "questions"])
def test_survey_required_fields(world, unchanged, field):
    body = survey_body(world["P1"])
    del body[field]
    with unchanged():
        expect(world["c"]["coordinator"].post("/v1/surveys", body), 422, f"/{field}")


def test_closes_before_opens_is_422(world, unchanged):
    with unchanged():
        expect(world["c"]["coordinator"].post("/v1/surveys", survey_body(world["P1"], opens_on=day(5),
                                                                           closes_on=day(4))), 422, "/closes_on")


def test_programme_outside_the_claim_is_422(world, unchanged):
    c = world["c"]["coordinator"]
    with unchanged():
        expect(c.post("/v1/surveys", survey_body(world["P2"])), 422, "/programme_id")
        expect(c.post("/v1/surveys", survey_body(str(uuid.uuid4()))), 422, "/programme_id")


def test_every_error_at_once(world, unchanged):
    body = survey_body(world["P1"], phase="middle", title="")
    body["questions"][3]["options"] = ["a"]
    body["questions"][4]["max_choices"] = 9
    with unchanged():
        r = world["c"]["coordinator"].post("/v1/surveys", body)
        for p in ("/phase", "/title", "/questions/3/options", "/questions/4/max_choices"):
            expect(r, 422, p)


def test_a_window_of_one_day(world):
    c = world["c"]["coordinator"]
    s = new_survey(c, world["P1"], opens_on=day(0), closes_on=day(0))
    expect(answer(world["c"]["mentor"], s["id"], {"must": "no"}), 201)


# --------------------------------------------------------------------------- listing surveys

def test_list_filters_and_audience(world, coord):
    c = world["c"]["coordinator"]
    prog = expect(coord.post("/v1/programmes", {"name": unique("P")}), 201)["id"]
    made = {aud: new_survey(coord, world["P1"], audience=aud, phase="interim") for aud in ("mentors", "mentees", "both")}
    other = new_survey(coord, prog, phase="interim")
    seen = {s["id"] for s in c.walk("/v1/surveys", params={"phase": "interim"})}
    assert {s["id"] for s in made.values()} <= seen and other["id"] not in seen
    mentor = {s["id"] for s in world["c"]["mentor"].walk("/v1/surveys")}
    mentee = {s["id"] for s in world["c"]["mentee"].walk("/v1/surveys")}
    assert made["mentors"]["id"] in mentor and made["both"]["id"] in mentor and made["mentees"]["id"] not in mentor
    assert made["mentees"]["id"] in mentee and made["both"]["id"] in mentee and made["mentors"]["id"] not in mentee
    # ... but the survey of the other side can be read by id
    expect(world["c"]["mentor"].get(f"/v1/surveys/{made['mentees']['id']}"), 200)
    everything = {s["id"] for s in coord.walk("/v1/surveys", params={"programme_id": prog})}
    assert everything == {other["id"]}
    assert all(s["phase"] == "post" for s in coord.walk("/v1/surveys", params={"phase": "post"}))


def test_list_updated_since_and_paging(world, coord, make):
    s = new_survey(coord, world["P1"], phase="follow_up")
    make.backdate("surveys", s["id"], "2001-01-01T00:00:00Z")
    recent = {x["id"] for x in coord.walk("/v1/surveys", params={"updated_since": "2010-01-01T00:00:00Z"})}
    assert s["id"] not in recent
    old = {x["id"] for x in coord.walk("/v1/surveys", params={"updated_since": "2000-12-31T00:00:00Z"})}
    assert s["id"] in old
    page1 = expect(coord.get("/v1/surveys", params={"limit": 1}), 200)
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    page2 = expect(coord.get("/v1/surveys", params={"limit": 1, "cursor": page1["next_cursor"]}), 200)
    assert page2["items"][0]["id"] != page1["items"][0]["id"]


@pytest.mark.parametrize("params", [{"phase": "middle"}, {"programme_id": "x"}, {"updated_since": "yesterday"},
                                    {"limit": 0}, {"limit": "ten"}, {"cursor": "forged"}, {"audience": "both"},
                                    {"colour": "red"}])
def test_list_bad_query_is_400(world, params):
    expect(world["c"]["coordinator"].get("/v1/surveys", params=params), 400)


# --------------------------------------------------------------------------- changing and deleting

def test_patch_unanswered_survey(world):
    c = world["c"]["coordinator"]
    s = new_survey(c, world["P1"])
    r = c.get(f"/v1/surveys/{s['id']}")
    qs = [{"key": "only", "text": "Just this", "type": "scale10", "required": True}]
    changed = expect(c.patch(f"/v1/surveys/{s['id']}", {"questions": qs, "phase": "post", "audience": "mentees",
                                                          "title": "New title"},
                             headers={"If-Match": r.headers["ETag"]}), 200)
    assert changed["questions"] == [canonical(qs[0])]
    assert (changed["phase"], changed["audience"], changed["title"]) == ("post", "mentees", "New title")
    assert changed["updated_at"] > s["updated_at"]


def test_patch_if_match_and_values(world, unchanged):
    c = world["c"]["coordinator"]
    s = new_survey(c, world["P1"])
    path = f"/v1/surveys/{s['id']}"
    with unchanged():
        expect(c.patch(path, {"title": "x"}, headers={"If-Match": '"0000000000000000"'}), 412)
        expect(c.patch(path, {"closes_on": day(-31)}), 422, "/closes_on")
        expect(c.patch(path, {"title": None}), 422, "/title")
        expect(c.patch(path, {"questions": None}), 422, "/questions")
        expect(c.patch(path, {"programme_id": world["P2"]}), 422, "/programme_id")
        expect(c.patch(path, {"frozen": True}), 422, "/frozen")
        expect(c.patch(path, {"questions": [{"key": "a", "text": "A", "type": "single_choice"}]}), 422,
               "/questions/0/options")
        expect(c.patch(path, {"colour": "red"}), 400, "/colour")
        expect(c.patch(path, {"questions": [{"key": "a", "text": "A", "type": "text", "hint": "x"}]}), 400,
               "/questions/0/hint")


def test_delete_unanswered_survey(world):
    c = world["c"]["coordinator"]
    s = new_survey(c, world["P1"])
    expect(c.delete(f"/v1/surveys/{s['id']}", headers={"If-Match": '"0000000000000000"'}), 412)
    expect(c.delete(f"/v1/surveys/{s['id']}"), 204)
    expect(c.get(f"/v1/surveys/{s['id']}"), 404)
    expect(c.delete(f"/v1/surveys/{s['id']}"), 404)


def test_frozen_instrument(world, unchanged):
    c = world["c"]["coordinator"]
    s = new_survey(c, world["P1"])
    path = f"/v1/surveys/{s['id']}"
    before = c.get(path)
    expect(answer(world["c"]["mentor"], s["id"], {"must": "yes"}), 201)
    after = c.get(path)
    frozen = expect(after, 200)
    assert frozen["frozen"] is True
    assert frozen["updated_at"] > s["updated_at"] and after.headers["ETag"] != before.headers["ETag"]
    changed_questions = copy.deepcopy(frozen["questions"])
    changed_questions[0]["text"] = "Reworded"
    with unchanged():
        for change in ({"questions": changed_questions}, {"questions": frozen["questions"][:1]},
                       {"phase": "post"}, {"audience": "mentors"}, {"opens_on": day(-29)},
                       {"phase": "post", "title": "also a title"}):
            r = c.patch(path, change)
            expect(r, 409)
            assert "responses" in r.json()["detail"]
        expect(c.delete(path), 409)
    # the window and the title may still change; the instrument sent back unchanged is no change
    done = expect(c.patch(path, {"title": "Renamed", "closes_on": day(40), "questions": frozen["questions"],
                                 "phase": "pre", "audience": "both", "opens_on": frozen["opens_on"]}), 200)
    assert (done["title"], done["closes_on"], done["frozen"]) == ("Renamed", day(40), True)
    assert done["questions"] == frozen["questions"]


def test_delete_query_parameter_is_400(world, unchanged):
    s = world["open"]
    with unchanged():
        expect(world["c"]["coordinator"].delete(f"/v1/surveys/{s['id']}", params={"force": "1"}), 400)


# --------------------------------------------------------------------------- answering

@pytest.mark.parametrize("key", [k for k in VALID_ANSWERS])
def test_each_type_accepts_its_values(world, coord, key):
    s = new_survey(coord, world["P1"])
    r = answer(world["c"]["mentee"], s["id"], {key: VALID_ANSWERS[key], "must": "no"} if key != "must" else
               {"must": "no"})
    got = expect(r, 201)
    assert r.headers["Location"] == f"/v1/surveys/{s['id']}/responses/mine"
    assert got["respondent_id"] == world["E1"] and got["survey_id"] == s["id"]
    assert got["answers"] == ({key: VALID_ANSWERS[key], "must": "no"} if key != "must" else {"must": "no"})


def test_all_answers_at_once_and_nulls_are_unanswered(world, coord, psql):
    s = new_survey(coord, world["P1"])
    answers = dict(VALID_ANSWERS, number=None, text=None)
    got = expect(answer(world["c"]["mentor"], s["id"], answers), 201)
    assert got["answers"] == {k: v for k, v in answers.items() if v is not None}
    stored = psql("SELECT answers::text FROM survey_responses WHERE id = %s", got["id"])[0][0]
    assert json.loads(stored) == got["answers"]


BOUNDARIES = [("likert", 1), ("likert", 5), ("likert_strict", 1), ("scale", 1), ("scale", 10), ("multi", ["c"]),
              ("multi", ["d", "a"]), ("number", -3), ("number", 0), ("number", 1e15), ("number", 12345678901),
              ("text", "é" * 4000), ("text", "x"), ("date", "2024-02-29"), ("ysn", "no"), ("single", "a")]


@pytest.mark.parametrize("key,value", BOUNDARIES, ids=[f"{k}={json.dumps(v)[:16]}" for k, v in BOUNDARIES])
def test_boundary_values_accepted(world, coord, key, value):
    s = new_survey(coord, world["P1"])
    got = expect(answer(world["c"]["mentor"], s["id"], {key: value, "must": "yes"}), 201)
    assert got["answers"][key] == value


ANSWER_INVALID = [
    ("likert", 0), ("likert", 6), ("likert", 2.5), ("likert", "3"), ("likert", True), ("likert", ["1"]),
    ("likert", "not used"), ("likert_strict", "not_used"), ("likert", 3.0),
    ("scale", 0), ("scale", 11), ("scale", 5.5), ("scale", "7"), ("scale", "not_used"),
    ("single", "d"), ("single", 1), ("single", ["a"]), ("single", "A"), ("single", ""),
    ("multi", []), ("multi", ["a", "b", "c"]), ("multi", "a"), ("multi", {"a": True}),
    ("ysn", "maybe"), ("ysn", "Yes"), ("ysn", True), ("ysn", 1),
    ("number", "5"), ("number", True), ("number", [1]), ("number", {"v": 1}),
    ("date", "2022-02-30"), ("date", "2022-6-1"), ("date", 20220601), ("date", "2022-06-01T00:00:00Z"),
    ("text", ""), ("text", "x" * 4001), ("text", 5), ("text", ["x"]),
    ("must", "maybe"),
]


@pytest.mark.parametrize("key,value", ANSWER_INVALID, ids=[f"{k}={json.dumps(v)[:16]}" for k, v in ANSWER_INVALID])
def test_each_type_refuses_other_values(world, unchanged, key, value):
    answers = dict(VALID_ANSWERS)
    answers[key] = value
    with unchanged():
        r = answer(world["c"]["mentor"], world["open"]["id"], answers)
        expect(r, 422, f"/answers/{key}")
        assert len(r.json()["errors"]) == 1, r.text


MULTI_ITEM_INVALID = [(["a", "a"], "/answers/multi/1"), (["z"], "/answers/multi/0"), ([1], "/answers/multi/0"),
                      (["a", None], "/answers/multi/1"), (["b", "B"], "/answers/multi/1")]


@pytest.mark.parametrize("value,pointer", MULTI_ITEM_INVALID, ids=[p for _, p in MULTI_ITEM_INVALID])
def test_multi_choice_items(world, unchanged, value, pointer):
    with unchanged():
        expect(answer(world["c"]["mentor"], world["open"]["id"], dict(VALID_ANSWERS, multi=value)), 422, pointer)


@pytest.mark.parametrize("answers", [{}, {"must": None}, {"likert": 3}], ids=["empty", "null", "others"])
def test_required_question(world, unchanged, answers):
    with unchanged():
        expect(answer(world["c"]["mentor"], world["open"]["id"], answers), 422, "/answers/must")


@pytest.mark.parametrize("key,pointer", [("nope", "/answers/nope"), ("a/b", "/answers/a~1b"),
                                         ("a~b", "/answers/a~0b"), ("", "/answers/"), ("MUST", "/answers/MUST")])
def test_unknown_question_key_is_422_naming_it(world, unchanged, key, pointer):
    with unchanged():
        r = answer(world["c"]["mentor"], world["open"]["id"], dict(VALID_ANSWERS, **{key: "yes"}))
        expect(r, 422, pointer)


def test_every_answer_error_at_once(world, unchanged):
    with unchanged():
        r = answer(world["c"]["mentor"], world["open"]["id"], {"likert": 9, "scale": 0, "nope": 1, "multi": ["a", "a"]})
        for p in ("/answers/likert", "/answers/scale", "/answers/nope", "/answers/multi/1", "/answers/must"):
            expect(r, 422, p)


RESPONSE_BODY_INVALID = [({}, 422, "/answers"), ({"answers": "yes"}, 422, "/answers"),
                         ({"answers": None}, 422, "/answers"), ({"answers": ["must"]}, 422, "/answers"),
                         ({"answers": {"must": "yes"}, "respondent_id": str(uuid.uuid4())}, 422, "/respondent_id"),
                         ({"answers": {"must": "yes"}, "survey_id": str(uuid.uuid4())}, 422, "/survey_id"),
                         ({"answers": {"must": "yes"}, "note": "x"}, 400, "/note")]


@pytest.mark.parametrize("body,status,pointer", RESPONSE_BODY_INVALID, ids=[f"{s}{p}#{i}" for i, (_, s, p) in
                                                                             enumerate(RESPONSE_BODY_INVALID)])
def test_response_body(world, unchanged, body, status, pointer):
    with unchanged():
        expect(world["c"]["mentor"].post(f"/v1/surveys/{world['open']['id']}/responses", body), status, pointer)


def test_second_response_is_409(world, coord, unchanged):
    s = new_survey(coord, world["P1"])
    expect(answer(world["c"]["mentor"], s["id"], {"must": "yes"}), 201)
    with unchanged():
        r = answer(world["c"]["mentor"], s["id"], {"must": "no"})
        expect(r, 409)
        assert "responses/mine" in r.json()["detail"]
        # even with answers that are not valid: the duplicate is the problem
        expect(answer(world["c"]["mentor"], s["id"], {"nope": 1}), 409)


@pytest.mark.parametrize("opens,closes", [(1, 10), (-10, -1), (-400, -365)], ids=["not yet", "closed", "long ago"])
def test_outside_the_window_is_409_naming_it(world, coord, unchanged, opens, closes):
    s = new_survey(coord, world["P1"], opens_on=day(opens), closes_on=day(closes))
    with unchanged():
        r = answer(world["c"]["mentee"], s["id"], dict(VALID_ANSWERS))
        expect(r, 409)
        detail = r.json()["detail"]
        assert day(opens) in detail and day(closes) in detail and day(0) in detail, detail


def test_wrong_audience_is_403(world, coord, unchanged):
    mentors = new_survey(coord, world["P1"], audience="mentors")
    mentees = new_survey(coord, world["P1"], audience="mentees")
    with unchanged():
        r = answer(world["c"]["mentee"], mentors["id"], {"must": "yes"})
        expect(r, 403)
        assert "mentors" in r.json()["detail"]
        expect(answer(world["c"]["mentor"], mentees["id"], {"must": "yes"}), 403)
    expect(answer(world["c"]["mentor"], mentors["id"], {"must": "yes"}), 201)
    expect(answer(world["c"]["mentee"], mentees["id"], {"must": "yes"}), 201)


def test_withdrawn_participant_is_403(world, unchanged):
    with unchanged():
        r = answer(world["w1"], world["open"]["id"], {"must": "yes"})
        expect(r, 403)
        assert "withdrawn" in r.json()["detail"]


def test_participant_of_another_programme_gets_404(world, unchanged):
    with unchanged():
        expect(answer(world["m2"], world["open"]["id"], {"must": "yes"}), 404)
        expect(world["m2"].get(f"/v1/surveys/{world['open']['id']}"), 404)
        expect(answer(world["c"]["mentor"], str(uuid.uuid4()), {"must": "yes"}), 404)
        expect(answer(world["c"]["mentor"], "not-a-uuid", {"must": "yes"}), 404)


def test_role_of_the_token_must_be_the_participants_kind(world, client, tokens, unchanged):
    """A token claiming role mentee for a mentor's id sees nothing of the programme."""
    c = client(tokens("mentee", sub=world["M1"], prg=[world["P1"]]))
    with unchanged():
        expect(answer(c, world["open"]["id"], {"must": "yes"}), 404)


# --------------------------------------------------------------------------- my response

def test_mine_get_and_put(world, coord, unchanged):
    s = new_survey(coord, world["P1"])
    me = world["c"]["mentee"]
    mine = f"/v1/surveys/{s['id']}/responses/mine"
    with unchanged():
        expect(me.get(mine), 404)
        expect(me.put(mine, {"answers": {"must": "yes"}}), 404)
    r = answer(me, s["id"], {"must": "yes", "likert": 2, "text": "first"})
    first = expect(r, 201)
    got = me.get(mine)
    assert expect(got, 200) == first and got.headers["ETag"] == r.headers["ETag"]
    expect(me.get(mine, headers={"If-None-Match": r.headers["ETag"]}), 304)
    expect(world["c"]["mentor"].get(mine), 404)  # someone else has none
    with unchanged():
        expect(me.put(mine, {"answers": {"must": "no"}}, headers={"If-Match": '"0000000000000000"'}), 412)
        expect(me.put(mine, {"answers": {"must": "no", "scale": 11}}, headers={"If-Match": r.headers["ETag"]}),
               422, "/answers/scale")
        expect(me.put(mine, {"answers": {}}), 422, "/answers/must")
    put = me.put(mine, {"answers": {"must": "no", "multi": ["b"]}}, headers={"If-Match": r.headers["ETag"]})
    second = expect(put, 200)
    assert second["answers"] == {"must": "no", "multi": ["b"]}  # replaced, not merged
    assert second["id"] == first["id"] and second["created_at"] == first["created_at"]
    assert second["updated_at"] > first["updated_at"]
    assert put.headers["ETag"] != r.headers["ETag"]
    with unchanged():
        expect(me.put(mine, {"answers": {"must": "yes"}}, headers={"If-Match": r.headers["ETag"]}), 412)


def test_put_after_the_window_closed_is_409(world, coord, unchanged):
    s = new_survey(coord, world["P1"])
    me = world["c"]["mentor"]
    expect(answer(me, s["id"], {"must": "yes"}), 201)
    # a frozen survey's closing date may still change: the coordinator closes it early
    expect(coord.patch(f"/v1/surveys/{s['id']}", {"closes_on": day(-1)}), 200)
    with unchanged():
        expect(me.put(f"/v1/surveys/{s['id']}/responses/mine", {"answers": {"must": "no"}}), 409)
        expect(answer(world["c"]["mentee"], s["id"], {"must": "no"}), 409)


def test_put_by_another_audience_is_403(world, coord, unchanged):
    s = new_survey(coord, world["P1"], audience="mentors")
    with unchanged():
        expect(world["c"]["mentee"].put(f"/v1/surveys/{s['id']}/responses/mine", {"answers": {"must": "no"}}), 403)


# --------------------------------------------------------------------------- who sees which responses

@pytest.fixture(scope="module")
def answered(world, coord, make):
    """A survey answered by M1 (research consent), E1 (no consent) and a consenting mentee."""
    s = new_survey(coord, world["P1"])
    e3 = make.participant(world["P1"], kind="mentee", status="waiting",
                          consent={"data_processing": True, "research": True})["id"]
    full = dict(VALID_ANSWERS)
    r = {"M1": expect(answer(world["c"]["mentor"], s["id"], full), 201),
         "E1": expect(answer(world["c"]["mentee"], s["id"], {"must": "no", "text": "secret"}), 201)}
    return {"survey": s, "responses": r, "E3": e3}


def test_coordinator_reads_every_response(world, answered):
    items = world["c"]["coordinator"].walk(f"/v1/surveys/{answered['survey']['id']}/responses")
    assert {i["respondent_id"] for i in items} == {world["M1"], world["E1"]}
    assert {i["id"]: i for i in items} == {v["id"]: v for v in answered["responses"].values()}


def test_participant_reads_only_their_own(world, answered):
    items = world["c"]["mentee"].walk(f"/v1/surveys/{answered['survey']['id']}/responses")
    assert items == [answered["responses"]["E1"]]


def test_researcher_reads_pseudonymised_responses(world, answered):
    sid = answered["survey"]["id"]
    items = world["c"]["researcher"].walk(f"/v1/surveys/{sid}/responses")
    # only M1 consented to research; E1 did not
    assert len(items) == 1
    item = items[0]
    assert set(item) == {"survey_id", "respondent_id", "answers", "submitted_month"}
    assert item["respondent_id"] == pseudonym(DEV_EXPORT_KEY, world["M1"])
    expected = {k: v for k, v in VALID_ANSWERS.items() if k != "text"}
    expected["date"] = VALID_ANSWERS["date"][:7]
    assert item["answers"] == expected
    assert item["submitted_month"] == answered["responses"]["M1"]["created_at"][:7]
    text = json.dumps(items)
    assert world["M1"] not in text and "Thank you" not in text and answered["responses"]["M1"]["id"] not in text


def test_researcher_pseudonym_joins_the_participants_export(world, answered):
    r = world["c"]["researcher"].get("/v1/exports/participants", params={"programme_id": world["P1"]},
                                     headers={"Accept": "application/x-ndjson"})
    expect(r, 200)
    exported = {json.loads(line)["participant_id"] for line in r.text.splitlines() if line}
    items = world["c"]["researcher"].walk(f"/v1/surveys/{answered['survey']['id']}/responses")
    assert {i["respondent_id"] for i in items} <= exported


def test_responses_paging_and_scope_bound_cursor(world, answered):
    c = world["c"]["coordinator"]
    sid = answered["survey"]["id"]
    page = expect(c.get(f"/v1/surveys/{sid}/responses", params={"limit": 1}), 200)
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = expect(c.get(f"/v1/surveys/{sid}/responses", params={"limit": 1, "cursor": page["next_cursor"]}), 200)
    assert rest["items"][0]["id"] != page["items"][0]["id"]
    expect(c.get(f"/v1/surveys/{world['open']['id']}/responses", params={"cursor": page["next_cursor"]}), 400)
    r = world["c"]["researcher"].get(f"/v1/surveys/{sid}/responses", params={"limit": 1})
    assert expect(r, 200)["next_cursor"] is None


@pytest.mark.parametrize("params", [{"updated_since": "x"}, {"limit": 500}, {"respondent_id": "x"}])
def test_responses_bad_query_is_400(world, answered, params):
    expect(world["c"]["coordinator"].get(f"/v1/surveys/{answered['survey']['id']}/responses", params=params), 400)


def test_responses_updated_since(world, answered):
    c = world["c"]["coordinator"]
    sid = answered["survey"]["id"]
    assert c.walk(f"/v1/surveys/{sid}/responses", params={"updated_since": "2999-01-01T00:00:00Z"}) == []
    assert len(c.walk(f"/v1/surveys/{sid}/responses", params={"updated_since": "2000-01-01T00:00:00Z"})) == 2


# --------------------------------------------------------------------------- the role matrix

READERS = {"coordinator", "coach", "researcher", "mentor", "mentee"}


@pytest.fixture(scope="module")
def foreign(coord, world):
    """A survey in P2, answered by its mentor."""
    s = new_survey(coord, world["P2"])
    expect(answer(world["m2"], s["id"], {"must": "yes"}), 201)
    return s


@pytest.mark.parametrize("role", ROLES)
def test_roles_list(world, foreign, role):
    c = world["c"][role]
    if role not in READERS:
        expect(c.get("/v1/surveys"), 403)
        return
    seen = {s["id"] for s in c.walk("/v1/surveys")}
    assert world["open"]["id"] in seen and foreign["id"] not in seen
    assert {s["programme_id"] for s in c.walk("/v1/surveys")} == {world["P1"]}


@pytest.mark.parametrize("role", ROLES)
def test_roles_get(world, foreign, role):
    c = world["c"][role]
    own, other = f"/v1/surveys/{world['open']['id']}", f"/v1/surveys/{foreign['id']}"
    if role not in READERS:
        expect(c.get(own), 403)
        expect(c.get(other), 403)
        return
    expect(c.get(own), 200)
    expect(c.get(other), 404)


@pytest.mark.parametrize("role", ROLES)
def test_roles_create(world, role, unchanged):
    c = world["c"][role]
    if role == "coordinator":
        expect(c.post("/v1/surveys", survey_body(world["P1"])), 201)
        with unchanged():
            expect(c.post("/v1/surveys", survey_body(world["P2"])), 422, "/programme_id")
        return
    with unchanged():
        expect(c.post("/v1/surveys", survey_body(world["P1"])), 403)
        expect(c.post("/v1/surveys", survey_body(world["P2"])), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_patch(world, foreign, coord, role, unchanged):
    c = world["c"][role]
    own = new_survey(coord, world["P1"])
    if role == "coordinator":
        expect(c.patch(f"/v1/surveys/{own['id']}", {"title": "Changed"}), 200)
        with unchanged():
            expect(c.patch(f"/v1/surveys/{foreign['id']}", {"title": "Changed"}), 404)
        return
    with unchanged():
        expect(c.patch(f"/v1/surveys/{own['id']}", {"title": "Changed"}), 403)
        expect(c.patch(f"/v1/surveys/{foreign['id']}", {"title": "Changed"}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_delete(world, foreign, coord, role, unchanged):
    c = world["c"][role]
    own = new_survey(coord, world["P1"])
    other = new_survey(coord, world["P2"])
    if role == "coordinator":
        expect(c.delete(f"/v1/surveys/{own['id']}"), 204)
        with unchanged():
            expect(c.delete(f"/v1/surveys/{other['id']}"), 404)
        return
    with unchanged():
        expect(c.delete(f"/v1/surveys/{own['id']}"), 403)
        expect(c.delete(f"/v1/surveys/{other['id']}"), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_list_responses(world, foreign, answered, role):
    c = world["c"][role]
    own, other = f"/v1/surveys/{answered['survey']['id']}/responses", f"/v1/surveys/{foreign['id']}/responses"
    if role in ("coach", "integration"):
        expect(c.get(own), 403)
        expect(c.get(other), 403)
        return
    items = c.walk(own)
    assert len(items) == {"coordinator": 2, "researcher": 1, "mentor": 1, "mentee": 1}[role]
    expect(c.get(other), 404)


@pytest.mark.parametrize("role", ROLES)
def test_roles_answer(world, foreign, coord, role, unchanged):
    c = world["c"][role]
    own = new_survey(coord, world["P1"])
    if role in ("mentor", "mentee"):
        expect(answer(c, own["id"], {"must": "yes"}), 201)
        with unchanged():
            expect(answer(c, foreign["id"], {"must": "yes"}), 404)
        return
    with unchanged():
        expect(answer(c, own["id"], {"must": "yes"}), 403)
        expect(answer(c, foreign["id"], {"must": "yes"}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_mine(world, foreign, answered, role, unchanged):
    c = world["c"][role]
    own = f"/v1/surveys/{answered['survey']['id']}/responses/mine"
    other = f"/v1/surveys/{foreign['id']}/responses/mine"
    if role in ("mentor", "mentee"):
        got = expect(c.get(own), 200)
        assert got["respondent_id"] == world["M1" if role == "mentor" else "E1"]
        expect(c.put(own, {"answers": got["answers"]}), 200)
        with unchanged():
            expect(c.get(other), 404)
            expect(c.put(other, {"answers": {"must": "yes"}}), 404)
        return
    with unchanged():
        for path in (own, other):
            expect(c.get(path), 403)
            expect(c.put(path, {"answers": {"must": "yes"}}), 403)


@pytest.mark.parametrize("role", ROLES)
def test_roles_results(world, foreign, answered, role):
    c = world["c"][role]
    own, other = f"/v1/surveys/{answered['survey']['id']}/results", f"/v1/surveys/{foreign['id']}/results"
    if role in ("coordinator", "coach", "researcher"):
        expect(c.get(own), 200)
        expect(c.get(other), 404)
        return
    expect(c.get(own), 403)
    expect(c.get(other), 403)


def test_organisation_wide_coordinator_sees_every_programme(world, foreign, coord):
    expect(coord.get(f"/v1/surveys/{foreign['id']}"), 200)
    assert len(coord.walk(f"/v1/surveys/{foreign['id']}/responses")) == 1


# --------------------------------------------------------------------------- bad input on every write route

class W:
    def __init__(self, name, method, path, body, who, merge=False):
        self.name, self.method, self.path, self.body, self.who, self.merge = name, method, path, body, who, merge


@pytest.fixture(scope="module")
def targets(world, coord):
    s = new_survey(coord, world["P1"])
    mine = new_survey(coord, world["P1"])
    expect(answer(world["c"]["mentee"], mine["id"], {"must": "yes"}), 201)
    return {"survey": s, "mine": mine}


WRITES = [
    W("POST /v1/surveys", "POST", lambda w, t: "/v1/surveys", lambda w, t: survey_body(w["P1"]), "coordinator"),
    W("PATCH /v1/surveys/{id}", "PATCH", lambda w, t: f"/v1/surveys/{t['survey']['id']}",
      lambda w, t: {"title": "x"}, "coordinator", merge=True),
    W("POST /v1/surveys/{id}/responses", "POST", lambda w, t: f"/v1/surveys/{t['survey']['id']}/responses",
      lambda w, t: {"answers": {"must": "yes"}}, "mentor"),
    W("PUT /v1/surveys/{id}/responses/mine", "PUT", lambda w, t: f"/v1/surveys/{t['mine']['id']}/responses/mine",
      lambda w, t: {"answers": {"must": "no"}}, "mentee"),
]
WRITE_IDS = [x.name for x in WRITES]
MALFORMED = [b'{"title": ', b"{'a': 1}", b'{"a":1,}', b'{"a":1}{"b":2}', b"[1, 2]", b'"x"', b"null", b"42",
             b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":"\xff"}', b""]


def send(world, ep, t, data, content_type="application/json"):
    c = world["c"][ep.who]
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": None}
    return c.request(ep.method, ep.path(world, t), data=data, headers=headers)


@pytest.mark.parametrize("ep", WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_json_is_400(world, targets, unchanged, ep, raw):
    with unchanged():
        expect(send(world, ep, targets, raw), 400)


@pytest.mark.parametrize("ep", WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", None, "application/jsonx"])
def test_wrong_content_type_is_415(world, targets, unchanged, ep, ctype):
    with unchanged():
        expect(send(world, ep, targets, json.dumps(ep.body(world, targets)).encode(), ctype), 415)


@pytest.mark.parametrize("ep", WRITES, ids=WRITE_IDS)
def test_merge_patch_content_type(world, targets, unchanged, ep):
    raw = json.dumps(ep.body(world, targets)).encode()
    if ep.merge:
        expect(send(world, ep, targets, raw, "application/merge-patch+json"), 200)
        return
    with unchanged():
        expect(send(world, ep, targets, raw, "application/merge-patch+json"), 415)


@pytest.mark.parametrize("ep", WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("field", ["colour", "Answers", "questions_v2"])
def test_unknown_field_is_400_naming_it(world, targets, unchanged, ep, field):
    body = ep.body(world, targets)
    body[field] = 1
    with unchanged():
        expect(send(world, ep, targets, json.dumps(body).encode()), 400, f"/{field}")


WRONG_TYPES = {
    "POST /v1/surveys": [("/title", 1), ("/questions", "q"), ("/opens_on", True), ("/audience", None)],
    "PATCH /v1/surveys/{id}": [("/title", 1), ("/questions", "q"), ("/opens_on", True), ("/closes_on", None)],
    "POST /v1/surveys/{id}/responses": [("/answers", "yes"), ("/answers", []), ("/answers/must", 1),
                                        ("/answers/must", ["yes"])],
    "PUT /v1/surveys/{id}/responses/mine": [("/answers", 1), ("/answers", None), ("/answers/must", True),
                                            ("/answers/must", {"v": "yes"})],
}


@pytest.mark.parametrize("ep,pointer,value", [pytest.param(e, p, v, id=f"{e.name} {p}={json.dumps(v)}")
                                              for e in WRITES for p, v in WRONG_TYPES[e.name]])
def test_wrong_types_are_422_naming_the_field(world, targets, unchanged, ep, pointer, value):
    body = set_ptr(ep.body(world, targets), pointer, value)
    with unchanged():
        expect(send(world, ep, targets, json.dumps(body).encode()), 422, pointer)


@pytest.mark.parametrize("ep", WRITES, ids=WRITE_IDS)
def test_query_parameters_on_writes_are_400(world, targets, unchanged, ep):
    c = world["c"][ep.who]
    with unchanged():
        expect(c.request(ep.method, ep.path(world, targets), json_body=ep.body(world, targets),
                         params={"dry_run": "1"}), 400)


@pytest.mark.parametrize("path", ["/v1/surveys/{s}", "/v1/surveys/{s}/responses", "/v1/surveys/{s}/results"])
def test_unknown_query_parameter_on_reads_is_400(world, path):
    expect(world["c"]["coordinator"].get(path.format(s=world["open"]["id"]), params={"x": "1"}), 400)


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_survey_id_is_404(world, bad):
    c = world["c"]["coordinator"]
    for path in (f"/v1/surveys/{bad}", f"/v1/surveys/{bad}/responses", f"/v1/surveys/{bad}/results"):
        expect(c.get(path), 404)
    expect(c.patch(f"/v1/surveys/{bad}", {"title": "x"}), 404)
    expect(c.delete(f"/v1/surveys/{bad}"), 404)
    me = world["c"]["mentor"]
    expect(me.get(f"/v1/surveys/{bad}/responses/mine"), 404)
    expect(me.put(f"/v1/surveys/{bad}/responses/mine", {"answers": {}}), 404)


@pytest.mark.parametrize("payload", ["'; DROP TABLE surveys; --", "$1 $$ :'p0'", "ünïcødé ‘quotes’ — 🚀"])
def test_hostile_strings_stored_verbatim(world, coord, psql, payload):
    body = survey_body(world["P1"], title=payload)
    body["questions"][3]["options"] = [payload, "b"]
    s = new_survey(coord, world["P1"], title=payload, questions=body["questions"])
    assert s["title"] == payload
    assert psql("SELECT title FROM surveys WHERE id = %s", s["id"]) == [(payload,)]
    got = expect(answer(world["c"]["mentor"], s["id"], {"must": "yes", "single": payload, "text": payload}), 201)
    assert got["answers"]["single"] == payload and got["answers"]["text"] == payload
