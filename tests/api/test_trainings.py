"""Mentor trainings (issue 6, part 2): trainings by a training partner,
enrolments with a waiting list under concurrency, completion that awards a
certificate once, and the certified-mentor register with its filters and
validity on a date. Every route's role matrix with real tokens; refused
writes leave the database unchanged."""
import datetime
import uuid

import pytest

from conftest import expect, unique
from pairhelpers import Cohort, day, race, today


def add_months(d, months):
    """d plus months, as PostgreSQL adds an interval (the day clipped to the month's end)."""
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    import calendar
    return datetime.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


@pytest.fixture(scope="module")
def provider(make):
    return make.partner(kind="training", name=unique("training-partner"))


@pytest.fixture
def g(make, client, tokens, psql):
    return Cohort(make, client, tokens, psql)


def training(coord, provider, **kw):
    body = {"partner_id": provider["id"], "title": unique("Mentor training"), "held_on": day(14),
            "mode": "in_person", "capacity": 10, "certificate_kind": "workplace_mentor", "validity_months": 24}
    body.update(kw)
    return expect(coord.post("/v1/trainings", body), 201)


def enrol(c, t, person):
    return c.post(f"/v1/trainings/{t['id']}/enrolments", {"participant_id": person["id"]})


# ------------------------------------------------------------------ trainings

def test_create_and_read(g, provider, client, tokens):
    t = training(g.coord, provider, mode="online", validity_months=None)
    assert t["partner_id"] == provider["id"] and t["mode"] == "online" and t["validity_months"] is None
    assert t["registered"] == 0 and t["waitlisted"] == 0 and t["capacity"] == 10
    mentor = g.mentor()
    for c in (g.coord, g.coach, g.as_(mentor)):
        assert expect(c.get(f"/v1/trainings/{t['id']}"), 200) == t
        listed = c.walk("/v1/trainings", params={"partner_id": provider["id"]})
        assert t["id"] in [x["id"] for x in listed]
    # a coordinator of another programme still sees the training (it is a partner's session)
    other = client(tokens("coordinator", prg=[str(uuid.uuid4())]))
    expect(other.get(f"/v1/trainings/{t['id']}"), 200)
    expect(g.coord.get(f"/v1/trainings/{uuid.uuid4()}"), 404)
    expect(g.coord.get("/v1/trainings/not-a-uuid"), 404)


def test_list_filters(g, provider):
    a = training(g.coord, provider, held_on="2030-01-10", mode="online")
    b = training(g.coord, provider, held_on="2030-02-10", mode="in_person")
    ids = lambda **p: [x["id"] for x in g.coord.walk("/v1/trainings", params=dict(p, partner_id=provider["id"]))]
    assert a["id"] in ids(mode="online") and b["id"] not in ids(mode="online")
    got = ids(**{"from": "2030-02-01", "to": "2030-02-28"})
    assert b["id"] in got and a["id"] not in got
    expect(g.coord.get("/v1/trainings", params={"from": "2030-02-01", "to": "2030-01-01"}), 400)
    expect(g.coord.get("/v1/trainings", params={"mode": "hybrid"}), 400)
    expect(g.coord.get("/v1/trainings", params={"colour": "red"}), 400)
    page = expect(g.coord.get("/v1/trainings", params={"limit": 1}), 200)
    assert len(page["items"]) == 1 and page["next_cursor"]


def test_who_may_create_and_read(g, provider, client, tokens, unchanged):
    body = {"partner_id": provider["id"], "title": "x", "held_on": day(3), "mode": "online", "capacity": 3,
            "certificate_kind": "k"}
    mentor, mentee = g.mentor(), g.mentee()
    t = training(g.coord, provider)
    with unchanged():
        for c in (g.coach, g.as_(mentor), g.as_(mentee), client(tokens("researcher", prg="*")),
                  client(tokens("integration", partner=provider["id"]))):
            expect(c.post("/v1/trainings", body), 403)
        for c in (g.as_(mentee), client(tokens("researcher", prg="*")),
                  client(tokens("integration", partner=provider["id"]))):
            expect(c.get("/v1/trainings"), 403)
            expect(c.get(f"/v1/trainings/{t['id']}"), 403)
            expect(c.get(f"/v1/trainings/{t['id']}/enrolments"), 403)
        expect(client(None).get("/v1/trainings"), 401)


