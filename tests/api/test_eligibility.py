"""Screening (issue 6, part 1): the programme's eligibility rules, the
participant's screening fields (birth_year, work_permit, employment,
rejection, certificates), GET /v1/participants/{id}/eligibility, the gate
on entering `waiting` with its audited override, rejection with referral
and its list filter, POST /v1/participants/{id}/certificates, and the
certificate rule on pair proposals.

Expected results are computed here from what the tests send (dates from
today in UTC); nothing is read back from the service to decide what is
right."""
import datetime
import uuid

import pytest

from conftest import expect, unique
from pairhelpers import Cohort, problem_detail

TODAY = datetime.datetime.now(datetime.timezone.utc).date()
YEAR = TODAY.year


def day(offset):
    return (TODAY + datetime.timedelta(days=offset)).isoformat()


def years_ago(n, extra_days=0):
    """The same calendar day n years ago (28 February for 29 February), minus extra_days."""
    try:
        d = TODAY.replace(year=TODAY.year - n)
    except ValueError:
        d = TODAY.replace(year=TODAY.year - n, day=28)
    return (d - datetime.timedelta(days=extra_days)).isoformat()


MENTEE_RULES = {"max_years_since_arrival": 6, "min_language": {"code": "nl", "level": "B1"},
                "required_fields": ["job_target", "work_permit"]}
MENTOR_RULES = {"min_years_experience": 5, "min_age": 25, "working_or_recently_retired": True,
                "required_certificates": ["work_mentor"]}
EMPTY = {"mentee": {"max_years_since_arrival": None, "min_language": None, "required_fields": []},
         "mentor": {"min_years_experience": None, "min_age": None, "working_or_recently_retired": False,
                    "required_certificates": []}}


def results(client, pid):
    body = expect(client.get(f"/v1/participants/{pid}/eligibility"), 200)
    return body, {r["rule"]: r["result"] for r in body["rules"]}


def override_rows(psql, pid):
    return psql("SELECT actor, actor_role, array_to_string(changed_fields, ','), reason FROM audit_log "
                "WHERE entity = 'eligibility_overrides' AND entity_id = %s ORDER BY id", pid)


@pytest.fixture(scope="module")
def world(make, client, tokens):
    """One programme with every rule configured, one without rules, a referral partner."""
    w = {}
    w["P"] = make.programme(rules={"eligibility": {"mentee": MENTEE_RULES, "mentor": MENTOR_RULES}})
    w["Q"] = make.programme()
    w["referral"] = make.partner(kind="referral")["id"]
    w["trainer"] = make.partner(kind="training")["id"]
    w["coord"] = client(tokens("coordinator", prg=[w["P"]["id"]]))
    w["coach"] = client(tokens("coach", prg=[w["P"]["id"]]))
    w["other_coord"] = client(tokens("coordinator", prg=[w["Q"]["id"]]))
    w["client"], w["tokens"] = client, tokens
    return w


def mentor(make, w, **kw):
    body = dict(status="screened", years_experience=10, birth_year=YEAR - 40,
                employment={"status": "working"})
    body.update(kw)
    return make.participant(w["P"]["id"], kind="mentor", **body)


def mentee(make, w, **kw):
    body = dict(status="screened", arrival_on=years_ago(2), languages=[{"code": "nl", "level": "B2"}],
                job_target="Accountant", work_permit=True)
    body.update(kw)
    return make.participant(w["P"]["id"], kind="mentee", **body)


# --------------------------------------------------------------------------- programme rules

def test_programme_rules_default_to_nothing_configured(make):
    p = make.programme()
    assert p["rules"]["eligibility"] == EMPTY


def test_programme_rules_round_trip_and_merge(coord, make):
    p = make.programme(rules={"eligibility": {"mentor": {"min_age": 25}}})
    e = p["rules"]["eligibility"]
    assert e["mentor"] == dict(EMPTY["mentor"], min_age=25) and e["mentee"] == EMPTY["mentee"]
    path = f"/v1/programmes/{p['id']}"
    q = expect(coord.patch(path, {"rules": {"eligibility": {"mentee": {"min_language": {"code": "nl", "level": "B1"}},
                                                            "mentor": {"required_certificates": ["work_mentor"]}}}}), 200)
    e = q["rules"]["eligibility"]
    assert e["mentor"]["min_age"] == 25 and e["mentor"]["required_certificates"] == ["work_mentor"]
    assert e["mentee"]["min_language"] == {"code": "nl", "level": "B1"}
    q = expect(coord.patch(path, {"rules": {"eligibility": {"mentor": {"min_age": None}}}}), 200)
    assert q["rules"]["eligibility"]["mentor"]["min_age"] is None
    assert q["rules"]["eligibility"]["mentor"]["required_certificates"] == ["work_mentor"]
    q = expect(coord.patch(path, {"rules": {"eligibility": None}}), 200)
    assert q["rules"]["eligibility"] == EMPTY
    assert q["rules"]["min_meetings"] == p["rules"]["min_meetings"]


