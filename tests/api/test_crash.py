"""Nothing lost (issue 8, item 3).

A write load (pair proposals, meetings, programme creations, and survey
responses by participants with their own tokens, each with an
Idempotency-Key) from threads; the server is killed with SIGKILL in the
middle and started again on the same database. Then:
  - every write that got a 2xx is in the database exactly once, a survey
    response with all its flattened answer rows (response_answers);
  - a write that got an error answer left no trace at all;
  - no pair exists without its 'proposed' decision, no response without its
    answer rows (exactly those of its answers), no answer row without its
    response, nothing without its audit_log create row, and no object has
    two create rows;
  - the requests cut by the kill, retried with the same Idempotency-Key on
    the new server, never run twice: each replays its stored answer, runs now
    (if it never took effect), or is refused with 409 (still claimed, or took
    effect with its answer lost) — and a 409 with Retry-After resolves once the
    dead request's claim has expired.
  - the survey responses answered before the kill, retried on the new server
    with their key, replay their stored answer and are not stored again.
The database is a fresh one in the suite's cluster, so its counts are this
test's alone."""
import datetime
import json
import signal
import threading
import time
import uuid

import pytest
import requests

from conftest import expect, make_psql, unique
from faultkit import SLOW, FreshDatabase, Load, client_for, scaled

STATEMENT_TIMEOUT_MS = 2000
POOL_WAIT_MS = 1000
# service/idempotency.c: a claim older than this, whose request never
# committed, belongs to a dead request and may be taken over
LEASE_S = (4 * STATEMENT_TIMEOUT_MS + POOL_WAIT_MS) / 1000
THREADS = scaled(4, minimum=2)
LOAD_S = scaled(1.5, minimum=0.8) * SLOW
MENTEES = scaled(300, minimum=60)
RESPONDENTS = scaled(300, minimum=60)  # participants who answer the survey, one response each

# a survey with every kind of answer row: an option (likert5, scale10, single
# choice, yes/sometimes/no), one row per chosen option (multi choice), a value
# (number), neither (date, text: the text carries the write's marker)
QUESTIONS = [
    {"key": "likert", "text": "How useful was it?", "type": "likert5", "allow_not_used": True},
    {"key": "scale", "text": "Rate the programme", "type": "scale10"},
    {"key": "single", "text": "Your sector", "type": "single_choice", "options": ["a", "b", "c"]},
    {"key": "multi", "text": "Topics", "type": "multi_choice", "options": ["a", "b", "c", "d"], "max_choices": 3},
    {"key": "ysn", "text": "Did you feel heard?", "type": "yes_sometimes_no"},
    {"key": "number", "text": "Hours per month", "type": "number"},
    {"key": "date", "text": "When did you start?", "type": "date"},
    {"key": "text", "text": "Anything else?", "type": "text", "required": True},
]
QTYPE = {q["key"]: q["type"] for q in QUESTIONS}


def survey_answers(i, marker):
    """Answers that vary with i (how many rows they flatten to varies too)."""
    return {"likert": "not_used" if i % 5 == 0 else 1 + i % 5, "scale": 1 + i % 10, "single": "abc"[i % 3],
            "multi": ["a", "b", "c", "d"][i % 4:i % 4 + 1 + i % 3], "ysn": ("yes", "sometimes", "no")[i % 3],
            "number": i % 7 + 0.5, "date": "2023-0%d-1%d" % (1 + i % 9, i % 10), "text": marker}


def answer_rows(answers):
    """The response_answers rows (question_key, option, value, ord) answers flatten to (sql/0005_surveys.sql)."""
    rows = []
    for k, v in answers.items():
        t = QTYPE[k]
        if t == "multi_choice":
            rows += [(k, o, None, str(n)) for n, o in enumerate(v, 1)]
        elif t in ("likert5", "scale10"):
            rows.append((k, str(v), None if v == "not_used" else str(v), "1"))
        elif t in ("single_choice", "yes_sometimes_no"):
            rows.append((k, v, None, "1"))
        elif t == "number":
            rows.append((k, None, str(v), "1"))
        else:
            rows.append((k, None, None, "1"))
    return sorted(rows, key=repr)


@pytest.fixture
def fresh(psql, servers):
    db = FreshDatabase(psql, servers.binary, "crash")
    yield db
    db.drop()


def _kill9(srv):
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=30)
    srv.log.close()
    srv.proc = None