@pytest.mark.parametrize("change,pointer,status", [
    ({"colour": "red"}, "/colour", 400),
    ({"partner_id": None}, "/partner_id", 422),
    ({"partner_id": "nope"}, "/partner_id", 422),
    ({"title": ""}, "/title", 422),
    ({"title": "x" * 201}, "/title", 422),
    ({"held_on": "2024-02-30"}, "/held_on", 422),
    ({"mode": "hybrid"}, "/mode", 422),
    ({"capacity": 0}, "/capacity", 422),
    ({"capacity": "3"}, "/capacity", 422),
    ({"certificate_kind": "Work Mentor"}, "/certificate_kind", 422),
    ({"validity_months": 0}, "/validity_months", 422),
    ({"validity_months": 601}, "/validity_months", 422),
])
def test_create_refuses_bad_input(g, provider, change, pointer, status, unchanged):
    body = {"partner_id": provider["id"], "title": "t", "held_on": day(3), "mode": "online", "capacity": 3,
            "certificate_kind": "k", "validity_months": 12}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    with unchanged():
        expect(g.coord.post("/v1/trainings", body), status, pointer)


def test_the_partner_must_give_trainings(g, make, unchanged):
    employer = make.partner(kind="employer")
    inactive = make.partner(kind="education", active=False)
    body = {"title": "t", "held_on": day(3), "mode": "online", "capacity": 3, "certificate_kind": "k"}
    with unchanged():
        for pid in (employer["id"], inactive["id"], str(uuid.uuid4())):
            expect(g.coord.post("/v1/trainings", dict(body, partner_id=pid)), 422, "/partner_id")
    education = make.partner(kind="education")
    expect(g.coord.post("/v1/trainings", dict(body, partner_id=education["id"])), 201)


# ------------------------------------------------------------------ enrolments

def test_parallel_enrolments_for_the_last_seat(g, provider):
    t = training(g.coord, provider, capacity=1)
    mentors = [g.mentor() for _ in range(8)]
    results = race([lambda m=m: enrol(g.coord, t, m) for m in mentors])
    assert sorted(r.status_code for r in results) == [201] * 8
    statuses = sorted(r.json()["status"] for r in results)
    assert statuses == ["registered"] + ["waitlisted"] * 7
    positions = sorted(r.json()["position"] for r in results if r.json()["status"] == "waitlisted")
    assert positions == list(range(1, 8))
    assert g.psql("SELECT count(*) FROM training_enrolments WHERE training_id = %s AND status = 'registered'",
                  t["id"])[0][0] == "1"
    got = expect(g.coord.get(f"/v1/trainings/{t['id']}"), 200)
    assert (got["registered"], got["waitlisted"]) == (1, 7)


def test_mentors_enrol_themselves_in_parallel(g, provider):
    t = training(g.coord, provider, capacity=2)
    mentors = [g.mentor() for _ in range(6)]
    results = race([lambda m=m: enrol(g.as_(m), t, m) for m in mentors])
    assert [r.status_code for r in results] == [201] * 6
    assert sorted(r.json()["status"] for r in results) == ["registered"] * 2 + ["waitlisted"] * 4


def test_waiting_list_moves_up_on_cancel(g, provider, unchanged):
    t = training(g.coord, provider, capacity=1)
    a, b, c = g.mentor(), g.mentor(), g.mentor()
    assert expect(enrol(g.coord, t, a), 201)["status"] == "registered"
    eb = expect(enrol(g.coord, t, b), 201)
    ec = expect(enrol(g.coord, t, c), 201)
    assert (eb["status"], eb["position"], ec["status"], ec["position"]) == ("waitlisted", 1, "waitlisted", 2)
    # cancelling a waitlisted seat promotes nobody
    expect(g.as_(c).delete(f"/v1/trainings/{t['id']}/enrolments/{c['id']}"), 204)
    assert expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments/{b['id']}"), 200)["status"] == "waitlisted"
    ec = expect(enrol(g.coord, t, c), 201)
    assert ec["position"] == 2
    # the registered one cancels: the first waitlisted moves up, the next is first
    expect(g.coord.delete(f"/v1/trainings/{t['id']}/enrolments/{a['id']}"), 204)
    got_b = expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments/{b['id']}"), 200)
    got_c = expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments/{c['id']}"), 200)
    assert (got_b["status"], got_b["position"]) == ("registered", None)
    assert (got_c["status"], got_c["position"]) == ("waitlisted", 1)
    expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments/{a['id']}"), 404)
    with unchanged():
        expect(g.coord.delete(f"/v1/trainings/{t['id']}/enrolments/{a['id']}"), 404)
        expect(g.coach.delete(f"/v1/trainings/{t['id']}/enrolments/{b['id']}"), 403)
        expect(g.as_(c).delete(f"/v1/trainings/{t['id']}/enrolments/{b['id']}"), 404)


