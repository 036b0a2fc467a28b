"""GDPR rights of a participant (issue 8, item 8).

Access: GET /v1/participants/{id}/export gives the person themselves or a
coordinator of their programme everything held about them (profile, pairs
with decisions, notes, meetings, feedback, survey answers, outcomes,
certificates, audit entries); every other role is refused with a real token.

Erasure: DELETE /v1/participants/{id} by a coordinator erases names, contact
data, free text and the external reference in one transaction and keeps the
pseudonymised rows. The proof: every text value given to the person carries
one marker; after the erasure no row of any table of the database contains
it (each table dumped as text), while programme statistics, the partner
report and the research exports are exactly what they were."""
import json
import random
import uuid

import pytest

from conftest import expect, unique
from pairhelpers import Cohort, day

TEXT_SURVEY = [
    {"key": "useful", "text": "How useful was it?", "type": "likert5"},
    {"key": "sector", "text": "Your sector", "type": "single_choice", "options": ["a", "b", "c"]},
    {"key": "hours", "text": "Hours per month", "type": "number"},
    {"key": "story", "text": "Anything else?", "type": "text"},
]
DATASETS = ("participants", "pairs", "meetings", "responses", "outcomes")


def has_table(psql, name):
    return psql("SELECT to_regclass(%s) IS NOT NULL", name)[0][0] == "t"