@pytest.mark.parametrize("elig,pointer", [
    ({"mentor": {"min_age": 5}}, "/rules/eligibility/mentor/min_age"),
    ({"mentor": {"min_age": "25"}}, "/rules/eligibility/mentor/min_age"),
    ({"mentor": {"min_years_experience": -1}}, "/rules/eligibility/mentor/min_years_experience"),
    ({"mentor": {"working_or_recently_retired": "yes"}}, "/rules/eligibility/mentor/working_or_recently_retired"),
    ({"mentor": {"required_certificates": ["Work Mentor"]}}, "/rules/eligibility/mentor/required_certificates/0"),
    ({"mentor": {"required_certificates": ["a", "a"]}}, "/rules/eligibility/mentor/required_certificates/1"),
    ({"mentee": {"required_fields": ["shoe_size"]}}, "/rules/eligibility/mentee/required_fields/0"),
    ({"mentee": {"min_language": {"code": "xx", "level": "B1"}}}, "/rules/eligibility/mentee/min_language/code"),
    ({"mentee": {"min_language": {"code": "nl", "level": "D1"}}}, "/rules/eligibility/mentee/min_language/level"),
    ({"mentee": {"max_years_since_arrival": 101}}, "/rules/eligibility/mentee/max_years_since_arrival"),
    ({"mentee": "strict"}, "/rules/eligibility/mentee"),
])
def test_programme_rules_invalid_is_422(coord, make, unchanged, elig, pointer):
    p = make.programme()
    with unchanged():
        expect(coord.post("/v1/programmes", {"name": unique("p"), "rules": {"eligibility": elig}}), 422, pointer)
        expect(coord.patch(f"/v1/programmes/{p['id']}", {"rules": {"eligibility": elig}}), 422, pointer)


def test_programme_rules_half_language_and_unknown_field(coord, make, unchanged):
    p = make.programme()
    path = f"/v1/programmes/{p['id']}"
    with unchanged():
        expect(coord.patch(path, {"rules": {"eligibility": {"mentee": {"min_language": {"code": "nl"}}}}}), 422,
               "/rules/eligibility/mentee/min_language/level")
        expect(coord.post("/v1/programmes", {"name": unique("p"), "rules": {"eligibility": {
            "mentee": {"min_language": {"code": "nl"}}}}}), 422, "/rules/eligibility/mentee/min_language/level")
        expect(coord.patch(path, {"rules": {"eligibility": {"mentor": {"min_height": 180}}}}), 400,
               "/rules/eligibility/mentor/min_height")


# --------------------------------------------------------------------------- each rule: pass, fail, unknown

@pytest.mark.parametrize("kw,rule,result", [
    ({}, "max_years_since_arrival", "pass"),
    ({"arrival_on": years_ago(6)}, "max_years_since_arrival", "pass"),
    ({"arrival_on": years_ago(6, extra_days=1)}, "max_years_since_arrival", "fail"),
    ({"arrival_on": years_ago(10)}, "max_years_since_arrival", "fail"),
    ({"arrival_on": None}, "max_years_since_arrival", "unknown"),
    ({}, "min_language", "pass"),
    ({"languages": [{"code": "en", "level": "C2"}, {"code": "nl", "level": "B1"}]}, "min_language", "pass"),
    ({"languages": [{"code": "nl", "level": "A2"}]}, "min_language", "fail"),
    ({"languages": [{"code": "en", "level": "C2"}]}, "min_language", "fail"),
    ({"languages": []}, "min_language", "unknown"),
    ({}, "required_fields", "pass"),
    ({"job_target": None}, "required_fields", "fail"),
    ({"work_permit": False}, "required_fields", "fail"),
    ({"work_permit": None}, "required_fields", "fail"),
])
def test_mentee_rules(world, make, kw, rule, result):
    p = mentee(make, world, **kw)
    body, got = results(world["coord"], p["id"])
    assert set(got) == {"max_years_since_arrival", "min_language", "required_fields"}
    assert got[rule] == result, body
    assert all(r["reason"] for r in body["rules"])
    assert body["eligible"] == all(v == "pass" for v in got.values())


@pytest.mark.parametrize("kw,rule,result", [
    ({}, "min_years_experience", "pass"),
    ({"years_experience": 5}, "min_years_experience", "pass"),
    ({"years_experience": 4}, "min_years_experience", "fail"),
    ({"years_experience": None}, "min_years_experience", "unknown"),
    ({}, "min_age", "pass"),
    ({"birth_year": YEAR - 26}, "min_age", "pass"),
    ({"birth_year": YEAR - 25}, "min_age", "unknown"),  # 25 this year: the birthday is not known
    ({"birth_year": YEAR - 24}, "min_age", "fail"),
    ({"birth_year": None}, "min_age", "unknown"),
    ({}, "working_or_recently_retired", "pass"),
    ({"employment": {"status": "retired", "retired_on": day(-90)}}, "working_or_recently_retired", "pass"),
    ({"employment": {"status": "retired", "retired_on": years_ago(2)}}, "working_or_recently_retired", "fail"),
    ({"employment": {"status": "retired"}}, "working_or_recently_retired", "unknown"),
    ({"employment": {"status": "other"}}, "working_or_recently_retired", "fail"),
    ({"employment": None}, "working_or_recently_retired", "unknown"),
    ({}, "required_certificates", "fail"),
])
def test_mentor_rules(world, make, kw, rule, result):
    p = mentor(make, world, **kw)
    body, got = results(world["coord"], p["id"])
    assert [r["rule"] for r in body["rules"]] == ["min_years_experience", "min_age", "working_or_recently_retired",
                                                   "required_certificates"]
    assert got[rule] == result, body
    assert body["eligible"] is False  # no certificate yet