def test_enrolment_rules(g, provider, make, client, tokens, unchanged):
    t = training(g.coord, provider)
    past = training(g.coord, provider, held_on=day(-1))
    mentor, other, mentee = g.mentor(), g.mentor(), g.mentee()
    expect(enrol(g.as_(mentor), t, mentor), 201)
    elsewhere = Cohort(make, client, tokens, g.psql)
    stranger = elsewhere.mentor()
    withdrawn = g.mentor(status="applied")
    expect(g.coord.patch(f"/v1/participants/{withdrawn['id']}", {"status": "withdrawn"}), 200)
    with unchanged():
        expect(enrol(g.as_(mentor), t, mentor), 409)                      # twice
        expect(enrol(g.coord, t, mentor), 409)
        expect(enrol(g.as_(mentor), t, other), 403)                       # someone else
        expect(enrol(g.as_(mentee), t, mentee), 403)                      # mentees take no mentor trainings
        expect(enrol(g.coord, t, mentee), 422, "/participant_id")
        expect(enrol(g.coord, t, stranger), 422, "/participant_id")      # not in the coordinator's programmes
        expect(enrol(g.coord, t, {"id": str(uuid.uuid4())}), 422, "/participant_id")
        expect(enrol(g.coord, t, withdrawn), 409)
        expect(enrol(g.coach, t, other), 403)
        expect(enrol(client(tokens("researcher", prg="*")), t, other), 403)
        expect(enrol(g.as_(other), past, other), 409)                     # mentors enrol until the day
        expect(g.coord.post(f"/v1/trainings/{t['id']}/enrolments", {"participant_id": "x"}), 422,
               "/participant_id")
        expect(g.coord.post(f"/v1/trainings/{t['id']}/enrolments", {}), 422, "/participant_id")
        expect(g.coord.post(f"/v1/trainings/{t['id']}/enrolments",
                            {"participant_id": other["id"], "note": "x"}), 400, "/note")
        expect(enrol(g.coord, {"id": str(uuid.uuid4())}, other), 404)
        expect(enrol(g.coord, {"id": "nope"}, other), 404)
    # a coordinator may still record a past training
    assert expect(enrol(g.coord, past, other), 201)["status"] == "registered"


def test_enrolments_are_seen_within_the_programme(g, provider, make, client, tokens):
    t = training(g.coord, provider)
    mine, theirs = g.mentor(), g.mentor()
    expect(enrol(g.coord, t, mine), 201)
    expect(enrol(g.coord, t, theirs), 201)
    elsewhere = Cohort(make, client, tokens, g.psql)
    far = elsewhere.mentor()
    expect(enrol(elsewhere.coord, t, far), 201)
    seen = lambda c: sorted(e["participant_id"] for e in c.walk(f"/v1/trainings/{t['id']}/enrolments"))
    assert seen(g.coord) == sorted([mine["id"], theirs["id"]])
    assert seen(g.coach) == sorted([mine["id"], theirs["id"]])
    assert seen(elsewhere.coord) == [far["id"]]
    assert seen(g.as_(mine)) == [mine["id"]]
    assert sorted(seen(make.coord)) == sorted([mine["id"], theirs["id"], far["id"]])
    expect(elsewhere.coord.get(f"/v1/trainings/{t['id']}/enrolments/{mine['id']}"), 404)
    expect(g.as_(mine).get(f"/v1/trainings/{t['id']}/enrolments/{theirs['id']}"), 404)
    expect(elsewhere.coord.delete(f"/v1/trainings/{t['id']}/enrolments/{mine['id']}"), 404)
    expect(g.coord.get(f"/v1/trainings/{uuid.uuid4()}/enrolments"), 404)
    got = g.coord.walk(f"/v1/trainings/{t['id']}/enrolments", params={"status": "waitlisted"})
    assert got == []
    expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments", params={"status": "done"}), 400)