def tables_holding(psql, needle):
    """Every table of the database, dumped row by row as text: those where needle appears."""
    tables = [r[0] for r in psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    assert "participants" in tables and "audit_log" in tables and "idempotency_keys" in tables
    found = []
    for t in tables:
        n = int(psql(f'SELECT count(*) FROM "{t}" x WHERE strpos(lower(x::text), lower(%s)) > 0', needle)[0][0])
        if n:
            found.append((t, n))
    return found


class Person:
    """A mentee with a marker in every text field, and everything a programme records about them."""

    def __init__(self, make, client, tokens, psql, coord):
        self.marker = f"Zyxwvq-{uuid.uuid4().hex}"
        m = self.marker
        self.phone = "+32 4" + "".join(random.choice("0123456789") for _ in range(8))
        self.c = Cohort(make, client, tokens, psql)
        self.partner = make.partner()
        self.mentor = self.c.mentor(employer_partner_id=self.partner["id"], consent={"data_processing": True, "research": True})
        body = {"programme_id": self.c.id, "kind": "mentee", "status": "waiting",
                "given_name": f"{m}-given", "family_name": f"{m}-family", "email": f"{m.lower()}@example.org",
                "phone": self.phone, "region": "Gent", "job_target": f"{m}-job-target",
                "motivation": f"{m}-motivation", "short_profile": f"{m}-profile",
                "cv_url": f"https://cv.example.org/{m}", "external_ref": f"{m}-ref",
                "employer_partner_id": self.partner["id"],
                "sectors": ["85.31"], "occupations": ["2330"], "languages": [{"code": "nl", "level": "B2"}],
                "consent": {"data_processing": True, "research": True}}
        # created with an Idempotency-Key: the stored answer holds every value
        self.mentee = expect(self.c.coord.post("/v1/participants", body, headers={"Idempotency-Key": unique("idem")}),
                             201)
        self.id = self.mentee["id"]
        me = self.c.as_(self.mentee)
        # a declined proposal with a reason, then a pair with goals that runs and completes
        declined = self.c.propose(self.mentor, self.mentee)
        expect(me.post(f"/v1/pairs/{declined['id']}/decline", {"reason": f"{m}-decline"}), 200)
        mentor2 = self.c.mentor(consent={"data_processing": True, "research": True})
        self.pair = self.c.propose(mentor2, self.mentee, goals=[f"{m}-goal"])
        self.c.accept(self.pair, mentor2)
        self.c.accept(self.pair, self.mentee)
        meeting = {"held_on": day(0), "duration_minutes": 75, "mode": "video", "summary": f"{m}-summary",
                   "next_steps": f"{m}-next"}
        self.meeting = expect(me.post(f"/v1/pairs/{self.pair['id']}/meetings", meeting,
                                      headers={"Idempotency-Key": unique("idem")}), 201)
        self.c.confirm(self.pair, mentor2)
        self.c.confirm(self.pair, self.mentee)
        expect(self.c.coach.post(f"/v1/pairs/{self.pair['id']}/notes", {"text": f"{m}-note"}), 201)
        self.c.close(self.pair, "completed", "goal_reached")
        self.outcome = expect(self.c.coach.post(f"/v1/participants/{self.id}/outcomes",
                                                {"measured_on": day(0), "status": "job_at_level"}), 201)
        # a survey with a text question, answered by the mentee and (for the statistics) the mentor
        survey = {"programme_id": self.c.id, "title": unique("gdpr-survey"), "phase": "post", "audience": "both",
                  "opens_on": day(-5), "closes_on": day(5), "questions": TEXT_SURVEY}
        self.survey = expect(self.c.coord.post("/v1/surveys", survey), 201)
        self.answers = {"useful": 4, "sector": "b", "hours": 6, "story": f"{m}-answer"}
        self.response = expect(me.post(f"/v1/surveys/{self.survey['id']}/responses", {"answers": self.answers},
                                       headers={"Idempotency-Key": unique("idem")}), 201)
        expect(self.c.as_(mentor2).post(f"/v1/surveys/{self.survey['id']}/responses",
                                        {"answers": {"useful": 5, "story": "fine"}}), 201)
        self.mentor2 = mentor2
        # tables of other modules, when this build has them
        self.feedback = has_table(psql, "pair_feedback")
        if self.feedback:
            psql("INSERT INTO pair_feedback (pair_id, author_role, author_id, rating, text) "
                 "VALUES (%s, 'mentee', %s, 9, %s), (%s, 'mentor', %s, 8, %s)",
                 self.pair["id"], self.id, f"{m}-feedback-by", self.pair["id"], mentor2["id"], f"{m}-feedback-for")
        self.certificate = has_table(psql, "certificates")
        if self.certificate:
            psql("INSERT INTO certificates (participant_id, kind, issued_on) VALUES (%s, 'mentor_training', %s)",
                 self.id, day(-10))


@pytest.fixture(scope="module")
def person(make, client, tokens, psql, coord):
    return Person(make, client, tokens, psql, coord)


def figures(p, coord, client, tokens):
    """What programme statistics, the partner report and the research exports say."""
    researcher = client(tokens("researcher", prg=[p.c.id]))
    out = {
        "stats": expect(p.c.coord.get(f"/v1/programmes/{p.c.id}/stats"), 200),
        "stats_researcher": expect(researcher.get(f"/v1/programmes/{p.c.id}/stats"), 200),
        "report": expect(coord.get(f"/v1/partners/{p.partner['id']}/report"), 200),
        "results": expect(p.c.coord.get(f"/v1/surveys/{p.survey['id']}/results"), 200),
    }
    for ds in DATASETS:
        r = p.c.coord.get(f"/v1/exports/{ds}", params={"programme_id": p.c.id},
                          headers={"Accept": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        out[ds] = r.text
    return out


# ---------------------------------------------------------------- access

def test_the_person_and_a_coordinator_get_everything_held(person, psql):
    p = person
    for who in (p.c.as_(p.mentee), p.c.coord):
        doc = expect(who.get(f"/v1/participants/{p.id}/export"), 200)
        assert doc["participant_id"] == p.id
        prof = doc["profile"]
        assert prof["given_name"] == f"{p.marker}-given" and prof["email"] == f"{p.marker.lower()}@example.org"
        assert prof["motivation"] == f"{p.marker}-motivation" and prof["external_ref"] == f"{p.marker}-ref"
        assert prof["cv_url"] == f"https://cv.example.org/{p.marker}" and prof["phone"] == p.phone
        assert "erased_at" not in prof
        # the status path: created waiting, matched twice, back to waiting once, active, completed
        assert [h["to_status"] for h in doc["status_history"]][0] == "waiting"
        assert doc["status_history"][-1]["to_status"] == "completed"
        # both pairs, with every decision (the decline's reason too)
        assert [(x["role"], x["pair"]["status"]) for x in doc["pairs"]] == [("mentee", "declined"),
                                                                           ("mentee", "completed")]
        decline = doc["pairs"][0]["pair"]
        assert decline["decline_reason"] == f"{p.marker}-decline"
        assert [d["action"] for d in decline["decisions"]] == ["proposed", "declined"]
        assert doc["pairs"][1]["pair"]["goals"] == [f"{p.marker}-goal"]
        assert [n["text"] for n in doc["pair_notes"]] == [f"{p.marker}-note"]
        assert [m["id"] for m in doc["meetings"]] == [p.meeting["id"]]
        assert doc["meetings"][0]["summary"] == f"{p.marker}-summary"
        assert [(s["survey"]["id"], s["response"]["answers"]) for s in doc["survey_responses"]] == [
            (p.survey["id"], p.answers)]
        assert [o["id"] for o in doc["outcomes"]] == [p.outcome["id"]]
        if p.feedback:
            assert sorted(f["text"] for f in doc["feedback"]) == [f"{p.marker}-feedback-by", f"{p.marker}-feedback-for"]
        if p.certificate:
            assert [c["kind"] for c in doc["certificates"]] == ["mentor_training"]
        # audit entries about them and their records, field names only
        about = {(a["entity"], a["entity_id"]) for a in doc["audit_log"]}
        assert ("participants", p.id) in about
        assert ("pairs", p.pair["id"]) in about and ("meetings", p.meeting["id"]) in about
        assert ("survey_responses", p.response["id"]) in about and ("outcomes", p.outcome["id"]) in about
        assert all(p.marker.lower() not in json.dumps(a).lower() for a in doc["audit_log"])
        # nothing of anybody else's: the other mentee's pair, the mentor's own profile
        assert p.mentor["id"] not in json.dumps(doc["status_history"])


def test_export_is_refused_to_everyone_else(person, client, tokens, make, unchanged):
    p = person
    url = f"/v1/participants/{p.id}/export"
    other = make.programme()
    stranger = p.c.mentee()
    with unchanged():
        # they may see the person, but not export them: 403
        expect(p.c.coach.get(url), 403)
        expect(p.c.as_(p.mentor2).get(url), 403)                       # their mentor
        hr = client(tokens("integration", partner=p.partner["id"], prg=[p.c.id]))
        expect(hr.get(url), 403)                                        # their employer's HR system
        expect(client(tokens("researcher", prg=[p.c.id])).get(url), 403)
        # they may not see the person at all: 404
        expect(client(tokens("coordinator", prg=[other["id"]])).get(url), 404)
        expect(client(tokens("coach", prg=[other["id"]])).get(url), 404)
        expect(p.c.as_(stranger).get(url), 404)
        expect(client(tokens("integration", partner=str(uuid.uuid4()), prg=[p.c.id])).get(url), 404)
        expect(p.c.coord.get(f"/v1/participants/{uuid.uuid4()}/export"), 404)
        expect(p.c.coord.get("/v1/participants/not-a-uuid/export"), 404)
        expect(p.c.coord.get(url, params={"format": "csv"}), 400)
        expect(client(None).get(url), 401)


# ---------------------------------------------------------------- erasure

def test_erasure_is_refused_to_everyone_but_a_coordinator_of_the_programme(person, client, tokens, make, unchanged):
    p = person
    url = f"/v1/participants/{p.id}"
    other = make.programme()
    with unchanged():
        expect(p.c.coach.delete(url), 403)
        expect(p.c.as_(p.mentee).delete(url), 403)
        expect(p.c.as_(p.mentor2).delete(url), 403)
        expect(client(tokens("researcher", prg=[p.c.id])).delete(url), 403)
        expect(client(tokens("integration", partner=p.partner["id"], prg=[p.c.id])).delete(url), 403)
        expect(client(tokens("coordinator", prg=[other["id"]])).delete(url), 404)
        expect(p.c.coord.delete(f"/v1/participants/{uuid.uuid4()}"), 404)
        expect(p.c.coord.delete(url, headers={"If-Match": '"0000000000000000"'}), 412)
        expect(p.c.coord.delete(url, params={"now": "1"}), 400)
        expect(client(None).delete(url), 401)


def test_erasure_leaves_no_trace_and_changes_no_figure(person, psql, coord, client, tokens):
    p = person
    assert tables_holding(psql, p.marker), "the marker should be stored before the erasure"
    before = figures(p, coord, client, tokens)
    etag = p.c.coord.get(f"/v1/participants/{p.id}").headers["ETag"]

    expect(p.c.coord.delete(f"/v1/participants/{p.id}", headers={"If-Match": etag}), 204)

    # no row of any table holds any of the values (the marker, the phone number)
    assert tables_holding(psql, p.marker) == []
    assert tables_holding(psql, p.phone) == []
    # the figures are exactly what they were
    after = figures(p, coord, client, tokens)
    for k in before:
        assert after[k] == before[k], f"{k} changed by the erasure"
    # the pseudonymised rows are all there
    assert int(psql("SELECT count(*) FROM pairs WHERE mentee_id = %s", p.id)[0][0]) == 2
    assert int(psql("SELECT count(*) FROM meetings WHERE pair_id = %s", p.pair["id"])[0][0]) == 1
    assert int(psql("SELECT count(*) FROM pair_notes WHERE pair_id = %s", p.pair["id"])[0][0]) == 1
    assert int(psql("SELECT count(*) FROM outcomes WHERE participant_id = %s", p.id)[0][0]) == 1
    kept = psql("SELECT answers::text FROM survey_responses WHERE id = %s", p.response["id"])[0][0]
    assert json.loads(kept) == dict(p.answers, story="[erased]")
    # the person reads as erased, for staff and for themselves
    for who in (p.c.coord, p.c.coach, p.c.as_(p.mentee)):
        view = expect(who.get(f"/v1/participants/{p.id}"), 200)
        assert view["given_name"] == view["family_name"] == "[erased]" and "erased_at" in view
        for f in ("email", "phone", "job_target", "motivation", "short_profile", "cv_url", "external_ref"):
            assert view[f] is None, f
        assert view["status"] == "completed" and view["sectors"] == ["85.31"] and view["region"] == "Gent"
    # the counterpart's view of the pair shows no goals, the meeting no summary
    pair = expect(p.c.as_(p.mentor2).get(f"/v1/pairs/{p.pair['id']}"), 200)
    assert pair["goals"] == [] and pair["status"] == "completed"
    meeting = expect(p.c.coach.get(f"/v1/meetings/{p.meeting['id']}"), 200)
    assert meeting["summary"] is None and meeting["next_steps"] is None and meeting["duration_minutes"] == 75
    # the export still works and shows the erasure
    doc = expect(p.c.coord.get(f"/v1/participants/{p.id}/export"), 200)
    assert doc["profile"]["erased_at"] and p.marker.lower() not in json.dumps(doc).lower()
    # the audit log records the erasure: who, and the names of what was erased
    rows = psql("SELECT actor_role, changed_fields::text FROM audit_log WHERE action = 'erase' AND entity_id = %s", p.id)
    assert len(rows) == 1 and rows[0][0] == "coordinator"
    for f in ("given_name", "email", "phone", "external_ref", "meetings.summary", "pair_notes.text"):
        assert f in rows[0][1]
    # the audit log holds field names only, nowhere a value
    assert psql("SELECT count(*) FROM audit_log WHERE EXISTS (SELECT 1 FROM unnest(changed_fields) f "
                "WHERE f !~ '^[a-z_]+(\\.[a-z_]+)?(\\(text\\))?$')")[0][0] == "0"


def test_an_erased_participant_stays_erased(person, psql, unchanged):
    p = person
    url = f"/v1/participants/{p.id}"
    if not psql("SELECT erased_at FROM participants WHERE id = %s", p.id)[0][0]:
        expect(p.c.coord.delete(url), 204)
    with unchanged():
        expect(p.c.coord.patch(url, {"given_name": "Back"}), 409)
        expect(p.c.as_(p.mentee).patch(url, {"email": "back@example.org"}), 409)
    # a second DELETE is 204 and erases what was written since
    psql("UPDATE meetings SET summary = %s WHERE id = %s", f"{p.marker}-later", p.meeting["id"])
    assert tables_holding(psql, p.marker)
    expect(p.c.coord.delete(url), 204)
    assert tables_holding(psql, p.marker) == []
    assert int(psql("SELECT count(*) FROM audit_log WHERE action = 'erase' AND entity_id = %s", p.id)[0][0]) == 2


def test_an_idempotent_retry_after_the_erasure_does_not_replay_their_data(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql)
    marker = f"Zyxwvq-{uuid.uuid4().hex}"
    key = unique("idem")
    body = {"programme_id": c.id, "kind": "mentor", "given_name": marker, "family_name": "Retry"}
    first = expect(c.coord.post("/v1/participants", body, headers={"Idempotency-Key": key}), 201)
    replay = c.coord.post("/v1/participants", body, headers={"Idempotency-Key": key})
    assert expect(replay, 201)["id"] == first["id"] and replay.headers.get("Idempotent-Replayed") == "true"
    expect(c.coord.delete(f"/v1/participants/{first['id']}"), 204)
    assert tables_holding(psql, marker) == []


def test_a_rejection_reason_is_erased_and_the_referral_kept(make, client, tokens, psql):
    c = Cohort(make, client, tokens, psql)
    if not psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'participants' "
                "AND column_name = 'rejection_reason'")[0][0] == "1":
        pytest.skip("no screening in this build")
    marker = f"Zyxwvq-{uuid.uuid4().hex}"
    referral = make.partner(kind="referral")
    person = c.person("mentee", status="applied", given_name=marker)
    expect(c.coord.patch(f"/v1/participants/{person['id']}",
                         {"status": "rejected", "rejection": {"reason": f"{marker}-why",
                                                              "referred_to_partner_id": referral["id"]}}), 200)
    expect(c.coord.delete(f"/v1/participants/{person['id']}"), 204)
    assert tables_holding(psql, marker) == []
    view = expect(c.coord.get(f"/v1/participants/{person['id']}"), 200)
    assert view["status"] == "rejected"
    assert view["rejection"] == {"reason": "[erased]", "referred_to_partner_id": referral["id"]}


def test_other_tables_that_refer_to_the_person_are_exported(make, client, tokens, psql):
    """Training enrolments, activity registrations (sql/0014) and any later table with a foreign key to
    participants or pairs appear under other_records, by table name, every row of them."""
    c = Cohort(make, client, tokens, psql)
    mentor = c.mentor()
    if has_table(psql, "training_enrolments") and has_table(psql, "activity_registrations"):
        partner = make.partner(kind="training")
        t = psql("INSERT INTO trainings (partner_id, title, held_on, mode, capacity, certificate_kind) "
                 "VALUES (%s, 'GDPR training', current_date, 'online', 10, 'mentor_training') RETURNING id",
                 partner["id"])[0][0]
        psql("INSERT INTO training_enrolments (training_id, participant_id, status) VALUES (%s, %s, 'registered')",
             t, mentor["id"])
        a = psql("INSERT INTO activities (programme_id, kind, title, held_on, capacity, audience) "
                 "VALUES (%s, 'workshop', 'GDPR workshop', current_date, 10, 'both') RETURNING id", c.id)[0][0]
        psql("INSERT INTO activity_registrations (activity_id, participant_id, status) VALUES (%s, %s, 'registered')",
             a, mentor["id"])
    refs = [r[0] for r in psql(
        "SELECT DISTINCT c.conrelid::regclass::text FROM pg_constraint c WHERE c.contype = 'f' "
        "AND c.confrelid IN ('participants'::regclass, 'pairs'::regclass) AND cardinality(c.conkey) = 1")]
    doc = expect(c.as_(mentor).get(f"/v1/participants/{mentor['id']}/export"), 200)
    known = {"participants", "pairs", "pair_events", "pair_notes", "meetings", "survey_responses", "outcomes",
             "participant_status_history", "certificates", "pair_feedback", "audit_log"}
    for t in refs:
        if t in known:
            continue
        n = int(psql(f'SELECT count(*) FROM {t} x WHERE strpos(to_jsonb(x)::text, %s) > 0', mentor["id"])[0][0])
        assert len(doc["other_records"].get(t, [])) == n, (t, doc["other_records"])
    if has_table(psql, "training_enrolments"):
        assert [e["status"] for e in doc["other_records"]["training_enrolments"]] == ["registered"]
        assert [e["status"] for e in doc["other_records"]["activity_registrations"]] == ["registered"]