def test_certificate_validity_on_the_day(world, make, psql):
    cases = {  # (issued_on, expires_on) -> result
        (day(-400), None): "pass", (day(-400), day(0)): "pass", (day(-400), day(-1)): "fail",
        (day(1), None): "fail",  # issued tomorrow: not valid yet (only a training could date it so)
    }
    for (issued, expires), want in cases.items():
        p = mentor(make, world)
        psql("INSERT INTO certificates (participant_id, kind, issued_on, expires_on) VALUES (%s, 'work_mentor', %s, %s)",
             p["id"], issued, expires)
        psql("INSERT INTO certificates (participant_id, kind, issued_on) VALUES (%s, 'other_kind', %s)", p["id"], day(-5))
        body, got = results(world["coord"], p["id"])
        assert got["required_certificates"] == want, (issued, expires, body)
        assert body["eligible"] is (want == "pass")


def test_rules_not_configured_are_not_listed(world, make):
    p = make.participant(world["Q"]["id"], kind="mentor", status="screened")
    assert expect(world["other_coord"].get(f"/v1/participants/{p['id']}/eligibility"), 200) == \
        {"eligible": True, "rules": []}


# --------------------------------------------------------------------------- the gate and its override

def test_waiting_needs_eligibility_or_an_override(world, make, psql, unchanged):
    p = mentee(make, world, languages=[{"code": "nl", "level": "A2"}], arrival_on=None)
    path = f"/v1/participants/{p['id']}"
    with unchanged():
        r = world["coach"].patch(path, {"status": "waiting"})
        expect(r, 409, "/status")
    d = problem_detail(r)
    assert "min_language" in d and "max_years_since_arrival" in d and "required_fields" not in d
    assert override_rows(psql, p["id"]) == []
    # override_reason only with a change of status to waiting
    with unchanged():
        expect(world["coach"].patch(path, {"override_reason": "x"}), 422, "/override_reason")
        expect(world["coach"].patch(path, {"status": "withdrawn", "override_reason": "x"}), 422, "/override_reason")
        expect(world["coach"].patch(path, {"status": "waiting", "override_reason": ""}), 422, "/override_reason")
        expect(world["coach"].patch(path, {"status": "waiting", "override_reason": 7}), 422, "/override_reason")
    q = expect(world["coach"].patch(path, {"status": "waiting", "override_reason": "Language course starts next month"}), 200)
    assert q["status"] == "waiting" and "override_reason" not in q
    rows = override_rows(psql, p["id"])
    assert len(rows) == 1
    actor, role, fields, reason = rows[0]
    assert role == "coach" and fields == "max_years_since_arrival,min_language"
    assert reason == "Language course starts next month"
    with unchanged():  # already waiting: nothing to override
        expect(world["coach"].patch(path, {"status": "waiting", "override_reason": "again"}), 422, "/override_reason")


def test_an_eligible_participant_needs_no_override(world, make, psql):
    p = mentee(make, world)
    q = expect(world["coord"].patch(f"/v1/participants/{p['id']}", {"status": "waiting", "override_reason": "not needed"}), 200)
    assert q["status"] == "waiting"
    assert override_rows(psql, p["id"]) == []  # nothing was overridden


def test_creating_as_waiting_is_screened_too(world, make, psql, unchanged):
    body = {"programme_id": world["P"]["id"], "kind": "mentee", "given_name": "N", "family_name": unique("f"),
            "status": "waiting", "job_target": "Nurse", "work_permit": True,
            "languages": [{"code": "nl", "level": "C1"}]}
    with unchanged():
        r = world["coord"].post("/v1/participants", body)
        expect(r, 409, "/status")
    assert "max_years_since_arrival" in problem_detail(r)
    p = expect(world["coord"].post("/v1/participants", dict(body, override_reason="Arrival date on file at the PES")), 201)
    assert p["status"] == "waiting"
    assert [r[2] for r in override_rows(psql, p["id"])] == ["max_years_since_arrival"]