# ------------------------------------------------------------------ completion

def test_completion_awards_a_certificate_once(g, provider, unchanged):
    held = today() - datetime.timedelta(days=10)
    t = training(g.coord, provider, held_on=held.isoformat(), validity_months=24, certificate_kind="dual_mentor")
    mentor = g.mentor()
    expect(enrol(g.coord, t, mentor), 201)
    url = f"/v1/trainings/{t['id']}/enrolments/{mentor['id']}/complete"
    with unchanged():
        expect(g.as_(mentor).post(url), 403)
    got = expect(g.coach.post(url), 200)
    assert got["completed_on"] == today().isoformat() and got["status"] == "registered"
    cert = got["certificate"]
    assert cert["kind"] == "dual_mentor" and cert["issued_on"] == held.isoformat()
    assert cert["expires_on"] == add_months(held, 24).isoformat()
    assert cert["issued_by_partner_id"] == provider["id"] and cert["training_id"] == t["id"]
    rows = g.psql("SELECT id, kind, issued_on, expires_on, issued_by_partner_id, training_id FROM certificates "
                  "WHERE participant_id = %s", mentor["id"])
    assert rows == [(cert["id"], "dual_mentor", held.isoformat(), add_months(held, 24).isoformat(),
                     provider["id"], t["id"])]
    with unchanged():
        expect(g.coord.post(url), 409)                                          # awarded once
        expect(g.coord.delete(f"/v1/trainings/{t['id']}/enrolments/{mentor['id']}"), 409)
        expect(g.coord.post(url, {"note": "x"}), 400)
    assert expect(g.as_(mentor).get(f"/v1/trainings/{t['id']}/enrolments/{mentor['id']}"), 200) == got
    # and on the participant (the field sql/0013 added)
    assert expect(g.as_(mentor).get(f"/v1/participants/{mentor['id']}"), 200)["certificates"] == [cert]


def test_completion_rules(g, provider, make, client, tokens, unchanged):
    future = training(g.coord, provider, held_on=day(5))
    held = training(g.coord, provider, held_on=day(0), capacity=1, validity_months=None)
    a, b, c = g.mentor(), g.mentor(), g.mentor()
    expect(enrol(g.coord, future, a), 201)
    expect(enrol(g.coord, held, b), 201)
    assert expect(enrol(g.coord, held, c), 201)["status"] == "waitlisted"
    elsewhere = Cohort(make, client, tokens, g.psql)
    mentee = g.mentee()
    done = lambda t, p: f"/v1/trainings/{t['id']}/enrolments/{p['id']}/complete"
    with unchanged():
        expect(g.coord.post(done(future, a)), 409)                 # before the day
        expect(g.coord.post(done(held, c)), 409)                   # waitlisted
        expect(g.coord.post(done(held, a)), 404)                   # not enrolled
        expect(elsewhere.coord.post(done(held, b)), 404)           # another programme
        expect(elsewhere.coach.post(done(held, b)), 404)
        for who in (g.as_(b), g.as_(mentee), client(tokens("researcher", prg="*")),
                    client(tokens("integration", partner=provider["id"]))):
            expect(who.post(done(held, b)), 403)
        expect(g.coord.post(f"/v1/trainings/x/enrolments/{b['id']}/complete"), 404)
    got = expect(g.coord.post(done(held, b), {}), 200)
    assert got["certificate"]["expires_on"] is None and got["certificate"]["issued_on"] == day(0)


def test_completion_is_idempotent_with_a_key(g, provider):
    t = training(g.coord, provider, held_on=day(-3))
    m = g.mentor()
    expect(enrol(g.coord, t, m), 201)
    url = f"/v1/trainings/{t['id']}/enrolments/{m['id']}/complete"
    key = {"Idempotency-Key": unique("k")}
    first = expect(g.coord.post(url, headers=key), 200)
    again = expect(g.coord.post(url, headers=key), 200)
    assert first == again
    assert g.psql("SELECT count(*) FROM certificates WHERE participant_id = %s", m["id"])[0][0] == "1"