def test_kill9_mid_write_load_loses_nothing_and_duplicates_nothing(fresh, servers, spec, tokens):
    env = dict(KOPPEL_DATABASE_URL=fresh.url, KOPPEL_STATEMENT_TIMEOUT_MS=STATEMENT_TIMEOUT_MS,
               KOPPEL_POOL_WAIT_MS=POOL_WAIT_MS, KOPPEL_POOL_SIZE=6, KOPPEL_THREADS=6)
    db = make_psql(fresh.url)
    srv = servers.start("crash-before", **env)
    srv2 = None
    try:
        sub = str(uuid.uuid4())
        tok = tokens("coordinator", sub=sub, prg="*")
        coord = client_for(srv, spec, tok)
        programme = expect(coord.post("/v1/programmes", {"name": unique("crash"),
                                                          "rules": {"max_mentees_per_mentor": 100}}), 201)["id"]
        mentors = [expect(coord.post("/v1/participants", {
            "programme_id": programme, "kind": "mentor", "given_name": "Mentor", "family_name": unique("m"),
            "status": "waiting", "capacity": 100}), 201)["id"] for _ in range(4)]
        # the mentees are fixtures, not writes under test: one statement
        mentees = [r[0] for r in db(
            "INSERT INTO participants (programme_id, kind, given_name, family_name, status) "
            "SELECT %s, 'mentee', 'Mentee', 'crash-' || g, 'waiting' FROM generate_series(1, " + str(MENTEES) + ") g "
            "RETURNING id::text", programme)]
        # respondents: participants answering with their own token (sub = their id); fixtures too
        respondents = [(r[0], r[1]) for r in db(
            "INSERT INTO participants (programme_id, kind, given_name, family_name, status) "
            "SELECT %s, CASE WHEN g % 2 = 0 THEN 'mentor' ELSE 'mentee' END, 'Respondent', 'crash-r' || g, 'waiting' "
            "FROM generate_series(1, " + str(RESPONDENTS) + ") g RETURNING id::text, kind", programme)]
        respondent_auth = [{"Authorization": f"Bearer {tokens(kind, sub=pid, prg=[programme])}"}
                           for pid, kind in respondents]
        today_d = datetime.datetime.now(datetime.timezone.utc).date()
        survey = expect(coord.post("/v1/surveys", {
            "programme_id": programme, "title": unique("crash"), "phase": "post", "audience": "both",
            "opens_on": (today_d - datetime.timedelta(days=30)).isoformat(),
            "closes_on": (today_d + datetime.timedelta(days=30)).isoformat(), "questions": QUESTIONS}), 201)["id"]
        seed_pair = expect(coord.post("/v1/pairs", {"mentor_id": mentors[0], "mentee_id": mentees.pop()}), 201)["id"]
        pairs = [seed_pair]
        today = today_d.isoformat()
        auth = {"Authorization": f"Bearer {tok}"}

        def step(session, n, i):
            kind = ("pair", "meeting", "programme", "response")[(n + i) % 4]
            key = str(uuid.uuid4())
            marker = unique("crash")
            hdrs = dict(auth, **{"Idempotency-Key": key})
            if kind == "response":
                try:
                    who = respondent_auth.pop()
                except IndexError:
                    kind = "programme"
                else:
                    path = f"/v1/surveys/{survey}/responses"
                    body = {"answers": survey_answers(i * THREADS + n, marker)}
                    hdrs = dict(who, **{"Idempotency-Key": key})
                    return kind, "POST", srv.base + path, {"headers": hdrs, "json": body}, (path, body, key, marker, who)
            if kind == "pair":
                try:
                    mentee = mentees.pop()
                except IndexError:
                    kind = "programme"
            if kind == "pair":
                path, body = "/v1/pairs", {"mentor_id": mentors[i % len(mentors)], "mentee_id": mentee,
                                           "goals": [marker]}
            elif kind == "meeting":
                path = f"/v1/pairs/{pairs[i % len(pairs)]}/meetings"
                body = {"held_on": today, "duration_minutes": 30, "mode": "video", "summary": marker}
            else:
                path, body = "/v1/programmes", {"name": marker}
            return kind, "POST", srv.base + path, {"headers": hdrs, "json": body}, (path, body, key, marker, auth)

        load = Load(threads=THREADS, step=step, timeout=60).start()
        time.sleep(LOAD_S)
        # pairs proposed so far take meetings too
        for a in load.snapshot():
            if a.kind == "pair" and a.status == 201:
                pairs.append(json.loads(a.body)["id"])
        time.sleep(LOAD_S / 2)
        load.stop_event.set()  # no new request starts; those under way are cut by the kill
        t_kill = time.monotonic()
        _kill9(srv)
        answers = load.stop()
        lat = {}
        for a in answers:
            if a.status is not None:
                lat.setdefault(a.kind, []).append(a.seconds)
        print("\nlatency:", {k: f"{sum(v) / len(v) * 1000:.0f}ms x{len(v)}" for k, v in lat.items()})

        ok = [a for a in answers if a.status is not None and 200 <= a.status < 300]
        refused = [a for a in answers if a.status is not None and a.status >= 300]
        cut = [a for a in answers if a.error is not None]
        # enough writes to have some before and some cut by the kill (the ASan build is slow)
        assert len(ok) >= 3, f"too little load before the kill: {len(ok)} successes"
        assert any(a.kind == "response" for a in ok), "no survey response was answered 2xx before the kill"
        unexpected = [a for a in refused if a.status not in (409, 422, 503)]
        assert not unexpected, f"unexpected answers under load: {[(a, a.body[:200]) for a in unexpected[:5]]}"

        srv2 = servers.start("crash-after", **env)

        # ---- retries of the cut requests, same key, same body (in parallel: the waits overlap)
        def retry(a):
            path, body, key, marker, who = a.extra
            deadline = time.monotonic() + LEASE_S + 10 * SLOW
            while True:
                r = requests.post(srv2.base + path, json=body, timeout=60,
                                  headers=dict(who, **{"Idempotency-Key": key}))
                if r.status_code == 409 and r.headers.get("Retry-After") and time.monotonic() < deadline:
                    time.sleep(max(0.2, min(float(r.headers["Retry-After"]), 1.0)))
                    continue
                a.extra = (path, body, key, marker, who, r)
                return

        retriers = [threading.Thread(target=retry, args=(a,)) for a in cut]
        for t in retriers:
            t.start()
        for t in retriers:
            t.join(LEASE_S + 60 * SLOW)
        outcomes = {}
        for a in cut:
            assert len(a.extra) == 6, f"{a}: the retry never finished"
            r = a.extra[5]
            spec.check(r, "POST", None)
            replayed = r.headers.get("Idempotent-Replayed") == "true"
            label = f"{r.status_code}{' replayed' if replayed else ''}"
            if r.status_code == 409:
                label += " retry-after" if r.headers.get("Retry-After") else " effect-without-answer"
            outcomes.setdefault(label, []).append(a)
            # a 409 with Retry-After must have resolved once the dead claim expired
            assert not (r.status_code == 409 and r.headers.get("Retry-After")), (
                f"{a}: still 'being processed' {LEASE_S + 10 * SLOW:.0f}s after the crash: {r.text[:300]}")
            assert r.status_code in (200, 201, 409, 422), f"{a}: retry after the crash answered {r.status_code}: {r.text[:300]}"
            if r.status_code == 422:  # the pair's mentee or the meeting's pair was taken meanwhile: a real refusal
                assert "Idempotency-Key" not in r.json()["detail"], r.text

        # ---- the survey responses answered before the crash, retried now with their key and
        # body (a client that never saw the answer): each replays its stored answer, none runs twice
        replays = 0
        for a in ok:
            if a.kind != "response":
                continue
            path, body, key, marker, who = a.extra[:5]
            r = requests.post(srv2.base + path, json=body, timeout=60, headers=dict(who, **{"Idempotency-Key": key}))
            spec.check(r, "POST", None)
            assert r.status_code == a.status and r.headers.get("Idempotent-Replayed") == "true", (
                f"{a}: retried after the crash with its key: {r.status_code} {dict(r.headers)} {r.text[:300]}")
            assert r.json() == json.loads(a.body), f"{a}: the replay differs from the first answer: {r.text[:300]}"
            replays += 1

        # ---- every object the clients were told about exists exactly once; refused ones left nothing
        def count(kind, marker):
            if kind == "pair":
                return int(db("SELECT count(*) FROM pairs WHERE %s = ANY(goals)", marker)[0][0])
            if kind == "meeting":
                return int(db("SELECT count(*) FROM meetings WHERE summary = %s", marker)[0][0])
            if kind == "response":
                return int(db("SELECT count(*) FROM survey_responses WHERE answers->>'text' = %s", marker)[0][0])
            return int(db("SELECT count(*) FROM programmes WHERE name = %s", marker)[0][0])

        def stored_answers(a, rid=None):
            """A stored response is the one answered, with exactly the answer rows of its answers."""
            body, marker = a.extra[1], a.extra[3]
            got = db("SELECT id::text, respondent_id::text, answers::text FROM survey_responses "
                     "WHERE answers->>'text' = %s", marker)
            assert len(got) == 1, f"{a}: {len(got)} responses stored"
            assert rid is None or got[0][0] == rid, f"{a}: answered with response {rid}, stored {got[0][0]}"
            assert json.loads(got[0][2]) == body["answers"], f"{a}: stored answers {got[0][2]}"
            rows = db("SELECT question_key, option, value::text, ord::text FROM response_answers "
                      "WHERE response_id = %s AND survey_id = %s AND respondent_id = %s", got[0][0], survey, got[0][1])
            norm = sorted(((k, o, None if v is None else str(float(v)), d) for k, o, v, d in rows), key=repr)
            want = [(k, o, None if v is None else str(float(v)), d) for k, o, v, d in answer_rows(body["answers"])]
            assert norm == sorted(want, key=repr), f"{a}: answer rows {norm}, expected {want}"

        for a in ok:
            assert count(a.kind, a.extra[3]) == 1, f"{a}: a 2xx write is not stored exactly once"
            got = json.loads(a.body)
            assert got["id"]
            if a.kind == "response":
                stored_answers(a, got["id"])
        for a in refused:
            assert count(a.kind, a.extra[3]) == 0, f"{a}: a refused write left a trace: {a.body[:300]}"
        for a in cut:
            r = a.extra[5]
            n = count(a.kind, a.extra[3])
            if r.status_code in (200, 201):
                assert n == 1, f"{a}: after the retry ({r.status_code}) the write is stored {n} times"
                assert json.loads(r.content)["id"]
                if a.kind == "response":
                    stored_answers(a, json.loads(r.content)["id"])
            elif r.status_code == 409:   # took effect before the crash; the answer was lost
                assert n == 1, f"{a}: 409 'took effect' but the write is stored {n} times: {r.text[:200]}"
                if a.kind == "response":
                    stored_answers(a)
            else:
                assert n == 0, f"{a}: refused on retry ({r.status_code}) but stored {n} times"

        # ---- no partial trace anywhere in this database
        orphans = db("SELECT count(*) FROM pairs p WHERE (SELECT count(*) FROM pair_events e "
                     "WHERE e.pair_id = p.id AND e.action = 'proposed') <> 1")[0][0]
        assert orphans == "0", f"{orphans} pairs without exactly one 'proposed' decision"
        unmatched = db("SELECT count(*) FROM pairs p JOIN participants m ON m.id = p.mentee_id "
                       "WHERE p.status = 'proposed' AND m.status <> 'matched'")[0][0]
        assert unmatched == "0", f"{unmatched} proposed pairs whose mentee did not move to matched"
        # every response has exactly the answer rows its answers flatten to (one per answered
        # question, one per chosen option of a multi choice); no answer row without its response
        partial = db("SELECT count(*) FROM survey_responses r WHERE (SELECT count(*) FROM response_answers a "
                     "WHERE a.response_id = r.id AND a.survey_id = r.survey_id AND a.respondent_id = r.respondent_id) "
                     "<> (SELECT coalesce(sum(CASE WHEN jsonb_typeof(e.value) = 'array' "
                     "THEN jsonb_array_length(e.value) ELSE 1 END), 0) FROM jsonb_each(r.answers) e) "
                     "OR NOT EXISTS (SELECT 1 FROM response_answers a WHERE a.response_id = r.id)")[0][0]
        assert partial == "0", f"{partial} survey responses without (all) their answer rows"
        stray = db("SELECT count(*) FROM response_answers a WHERE NOT EXISTS "
                   "(SELECT 1 FROM survey_responses r WHERE r.id = a.response_id)")[0][0]
        assert stray == "0", f"{stray} answer rows without their response"
        responses = int(db("SELECT count(*) FROM survey_responses")[0][0])
        frozen = db("SELECT frozen_at IS NOT NULL FROM surveys WHERE id = %s", survey)[0][0]
        assert frozen == ("t" if responses else "f"), f"{responses} responses, survey frozen: {frozen}"
        for table in ("programmes", "participants", "pairs", "meetings", "surveys", "survey_responses"):
            bad = db(f"SELECT count(*) FROM {table} t WHERE (SELECT count(*) FROM audit_log a WHERE a.entity = "
                     f"'{table}' AND a.entity_id = t.id::text AND a.action = 'create') <> 1")[0][0]
            assert bad == "0", f"{bad} {table} rows without exactly one audit_log create row"
            ghosts = db(f"SELECT count(*) FROM audit_log a WHERE a.entity = '{table}' AND a.action = 'create' "
                        f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id::text = a.entity_id)")[0][0]
            assert ghosts == "0", f"{ghosts} audit_log create rows for {table} that do not exist"

        # ---- every key is settled: answered, or (lost answer) marked as taken effect
        keys = db("SELECT count(*) FILTER (WHERE completed_at IS NOT NULL), "
                  "count(*) FILTER (WHERE completed_at IS NULL AND effect_committed), "
                  "count(*) FILTER (WHERE completed_at IS NULL AND NOT effect_committed) FROM idempotency_keys")[0]
        kinds = {}
        for a in ok:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
        print(f"\nkill -9 after {t_kill - answers[0].t0:.1f}s of load: {len(ok)} writes answered 2xx "
              f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; {responses} responses stored), "
              f"{len(refused)} refused, {len(cut)} cut by the kill; {replays} answered responses replayed; retries: "
              + ", ".join(f"{k}: {len(v)}" for k, v in sorted(outcomes.items()))
              + f"; keys completed {keys[0]}, effect without answer {keys[1]}, claimed without effect {keys[2]}")
    finally:
        db.close()
        if srv.proc is not None:
            srv.stop()
        if srv2 is not None:
            srv2.stop_clean()