def test_back_to_waiting_from_a_pair_is_not_screening(world, make, psql):
    m = mentor(make, world)
    expect(world["coord"].post(f"/v1/participants/{m['id']}/certificates",
                               {"kind": "work_mentor", "issued_on": day(-30)}), 201)
    expect(world["coord"].patch(f"/v1/participants/{m['id']}", {"status": "waiting"}), 200)
    e = mentee(make, world, arrival_on=years_ago(9))
    expect(world["coord"].patch(f"/v1/participants/{e['id']}", {"status": "waiting", "override_reason": "ok"}), 200)
    pair = expect(world["coord"].post("/v1/pairs", {"mentor_id": m["id"], "mentee_id": e["id"]}), 201)
    # the mentee declines: back to waiting although a rule still fails, no new override
    expect(world["client"](make_token(world, e)).post(f"/v1/pairs/{pair['id']}/decline", {}), 200)
    assert psql("SELECT status FROM participants WHERE id = %s", e["id"])[0][0] == "waiting"
    assert len(override_rows(psql, e["id"])) == 1


def make_token(world, person):
    return world["tokens"](person["kind"], sub=person["id"], prg=[person["programme_id"]])


# --------------------------------------------------------------------------- rejection and referral

def test_rejection_needs_a_reason_and_lists_per_referral_partner(world, make, unchanged):
    coord = world["coord"]
    p = mentee(make, world, status="applied")
    path = f"/v1/participants/{p['id']}"
    with unchanged():
        expect(coord.patch(path, {"status": "rejected"}), 422, "/rejection/reason")
        expect(coord.patch(path, {"status": "rejected", "rejection": {"referred_to_partner_id": world["referral"]}}),
               422, "/rejection/reason")
        expect(coord.patch(path, {"status": "rejected", "rejection": {"reason": ""}}), 422, "/rejection/reason")
        expect(coord.patch(path, {"status": "rejected", "rejection": {"reason": "x", "referred_to_partner_id": str(uuid.uuid4())}}),
               422, "/rejection/referred_to_partner_id")
        expect(coord.patch(path, {"status": "rejected", "rejection": {"reason": "x", "colour": "red"}}), 400,
               "/rejection/colour")
        expect(coord.patch(path, {"rejection": {"reason": "x"}}), 422, "/rejection")  # not rejected
    reason = "Needs Dutch at B1 first; referred to the language school"
    q = expect(coord.patch(path, {"status": "rejected", "rejection": {"reason": reason,
                                                                       "referred_to_partner_id": world["referral"]}}), 200)
    assert q["rejection"] == {"reason": reason, "referred_to_partner_id": world["referral"]}
    other = mentee(make, world, status="applied")
    expect(coord.patch(f"/v1/participants/{other['id']}", {"status": "rejected", "rejection": {"reason": "No job target"}}), 200)
    listed = coord.walk("/v1/participants", {"referred_to_partner_id": world["referral"], "status": "rejected"})
    assert [x["id"] for x in listed] == [p["id"]]
    # the person sees their own rejection; the rejection stays while rejected
    me = world["client"](make_token(world, p))
    assert expect(me.get(path), 200)["rejection"]["reason"] == reason
    with unchanged():
        expect(coord.patch(path, {"rejection": None}), 422, "/rejection/reason")
    # leaving rejected clears it (the audit log keeps that there was one)
    q = expect(coord.patch(path, {"status": "applied"}), 200)
    assert q["rejection"] is None
    assert coord.walk("/v1/participants", {"referred_to_partner_id": world["referral"]}) == []


def test_referral_filter_bad_value_and_other_roles(world, make, client, tokens):
    expect(world["coord"].get("/v1/participants", params={"referred_to_partner_id": "nope"}), 400)
    p = mentee(make, world, status="applied")
    expect(world["coord"].patch(f"/v1/participants/{p['id']}", {"status": "rejected", "rejection": {
        "reason": "r", "referred_to_partner_id": world["referral"]}}), 200)
    me = world["client"](make_token(world, p))
    assert expect(me.get("/v1/participants", params={"referred_to_partner_id": world["referral"]}), 200)["items"] == []


# --------------------------------------------------------------------------- screening fields

def test_screening_fields_validation(world, make, unchanged):
    coord = world["coord"]
    p = mentor(make, world, employment={"status": "retired", "retired_on": day(-10)})
    assert p["employment"] == {"status": "retired", "retired_on": day(-10)}
    assert p["birth_year"] == YEAR - 40 and p["certificates"] == []
    path = f"/v1/participants/{p['id']}"
    with unchanged():
        expect(coord.patch(path, {"birth_year": YEAR + 1}), 422, "/birth_year")
        expect(coord.patch(path, {"birth_year": 1850}), 422, "/birth_year")
        expect(coord.patch(path, {"employment": {"status": "working", "retired_on": day(-3)}}), 422,
               "/employment/retired_on")
        expect(coord.patch(path, {"employment": {"status": "sabbatical"}}), 422, "/employment/status")
        expect(coord.patch(path, {"work_permit": "yes"}), 422, "/work_permit")
        expect(coord.patch(path, {"certificates": []}), 422, "/certificates")
    # a new status drops the retirement date
    q = expect(coord.patch(path, {"employment": {"status": "working"}}), 200)
    assert q["employment"] == {"status": "working", "retired_on": None}
    q = expect(coord.patch(path, {"employment": None, "birth_year": None}), 200)
    assert q["employment"] is None and q["birth_year"] is None
    with unchanged():  # an employment needs its status
        expect(coord.patch(path, {"employment": {"retired_on": day(-3)}}), 422, "/employment/status")
    with unchanged():
        expect(coord.post("/v1/participants", {"programme_id": world["P"]["id"], "kind": "mentee", "given_name": "a",
                                               "family_name": "b", "rejection": {"reason": "x"}}), 422, "/rejection")