# ------------------------------------------------------------------ attendance

def attended_url(t, person):
    return f"/v1/trainings/{t['id']}/enrolments/{person['id']}/attended"


def audit_of(psql, person):
    """(actor, role, action, changed fields in alphabetical order) of each audit row of the person's enrolments."""
    rows = psql("SELECT actor, actor_role, action, array_to_string(changed_fields, ',') FROM audit_log "
                "WHERE entity = 'training_enrolments' AND entity_id = %s ORDER BY id", person["id"])
    return [(a, r, act, ",".join(sorted(f.split(",")))) for a, r, act, f in rows]


def test_attendance_is_recorded_once_apart_from_completion(g, provider, unchanged):
    held = today() - datetime.timedelta(days=2)
    t = training(g.coord, provider, held_on=held.isoformat(), validity_months=12)
    m = g.mentor()
    expect(enrol(g.coord, t, m), 201)
    got = expect(g.coach.post(attended_url(t, m)), 200)
    assert got["attended_at"] is not None and got["status"] == "registered"
    assert got["completed_on"] is None and got["certificate"] is None           # no certificate for attending
    assert g.psql("SELECT count(*) FROM certificates WHERE participant_id = %s", m["id"])[0][0] == "0"
    assert audit_of(g.psql, m)[-1] == (g.coach_id, "coach", "update", "attended_at")
    assert expect(g.as_(m).get(f"/v1/trainings/{t['id']}/enrolments/{m['id']}"), 200) == got
    with unchanged():
        expect(g.coach.post(attended_url(t, m)), 409)                              # once
        expect(g.coord.post(attended_url(t, m), {}), 409)
        expect(g.coord.delete(f"/v1/trainings/{t['id']}/enrolments/{m['id']}"), 409)   # they were there
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"held_on": day(-1)}), 409, "/held_on")
    # completion later keeps the attendance as recorded and awards the certificate
    done = expect(g.coord.post(f"/v1/trainings/{t['id']}/enrolments/{m['id']}/complete"), 200)
    assert done["attended_at"] == got["attended_at"] and done["completed_on"] == today().isoformat()
    assert done["certificate"]["issued_on"] == held.isoformat()
    assert audit_of(g.psql, m)[-1][2:] == ("update", "certificate_id,completed_on")


def test_completion_without_attendance_records_it(g, provider, unchanged):
    t = training(g.coord, provider, held_on=day(-1))
    m = g.mentor()
    expect(enrol(g.coord, t, m), 201)
    before = g.psql("SELECT now()")[0][0]
    done = expect(g.coach.post(f"/v1/trainings/{t['id']}/enrolments/{m['id']}/complete"), 200)
    assert done["attended_at"] is not None and done["certificate"] is not None
    assert g.psql("SELECT attended_at >= %s::timestamptz FROM training_enrolments WHERE training_id = %s "
                  "AND participant_id = %s", before, t["id"], m["id"])[0][0] == "t"
    assert audit_of(g.psql, m)[-1][2:] == ("update", "attended_at,certificate_id,completed_on")
    with unchanged():
        expect(g.coord.post(attended_url(t, m)), 409)                              # recorded with the completion


def test_attendance_rules(g, provider, unchanged):
    future = training(g.coord, provider, held_on=day(3))
    held = training(g.coord, provider, held_on=day(0), capacity=1)
    a, b, c = g.mentor(), g.mentor(), g.mentor()
    expect(enrol(g.coord, future, a), 201)
    expect(enrol(g.coord, held, b), 201)
    assert expect(enrol(g.coord, held, c), 201)["status"] == "waitlisted"
    with unchanged():
        expect(g.coord.post(attended_url(future, a)), 409)                 # before the day
        expect(g.coord.post(attended_url(held, c)), 409)                   # waitlisted
        expect(g.coach.post(attended_url(held, c)), 409)
        expect(g.coord.post(attended_url(held, a)), 404)                   # not enrolled
        expect(g.coord.post(attended_url({"id": str(uuid.uuid4())}, b)), 404)
        expect(g.coord.post(f"/v1/trainings/x/enrolments/{b['id']}/attended"), 404)
        expect(g.coord.post(f"/v1/trainings/{held['id']}/enrolments/nope/attended"), 404)
        expect(g.coord.post(attended_url(held, b), {"note": "was late"}), 400, "/note")
        expect(g.coord.post(attended_url(held, b), ["x"]), 400)
        expect(g.coord.request("POST", attended_url(held, b), data=b"{nope",
                               headers={"Content-Type": "application/json"}), 400)
        expect(g.coord.request("POST", attended_url(held, b), data=b"x=1",
                               headers={"Content-Type": "text/plain"}), 415)
        expect(g.coord.get(f"/v1/trainings/{held['id']}/enrolments", params={"attended": "yes"}), 400)
    # once the waitlisted one moved up to a seat, their attendance may be recorded
    expect(g.coord.delete(f"/v1/trainings/{held['id']}/enrolments/{b['id']}"), 204)
    got = expect(g.coord.post(attended_url(held, c), {}), 200)
    assert got["status"] == "registered" and got["attended_at"]