def test_a_5xx_answer_means_the_write_did_not_happen(fresh, servers, spec, tokens):
    """A client told 503 retries or gives up; either way the write must not
    have happened. Fault injected: reading the new pair's JSON is slow (a
    wrapper around pair_json in this test's own database), so that read hits
    the statement timeout. A proposal whose reply is read after COMMIT is
    then stored although the client hears 503."""
    db = make_psql(fresh.url)
    srv = None
    try:
        db("ALTER FUNCTION pair_json(pairs) RENAME TO pair_json_unhurried")
        db("CREATE FUNCTION pair_json(p pairs) RETURNS jsonb LANGUAGE plpgsql STABLE AS $f$ BEGIN "
           "IF 'slow-reply' = ANY(p.goals) THEN PERFORM pg_sleep(4); END IF; "
           "RETURN pair_json_unhurried(p); END $f$")
        srv = servers.start("crash-5xx", KOPPEL_DATABASE_URL=fresh.url, KOPPEL_STATEMENT_TIMEOUT_MS=2000)
        tok = tokens("coordinator", prg="*")
        coord = client_for(srv, spec, tok)
        prg = expect(coord.post("/v1/programmes", {"name": unique("crash-5xx"),
                                                    "rules": {"max_mentees_per_mentor": 5}}), 201)["id"]
        people = {}
        for kind in ("mentor", "mentee"):
            people[kind] = expect(coord.post("/v1/participants", {
                "programme_id": prg, "kind": kind, "given_name": "Slow", "family_name": unique(kind),
                "status": "waiting"}), 201)["id"]
        body = {"mentor_id": people["mentor"], "mentee_id": people["mentee"], "goals": ["slow-reply"]}
        key = str(uuid.uuid4())
        r = coord.post("/v1/pairs", body, headers={"Idempotency-Key": key})
        stored = int(db("SELECT count(*) FROM pairs WHERE mentee_id = %s", people["mentee"])[0][0])
        again = coord.post("/v1/pairs", body, headers={"Idempotency-Key": key})
        stored_after = int(db("SELECT count(*) FROM pairs WHERE mentee_id = %s", people["mentee"])[0][0])
        print(f"\nslow reply: first answer {r.status_code}, pairs stored {stored}; retry with the key "
              f"{again.status_code} {again.headers.get('Idempotent-Replayed', '')}, pairs stored {stored_after}")
        assert stored_after == stored, "the retry ran the proposal again"
        if r.status_code >= 500:
            assert stored == 0, (f"the client was told {r.status_code} ({r.json()['detail']}) but the pair was "
                                 f"stored: the reply is read after COMMIT (api/pairs.c commit_and_reply)")
        else:
            assert r.status_code == 201 and stored == 1, r.text
    finally:
        db.close()
        if srv is not None:
            srv.stop_clean()