def test_who_sees_screening_fields(world, make, client, tokens, psql):
    """The counterpart mentor sees no birth_year, work_permit or rejection; an employer no rejection."""
    employer = make.partner(kind="employer")["id"]
    e = mentee(make, world, birth_year=1990, employer_partner_id=employer)
    m = mentor(make, world)
    psql("INSERT INTO pairs (programme_id, mentor_id, mentee_id, status) VALUES (%s, %s, %s, 'proposed')",
         world["P"]["id"], m["id"], e["id"])
    seen = expect(client(make_token(world, m)).get(f"/v1/participants/{e['id']}"), 200)
    assert "birth_year" not in seen and "work_permit" not in seen and "rejection" not in seen
    assert seen["employment"] == e["employment"] and seen["certificates"] == []
    hr = client(tokens("integration", partner=employer))
    assert expect(hr.get(f"/v1/participants/{e['id']}"), 200)["birth_year"] == 1990
    r = make.participant(world["P"]["id"], kind="mentor", employer_partner_id=employer, birth_year=1970)
    expect(world["coord"].patch(f"/v1/participants/{r['id']}", {"status": "rejected", "rejection": {"reason": "private"}}), 200)
    got = expect(hr.get(f"/v1/participants/{r['id']}"), 200)
    assert got["status"] == "rejected" and "rejection" not in got and got["birth_year"] == 1970


def test_hr_upsert_writes_screening_fields(world, make, client, tokens, unchanged):
    employer = make.partner(kind="employer")["id"]
    hr = client(tokens("integration", partner=employer, prg=[world["P"]["id"]]))
    ref = f"EMP-{uuid.uuid4().hex[:10]}"
    path = f"/v1/participants/by-external-ref/{ref}"
    body = {"programme_id": world["P"]["id"], "kind": "mentor", "given_name": "Marc", "family_name": unique("f"),
            "birth_year": 1975, "employment": {"status": "retired", "retired_on": day(-100)}}
    p = expect(hr.put(path, body), 201)
    assert p["birth_year"] == 1975 and p["employment"] == {"status": "retired", "retired_on": day(-100)}
    q = expect(hr.put(path, {"employment": {"status": "working"}}), 200)
    assert q["employment"] == {"status": "working", "retired_on": None}
    with unchanged():
        expect(hr.put(path, {"rejection": {"reason": "x"}}), 403)
        expect(hr.put(path, {"override_reason": "x"}), 403)
        expect(hr.patch(f"/v1/participants/{p['id']}", {"override_reason": "x"}), 403)
        expect(hr.put(path, {"employment": {"status": "other", "retired_on": day(-1)}}), 422, "/employment/retired_on")
        expect(hr.put(path, {"birth_year": YEAR + 3}), 422, "/birth_year")
    res = expect(hr.post("/v1/participants/batch", {"items": [
        {"external_ref": ref, "employment": {"status": "working", "retired_on": day(-1)}},
        {"external_ref": ref + "-2", "programme_id": world["P"]["id"], "kind": "mentor", "given_name": "A",
         "family_name": "B", "birth_year": 1980, "work_permit": True}]}), 200)
    assert res["items"][0]["result"] == "error"
    assert "/items/0/employment/retired_on" in [e["pointer"] for e in res["items"][0]["problem"]["errors"]]
    assert res["items"][1]["result"] == "created"
    # a coordinator's upsert into waiting is screened like any other
    cref = f"EMP-{uuid.uuid4().hex[:10]}"
    with unchanged():
        r = world["coord"].put(f"/v1/participants/by-external-ref/{cref}", {
            "programme_id": world["P"]["id"], "kind": "mentor", "given_name": "A", "family_name": "B",
            "employer_partner_id": employer, "status": "waiting"})
        expect(r, 409, "/status")


# --------------------------------------------------------------------------- certificates recorded by a coordinator