def test_attendance_role_matrix(g, provider, make, client, tokens, unchanged):
    """Staff of the mentor's programme record it; staff elsewhere get 404 (the enrolment is not
    theirs to see); the mentor themselves and every other role get 403."""
    t = training(g.coord, provider, held_on=day(-1))
    employer = make.partner(kind="employer")
    m = g.mentor(employer_partner_id=employer["id"])
    n = g.mentor()
    for x in (m, n):
        expect(enrol(g.coord, t, x), 201)
    elsewhere = Cohort(make, client, tokens, g.psql)
    refused = {
        "coordinator elsewhere": (elsewhere.coord, 404),
        "coach elsewhere": (elsewhere.coach, 404),
        "the mentor": (g.as_(m), 403),
        "another mentor": (g.as_(n), 403),
        "mentee": (g.as_(g.mentee()), 403),
        "researcher": (client(tokens("researcher", prg="*")), 403),
        "integration (the employer)": (client(tokens("integration", partner=employer["id"], prg=[g.id])), 403),
        "integration (the provider)": (client(tokens("integration", partner=provider["id"])), 403),
        "no token": (client(None), 401),
    }
    with unchanged():
        for name, (c, status) in refused.items():
            assert c.post(attended_url(t, m)).status_code == status, name
    assert expect(g.coord.post(attended_url(t, m)), 200)["attended_at"]
    assert expect(g.coach.post(attended_url(t, n)), 200)["attended_at"]
    assert [r[:3] for r in audit_of(g.psql, m)][-1] == (g.coord_id, "coordinator", "update")
    # an organisation-wide coordinator sees every programme's mentors
    o = g.mentor()
    expect(enrol(g.coord, t, o), 201)
    expect(make.coord.post(attended_url(t, o)), 200)
    ids = lambda **q: sorted(e["participant_id"] for e in
                             g.coord.walk(f"/v1/trainings/{t['id']}/enrolments", params=q))
    assert ids(attended="true") == sorted([m["id"], n["id"], o["id"]])
    assert ids(attended="false") == []


def test_attendance_is_idempotent_with_a_key(g, provider):
    t = training(g.coord, provider, held_on=day(-1))
    m = g.mentor()
    expect(enrol(g.coord, t, m), 201)
    key = {"Idempotency-Key": unique("att")}
    first = expect(g.coord.post(attended_url(t, m), headers=key), 200)
    assert expect(g.coord.post(attended_url(t, m), headers=key), 200) == first
    assert [r[2:] for r in audit_of(g.psql, m)].count(("update", "attended_at")) == 1


# ------------------------------------------------------------------ the register

def certify(g, provider, mentor, held_on, months, kind="workplace_mentor"):
    t = training(g.coord, provider, held_on=held_on, validity_months=months, certificate_kind=kind)
    expect(enrol(g.coord, t, mentor), 201)
    return expect(g.coord.post(f"/v1/trainings/{t['id']}/enrolments/{mentor['id']}/complete"), 200)["certificate"]


def test_register_filters_and_validity(g, provider, make, client, tokens):
    employer, other_employer = make.partner(kind="employer"), make.partner(kind="employer")
    a = g.mentor(employer_partner_id=employer["id"])
    b = g.mentor(employer_partner_id=other_employer["id"])
    c = g.mentor(employer_partner_id=employer["id"])       # never certified
    ca = certify(g, provider, a, "2024-01-15", 12)        # valid 2024-01-15 .. 2025-01-15
    cb = certify(g, provider, b, "2024-06-01", None)      # never expires
    reg = lambda c_, **p: {x["participant_id"]: x for x in c_.walk("/v1/registers/certified-mentors",
                                                                  params=dict(p, programme_id=g.id))}
    on = reg(g.coord, valid_on="2024-07-01")
    assert set(on) == {a["id"], b["id"]}
    assert on[a["id"]]["certificates"] == [ca] and on[a["id"]]["employer_partner_id"] == employer["id"]
    assert on[a["id"]]["employer_name"] == employer["name"] and on[a["id"]]["valid_on"] == "2024-07-01"
    assert set(reg(g.coord, valid_on="2024-01-14")) == set()
    assert set(reg(g.coord, valid_on="2024-01-15")) == {a["id"]}
    assert set(reg(g.coord, valid_on="2025-01-15")) == {a["id"], b["id"]}      # the last valid day
    assert set(reg(g.coord, valid_on="2025-01-16")) == {b["id"]}
    assert set(reg(g.coord)) == {b["id"]}                                      # today
    assert set(reg(g.coord, valid_on="2024-07-01", employer_partner_id=employer["id"])) == {a["id"]}
    assert set(reg(g.coord, valid_on="2024-07-01", certificate_kind="other_kind")) == set()
    assert c["id"] not in reg(g.coach, valid_on="2024-07-01")
    assert set(reg(g.coach, valid_on="2024-07-01")) == {a["id"], b["id"]}
    # an employer's integration client sees its own employees only
    hr = client(tokens("integration", partner=employer["id"]))
    assert set(reg(hr, valid_on="2024-07-01")) == {a["id"]}
    assert set(reg(hr, valid_on="2024-07-01", employer_partner_id=other_employer["id"])) == set()
    # another programme's staff see none of them
    elsewhere = Cohort(make, client, tokens, g.psql)
    assert reg(elsewhere.coord, valid_on="2024-07-01") == {}
    page = expect(g.coord.get("/v1/registers/certified-mentors",
                              params={"programme_id": g.id, "valid_on": "2024-07-01", "limit": 1}), 200)
    assert len(page["items"]) == 1 and page["next_cursor"]


def test_register_updated_since(g, provider, make):
    """An entry counts as changed when the mentor, any of their certificates or their employer
    changed (the `updated_at` of the entry); older entries stay out of an incremental pull."""
    e1, e2 = make.partner(kind="employer"), make.partner(kind="employer")
    a = g.mentor(employer_partner_id=e1["id"])
    b = g.mentor(employer_partner_id=e2["id"])
    ca = certify(g, provider, a, "2024-01-15", None)
    certify(g, provider, b, "2024-01-15", None)
    old = "2001-01-01T00:00:00Z"

    def age(person, cert, employer):
        make.backdate("participants", person["id"], old)
        make.backdate("certificates", cert["id"], old)
        make.backdate("partners", employer["id"], old)

    age(a, ca, e1)
    since = "2010-01-01T00:00:00Z"
    reg = lambda **q: {x["participant_id"]: x for x in g.coord.walk(
        "/v1/registers/certified-mentors", params=dict(q, programme_id=g.id, valid_on="2024-07-01"))}
    everyone = reg()
    assert set(everyone) == {a["id"], b["id"]}
    when = lambda x: datetime.datetime.fromisoformat(x["updated_at"].replace("Z", "+00:00"))
    assert when(everyone[a["id"]]) == datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    assert when(everyone[b["id"]]) > datetime.datetime(2010, 1, 1, tzinfo=datetime.timezone.utc)
    assert set(reg(updated_since=since)) == {b["id"]}
    assert set(reg(updated_since="2001-01-01T00:00:00+00:00")) == {a["id"], b["id"]}   # at or after
    # a renewed certificate brings the entry back
    expect(g.coord.post(f"/v1/participants/{a['id']}/certificates", {"kind": "first_aid", "issued_on": day(-1)}), 201)
    assert set(reg(updated_since=since)) == {a["id"], b["id"]}
    for c in expect(g.coord.get(f"/v1/participants/{b['id']}"), 200)["certificates"]:
        make.backdate("certificates", c["id"], old)
    make.backdate("participants", b["id"], old)
    make.backdate("partners", e2["id"], old)
    for c in expect(g.coord.get(f"/v1/participants/{a['id']}"), 200)["certificates"]:
        make.backdate("certificates", c["id"], old)
    make.backdate("participants", a["id"], old)
    assert reg(updated_since=since) == {}
    # so does a change to the mentor's record, or to the employer's name
    expect(g.coord.patch(f"/v1/participants/{a['id']}", {"family_name": unique("renamed")}), 200)
    assert set(reg(updated_since=since)) == {a["id"]}
    expect(make.coord.patch(f"/v1/partners/{e2['id']}", {"name": unique("employer")}), 200)
    got = reg(updated_since=since)
    assert set(got) == {a["id"], b["id"]} and when(got[b["id"]]) > datetime.datetime(2010, 1, 1,
                                                                                      tzinfo=datetime.timezone.utc)
    # the integration client's pull filters the same way
    make.backdate("participants", a["id"], old)
    hr = g.client(g.tokens("integration", partner=e1["id"]))
    assert hr.walk("/v1/registers/certified-mentors", params={"valid_on": "2024-07-01", "updated_since": since}) == []
    for bad in ("yesterday", "2024-01-01", "2024-13-01T00:00:00Z"):
        r = g.coord.get("/v1/registers/certified-mentors", params={"updated_since": bad})
        expect(r, 400)
        assert "updated_since" in r.json()["detail"]