def test_record_certificate(world, make, psql):
    p = mentor(make, world)
    r = world["coord"].post(f"/v1/participants/{p['id']}/certificates", {
        "kind": "work_mentor", "issued_on": day(-20), "expires_on": day(1800), "issued_by_partner_id": world["trainer"]})
    c = expect(r, 201)
    assert r.headers["Location"] == f"/v1/participants/{p['id']}"
    assert c == {"id": c["id"], "kind": "work_mentor", "issued_on": day(-20), "expires_on": day(1800),
                 "issued_by_partner_id": world["trainer"], "training_id": None}
    q = expect(world["coord"].get(f"/v1/participants/{p['id']}"), 200)
    assert q["certificates"] == [c]
    _, got = results(world["coord"], p["id"])
    assert got["required_certificates"] == "pass"
    c2 = expect(world["coord"].post(f"/v1/participants/{p['id']}/certificates", {"kind": "first_aid", "issued_on": day(-400)}), 201)
    assert expect(world["coord"].get(f"/v1/participants/{p['id']}"), 200)["certificates"] == [c2, c]
    assert psql("SELECT count(*) FROM audit_log WHERE entity = 'certificates' AND entity_id = %s AND action = 'create'",
                p["id"])[0][0] == "2"


@pytest.mark.parametrize("body,status,pointer", [
    ({"issued_on": "2024-01-01"}, 422, "/kind"),
    ({"kind": "work_mentor"}, 422, "/issued_on"),
    ({"kind": "Work Mentor", "issued_on": "2024-01-01"}, 422, "/kind"),
    ({"kind": "x" * 65, "issued_on": "2024-01-01"}, 422, "/kind"),
    ({"kind": "work_mentor", "issued_on": "2024-02-30"}, 422, "/issued_on"),
    ({"kind": "work_mentor", "issued_on": day(2)}, 422, "/issued_on"),
    ({"kind": "work_mentor", "issued_on": "2024-01-01", "expires_on": "2023-12-31"}, 422, "/expires_on"),
    ({"kind": "work_mentor", "issued_on": "2024-01-01", "issued_by_partner_id": "p"}, 422, "/issued_by_partner_id"),
    ({"kind": "work_mentor", "issued_on": "2024-01-01", "issued_by_partner_id": str(uuid.uuid4())}, 422,
     "/issued_by_partner_id"),
    ({"kind": "work_mentor", "issued_on": "2024-01-01", "training_id": str(uuid.uuid4())}, 422, "/training_id"),
    ({"kind": "work_mentor", "issued_on": "2024-01-01", "grade": "A"}, 400, "/grade"),
    ({"kind": None, "issued_on": "2024-01-01"}, 422, "/kind"),
])
def test_record_certificate_bad_input(world, make, unchanged, body, status, pointer):
    p = mentor(make, world)
    with unchanged():
        expect(world["coord"].post(f"/v1/participants/{p['id']}/certificates", body), status, pointer)


def test_record_certificate_malformed(world, make, unchanged):
    p = mentor(make, world)
    path = f"/v1/participants/{p['id']}/certificates"
    with unchanged():
        expect(world["coord"].request("POST", path, data=b"{nope", headers={"Content-Type": "application/json"}), 400)
        expect(world["coord"].request("POST", path, data=b"kind=x", headers={"Content-Type": "text/plain"}), 415)
        expect(world["coord"].post(path, ["kind"]), 400)
        expect(world["coord"].post("/v1/participants/not-a-uuid/certificates", {"kind": "a", "issued_on": day(-1)}), 404)
        expect(world["coord"].post(f"/v1/participants/{uuid.uuid4()}/certificates", {"kind": "a", "issued_on": day(-1)}), 404)


# --------------------------------------------------------------------------- role matrix

def test_role_matrix(world, make, client, tokens, unchanged):
    employer = make.partner(kind="employer")["id"]
    m = mentor(make, world, employer_partner_id=employer)
    other = mentor(make, world)
    e = mentee(make, world)
    make.pair(world["P"]["id"], m["id"], e["id"], mentor_accepted=True, mentee_accepted=True)
    P = world["P"]["id"]
    who = {
        "coordinator": (world["coord"], 200, 201),
        "coach": (world["coach"], 200, 403),
        "coordinator elsewhere": (world["other_coord"], 404, 404),
        "coach elsewhere": (client(tokens("coach", prg=[world["Q"]["id"]])), 404, 403),
        "the mentor": (client(make_token(world, m)), 200, 403),
        "another mentor": (client(make_token(world, other)), 404, 403),
        "the mentee of the pair": (client(make_token(world, e)), 404, 403),
        "researcher": (client(tokens("researcher", prg=[P])), 403, 403),
        "integration (employer)": (client(tokens("integration", partner=employer, prg=[P])), 403, 403),
        "no token": (client(None), 401, 401),
    }
    for name, (c, read, write) in who.items():
        assert c.get(f"/v1/participants/{m['id']}/eligibility").status_code == read, name
        body = {"kind": "first_aid", "issued_on": day(-1)}
        if write == 201:
            expect(c.post(f"/v1/participants/{m['id']}/certificates", body), 201)
        else:
            with unchanged():
                assert c.post(f"/v1/participants/{m['id']}/certificates", body).status_code == write, name