def test_register_roles_and_bad_queries(g, client, tokens):
    m = g.mentor()
    for c in (g.as_(m), g.as_(g.mentee()), client(tokens("researcher", prg="*"))):
        expect(c.get("/v1/registers/certified-mentors"), 403)
    for bad in ({"valid_on": "2024-13-01"}, {"employer_partner_id": "x"}, {"certificate_kind": "A B"},
                {"limit": 0}, {"cursor": "forged"}, {"colour": "red"}):
        expect(g.coord.get("/v1/registers/certified-mentors", params=bad), 400)


# ------------------------------------------------------------------ changes

def test_change_a_training(g, provider, unchanged):
    t = training(g.coord, provider, capacity=1)
    a, b, c = g.mentor(), g.mentor(), g.mentor()
    for m in (a, b, c):
        expect(enrol(g.coord, t, m), 201)
    r = g.coord.get(f"/v1/trainings/{t['id']}")
    etag = r.headers["ETag"]
    with unchanged():
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"capacity": 2}, headers={"If-Match": '"0000000000000000"'}),
               412)
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"partner_id": provider["id"]}), 422, "/partner_id")
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"certificate_kind": "x"}), 422, "/certificate_kind")
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"capacity": 0}), 422, "/capacity")
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"title": None}), 422, "/title")
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"room": "x"}), 400, "/room")
        expect(g.coach.patch(f"/v1/trainings/{t['id']}", {"capacity": 2}), 403)
        expect(g.as_(a).patch(f"/v1/trainings/{t['id']}", {"capacity": 2}), 403)
        expect(g.coord.patch(f"/v1/trainings/{uuid.uuid4()}", {"capacity": 2}), 404)
    # more seats: the waiting list moves up in order
    got = expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"capacity": 2, "validity_months": None},
                               headers={"If-Match": etag}), 200)
    assert (got["capacity"], got["registered"], got["waitlisted"], got["validity_months"]) == (2, 2, 1, None)
    assert expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments/{b['id']}"), 200)["status"] == "registered"
    assert expect(g.coord.get(f"/v1/trainings/{t['id']}/enrolments/{c['id']}"), 200)["position"] == 1
    with unchanged():
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"capacity": 1}), 409, "/capacity")


def test_the_date_stays_once_completed(g, provider, unchanged):
    t = training(g.coord, provider, held_on=day(-2))
    m = g.mentor()
    expect(enrol(g.coord, t, m), 201)
    expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"held_on": day(-3)}), 200)
    expect(g.coord.post(f"/v1/trainings/{t['id']}/enrolments/{m['id']}/complete"), 200)
    with unchanged():
        expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"held_on": day(-1)}), 409, "/held_on")
    expect(g.coord.patch(f"/v1/trainings/{t['id']}", {"held_on": day(-3), "title": "Renamed"}), 200)