def test_eligibility_bad_requests(world, make):
    expect(world["coord"].get(f"/v1/participants/{uuid.uuid4()}/eligibility"), 404)
    expect(world["coord"].get("/v1/participants/x/eligibility"), 404)
    p = make.participant(world["P"]["id"], kind="mentor", status="screened")["id"]
    expect(world["coord"].get(f"/v1/participants/{p}/eligibility", params={"on": "2024-01-01"}), 400)
    r = world["coord"].get(f"/v1/participants/{p}/eligibility")
    assert expect(world["coord"].get(f"/v1/participants/{p}/eligibility",
                                     headers={"If-None-Match": r.headers["ETag"]}), 304) is None


# --------------------------------------------------------------------------- dual learning

def test_dual_learning_mentor(make, client, tokens, psql, unchanged):
    """Flemish work mentors: 25+, 5+ years of experience, a mentor training. A 24-year-old with 3 years'
    experience and no certificate fails three rules; with a certificate and an override for the rest the
    mentor can be proposed; a mentor without a certificate cannot (409), whatever their status."""
    rules = {"eligibility": {"mentor": {"min_age": 25, "min_years_experience": 5, "working_or_recently_retired": True,
                                        "required_certificates": ["work_mentor"]}}}
    c = Cohort(make, client, tokens, psql, rules=rules)
    coord = c.coord
    young = make.participant(c.id, kind="mentor", status="screened", birth_year=YEAR - 24, years_experience=3,
                             employment={"status": "working"})
    body, got = results(coord, young["id"])
    assert body["eligible"] is False
    assert [r["rule"] for r in body["rules"] if r["result"] == "fail"] == \
        ["min_years_experience", "min_age", "required_certificates"]
    assert got["working_or_recently_retired"] == "pass"
    # its own eligibility, as the mentor sees it
    assert expect(c.as_(young).get(f"/v1/participants/{young['id']}/eligibility"), 200) == body
    with unchanged():
        r = coord.patch(f"/v1/participants/{young['id']}", {"status": "waiting"})
        expect(r, 409, "/status")
    d = problem_detail(r)
    assert all(k in d for k in ("min_years_experience", "min_age", "required_certificates"))
    # the mentor training done elsewhere, recorded by the coordinator
    expect(coord.post(f"/v1/participants/{young['id']}/certificates",
                      {"kind": "work_mentor", "issued_on": day(-7), "expires_on": day(5 * 365)}), 201)
    body, got = results(coord, young["id"])
    assert got == {"min_years_experience": "fail", "min_age": "fail", "working_or_recently_retired": "pass",
                   "required_certificates": "pass"}
    reason = "Relevant diploma: 23+ applies; experience counted with the apprenticeship"
    expect(coord.patch(f"/v1/participants/{young['id']}", {"status": "waiting", "override_reason": reason}), 200)
    assert override_rows(psql, young["id"]) == [(c.coord_id, "coordinator", "min_years_experience,min_age", reason)]
    learner = c.mentee()
    pair = c.propose(young, learner)
    assert pair["mentor_id"] == young["id"] and pair["status"] == "proposed"
    # a mentor overridden into waiting without a certificate cannot be proposed
    bare = make.participant(c.id, kind="mentor", status="screened", birth_year=YEAR - 50, years_experience=20,
                            employment={"status": "working"})
    expect(coord.patch(f"/v1/participants/{bare['id']}", {"status": "waiting", "override_reason": "Training booked"}), 200)
    other = c.mentee()
    with unchanged():
        r = c.coach.post("/v1/pairs", {"mentor_id": bare["id"], "mentee_id": other["id"]})
        expect(r, 409)
    assert "work_mentor" in problem_detail(r)
    # an expired certificate does not count either
    psql("INSERT INTO certificates (participant_id, kind, issued_on, expires_on) VALUES (%s, 'work_mentor', %s, %s)",
         bare["id"], day(-800), day(-1))
    with unchanged():
        expect(c.coach.post("/v1/pairs", {"mentor_id": bare["id"], "mentee_id": other["id"]}), 409)
    expect(coord.post(f"/v1/participants/{bare['id']}/certificates", {"kind": "work_mentor", "issued_on": day(0)}), 201)
    assert c.propose(bare, other)["status"] == "proposed"


def test_dual_learning_chain_through_a_training(make, client, tokens, psql, unchanged):
    """The chain end to end: the 24-year-old mentor with 3 years' experience fails age, experience and
    certificate; enrols in a mentor training, staff record attendance and completion, the certificate
    appears (on the participant and in the register) and the certificate rule passes; a coordinator
    overrides the other two with a reason (audited) into waiting; the mentor can be proposed. A mentor
    of the same programme without the certificate cannot (409 naming it)."""
    rules = {"eligibility": {"mentor": {"min_age": 25, "min_years_experience": 5, "working_or_recently_retired": True,
                                        "required_certificates": ["work_mentor"]}}}
    c = Cohort(make, client, tokens, psql, rules=rules)
    assert c.rules["eligibility"]["mentor"]["required_certificates"] == ["work_mentor"]
    young = make.participant(c.id, kind="mentor", status="screened", birth_year=YEAR - 24, years_experience=3,
                             employment={"status": "working"})
    body, got = results(c.coord, young["id"])
    assert body["eligible"] is False
    assert [r["rule"] for r in body["rules"] if r["result"] == "fail"] == \
        ["min_years_experience", "min_age", "required_certificates"]
    # the mentor training, held today by a training partner; the mentor enrols themselves
    provider = make.partner(kind="training")
    t = expect(c.coord.post("/v1/trainings", {
        "partner_id": provider["id"], "title": unique("Mentor training (dual learning)"), "held_on": day(0),
        "mode": "in_person", "capacity": 12, "certificate_kind": "work_mentor", "validity_months": 36}), 201)
    enrolment = f"/v1/trainings/{t['id']}/enrolments/{young['id']}"
    e = expect(c.as_(young).post(f"/v1/trainings/{t['id']}/enrolments", {"participant_id": young["id"]}), 201)
    assert e["status"] == "registered" and e["attended_at"] is None
    # staff record attendance: not a certificate yet
    e = expect(c.coach.post(f"{enrolment}/attended"), 200)
    assert e["attended_at"] and e["certificate"] is None
    assert results(c.coord, young["id"])[1]["required_certificates"] == "fail"
    # and completion: the certificate is awarded
    e = expect(c.coord.post(f"{enrolment}/complete"), 200)
    cert = e["certificate"]
    assert cert["kind"] == "work_mentor" and cert["issued_on"] == day(0) and cert["training_id"] == t["id"]
    assert cert["issued_by_partner_id"] == provider["id"]
    assert expect(c.coord.get(f"/v1/participants/{young['id']}"), 200)["certificates"] == [cert]
    register = c.coord.walk("/v1/registers/certified-mentors", params={"programme_id": c.id})
    assert [(x["participant_id"], x["certificates"]) for x in register] == [(young["id"], [cert])]
    body, got = results(c.coord, young["id"])
    assert got == {"min_years_experience": "fail", "min_age": "fail", "working_or_recently_retired": "pass",
                   "required_certificates": "pass"}
    assert body["eligible"] is False
    # still not waiting without an override, naming the two rules left
    with unchanged():
        r = c.coord.patch(f"/v1/participants/{young['id']}", {"status": "waiting"})
        expect(r, 409, "/status")
    d = problem_detail(r)
    assert "min_years_experience" in d and "min_age" in d and "required_certificates" not in d
    reason = "Dual learning: 23+ with a relevant diploma; apprenticeship years count as experience"
    q = expect(c.coord.patch(f"/v1/participants/{young['id']}", {"status": "waiting", "override_reason": reason}), 200)
    assert q["status"] == "waiting"
    assert override_rows(psql, young["id"]) == [(c.coord_id, "coordinator", "min_years_experience,min_age", reason)]
    pair = c.propose(young, c.mentee())
    assert (pair["mentor_id"], pair["status"]) == (young["id"], "proposed")
    # the certificate-before-proposal rule: a mentor without it is refused, whatever else holds
    bare = make.participant(c.id, kind="mentor", status="screened", birth_year=YEAR - 45, years_experience=15,
                            employment={"status": "working"})
    expect(c.coord.patch(f"/v1/participants/{bare['id']}", {"status": "waiting",
                                                             "override_reason": "Training booked next month"}), 200)
    assert [row[2] for row in override_rows(psql, bare["id"])] == ["required_certificates"]
    other = c.mentee()
    with unchanged():
        r = c.coach.post("/v1/pairs", {"mentor_id": bare["id"], "mentee_id": other["id"]})
        expect(r, 409)
    assert "work_mentor" in problem_detail(r)
    # enrolled and attended is not enough: only the completion's certificate counts
    expect(c.coord.post(f"/v1/trainings/{t['id']}/enrolments", {"participant_id": bare["id"]}), 201)
    expect(c.coord.post(f"/v1/trainings/{t['id']}/enrolments/{bare['id']}/attended"), 200)
    with unchanged():
        expect(c.coach.post("/v1/pairs", {"mentor_id": bare["id"], "mentee_id": other["id"]}), 409)


def test_no_certificate_rule_no_check(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql)
    c.propose(c.mentor(), c.mentee())


def test_record_certificate_is_idempotent(world, make, psql):
    p = mentor(make, world)
    path = f"/v1/participants/{p['id']}/certificates"
    key = {"Idempotency-Key": f"cert-{uuid.uuid4()}"}
    body = {"kind": "work_mentor", "issued_on": day(-3)}
    first = expect(world["coord"].post(path, body, headers=key), 201)
    again = expect(world["coord"].post(path, body, headers=key), 201)
    assert again == first
    assert psql("SELECT count(*) FROM certificates WHERE participant_id = %s", p["id"])[0][0] == "1"
    expect(world["coord"].post(path, dict(body, kind="first_aid"), headers=key), 422)
