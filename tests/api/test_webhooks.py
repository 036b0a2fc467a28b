"""Webhooks (issue 5, part 3): subscriptions, the transactional outbox and the
delivery worker, end to end against receivers this test runs on loopback.

Deliveries are tested on servers of their own, each on a database of its own
(created in the test cluster and migrated here): the suite's main server runs
a delivery worker too, with the default backoff, and would otherwise claim
these deliveries. The role matrix and refused writes run on the main server,
where no subscription stays behind."""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest

from conftest import Client, expect, make_psql, unique

EVENT_TYPES = ["participant.status_changed", "pair.status_changed", "meeting.created", "survey.response_created"]
BACKOFF_MS = 100
MAX_ATTEMPTS = 5
WAIT = 60  # seconds; the ASan build is slow


def wait_until(pred, timeout=WAIT, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --------------------------------------------------------------------------- a receiver

class Receiver:
    """An HTTP server on loopback that records every request. respond(n, req)
    gives (status, delay seconds) for the n-th request (0-based)."""

    def __init__(self, respond=None):
        self.respond = respond or (lambda n, req: (200, 0))
        self.requests = []
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": body, "at": time.time()}
                with rec.lock:
                    n = len(rec.requests)
                    rec.requests.append(req)
                status, delay = rec.respond(n, req)
                if delay:
                    time.sleep(delay)
                req["status"] = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/{uuid.uuid4().hex}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def delivered(self):
        """The requests answered 2xx, as (event dict, request)."""
        return [(json.loads(r["body"]), r) for r in self.snapshot() if 200 <= r.get("status", 0) < 300]

    def wait_delivered(self, n, timeout=WAIT):
        return wait_until(lambda: len(self.delivered()) >= n and self.delivered(), timeout,
                          f"{n} delivered events (have {len(self.delivered())})")


@pytest.fixture
def receivers():
    made = []

    def make(respond=None):
        r = Receiver(respond)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def verify_signature(req, secret):
    """X-Koppel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    sig = req["headers"]["x-koppel-signature"]
    parts = dict(p.split("=", 1) for p in sig.split(","))
    assert set(parts) == {"t", "v1"}, sig
    t = int(parts["t"])
    assert abs(t - req["at"]) < 120, "the signature's timestamp is the time of sending"
    want = hmac.new(secret.encode(), parts["t"].encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], want), f"bad signature {sig}"


def check_request(req, secret):
    h = req["headers"]
    assert h["content-type"] == "application/json"
    event = json.loads(req["body"])
    assert h["x-koppel-event"] == event["type"]
    uuid.UUID(h["x-koppel-delivery"])
    verify_signature(req, secret)
    return event


# --------------------------------------------------------------------------- servers on databases of their own

def _db_url(base, name):
    if base.startswith(("postgres://", "postgresql://")):
        u = urllib.parse.urlsplit(base)
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))
    return f"{base} dbname={name}"  # in a conninfo string the last dbname wins


class Env:
    """A migrated database of its own and servers on it, with coordinator clients."""

    def __init__(self, servers, spec, tokens, psql):
        self.servers, self.spec, self.tokens, self.main_psql = servers, spec, tokens, psql
        self.name = "koppel_wh_" + uuid.uuid4().hex[:12]
        psql(f'CREATE DATABASE "{self.name}"')
        self.url = _db_url(os.environ["KOPPEL_TEST_DATABASE_URL"], self.name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
        env["KOPPEL_DATABASE_URL"] = self.url
        subprocess.run([os.environ["KOPPEL_BIN"], "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                       timeout=120)
        self.psql = make_psql(self.url)
        self.started = []
        self.server = self.start("webhooks")
        self.coord = self.client()

    def start(self, name, **env):
        s = self.servers.start(name, KOPPEL_DATABASE_URL=self.url, KOPPEL_WEBHOOK_BACKOFF_MS=BACKOFF_MS,
                               KOPPEL_WEBHOOK_MAX_ATTEMPTS=MAX_ATTEMPTS, **env)
        self.started.append(s)
        return s

    def client(self, token=None, server=None):
        return Client((server or self.server).base, self.spec,
                      token or self.tokens("coordinator", prg="*"))

    def close(self):
        for s in self.started:
            if s.proc is not None:
                s.stop_clean()
        self.psql.close()
        self.main_psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    # ---- making things through the API

    def subscribe(self, url, types=None, **kw):
        body = {"target_url": url, "event_types": types or EVENT_TYPES}
        body.update(kw)
        return expect(self.coord.post("/v1/webhooks", body), 201)

    def programme(self):
        return expect(self.coord.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]

    def participant(self, programme, kind="mentee", status=None):
        body = {"programme_id": programme, "kind": kind, "given_name": "Hidden",
                "family_name": unique("family"), "email": "hidden@example.org", "phone": "+32 470 12 34 56"}
        if status:
            body["status"] = status
        return expect(self.coord.post("/v1/participants", body), 201)

    def status(self, participant_id, status):
        body = {"status": status}
        if status == "rejected":  # a rejection needs its reason (issue 6)
            body["rejection"] = {"reason": "Not eligible for this programme"}
        return expect(self.coord.patch(f"/v1/participants/{participant_id}", body), 200)

    def person(self, p):
        return self.client(self.tokens(p["kind"], sub=p["id"], prg=[p["programme_id"]]))

    def stored(self, event_id):
        rows = self.psql("SELECT body FROM webhook_events WHERE id = %s", event_id)
        assert rows, f"event {event_id} is not in the outbox"
        return rows[0][0]

    def deliveries(self, hook_id, **params):
        return self.coord.walk(f"/v1/webhooks/{hook_id}/deliveries", params)

    def delivery(self, delivery_id):
        return expect(self.coord.get(f"/v1/webhook-deliveries/{delivery_id}"), 200)


@pytest.fixture(scope="module")
def wh(servers, spec, tokens, psql):
    e = Env(servers, spec, tokens, psql)
    yield e
    e.close()


OBJECT_KEY = {"participant.status_changed": "participant_id", "pair.status_changed": "pair_id",
              "meeting.created": "meeting_id", "survey.response_created": "response_id"}


def object_of(event):
    """The id of the object an event is about (its order is kept per object)."""
    return event["data"][OBJECT_KEY[event["type"]]]


def assert_in_order(events):
    """Per object, the sequences delivered are 1, 2, 3, ... with no gap and no repeat."""
    seqs = {}
    for ev in events:
        seqs.setdefault(object_of(ev), []).append(ev["sequence"])
    for obj, s in seqs.items():
        assert s == list(range(1, len(s) + 1)), f"object {obj}: sequences arrived as {s}"
    return seqs


# --------------------------------------------------------------------------- subscriptions (main server)

def new_hook_body(**kw):
    body = {"target_url": "http://127.0.0.1:9/never", "event_types": ["pair.status_changed"],
            "active": False, "description": "test"}
    body.update(kw)
    return body


def test_create_read_patch_delete(coord):
    r = coord.post("/v1/webhooks", new_hook_body(secret="s3cret-s3cret-s3cret-0001"))
    h = expect(r, 201)
    assert r.headers["Location"] == f"/v1/webhooks/{h['id']}"
    assert h["secret"] == "s3cret-s3cret-s3cret-0001" and h["secret_hint"] == "****0001"
    assert h["active"] is False and h["event_types"] == ["pair.status_changed"]
    try:
        g = coord.get(f"/v1/webhooks/{h['id']}")
        got = expect(g, 200)
        assert "secret" not in got and got["secret_hint"] == "****0001"
        assert g.headers["ETag"] == r.headers["ETag"], "the 201's ETag is the one a GET gives"
        assert {k: v for k, v in h.items() if k != "secret"} == got
        listed = coord.walk("/v1/webhooks", {"active": "false"})
        assert [x for x in listed if x["id"] == h["id"]] == [got]
        assert all("secret" not in x for x in listed)
        assert not [x for x in coord.walk("/v1/webhooks", {"active": "true"}) if x["id"] == h["id"]]

        # merge patch; secret rotation is not shown
        p = expect(coord.patch(f"/v1/webhooks/{h['id']}",
                               {"description": None, "event_types": ["meeting.created", "pair.status_changed"],
                                "secret": "another-secret-value-9876"},
                               headers={"If-Match": g.headers["ETag"]}), 200)
        assert "secret" not in p and p["secret_hint"] == "****9876" and p["description"] is None
        assert p["event_types"] == ["meeting.created", "pair.status_changed"]
        expect(coord.patch(f"/v1/webhooks/{h['id']}", {"active": False}, headers={"If-Match": g.headers["ETag"]}),
               412)
        assert expect(coord.get(f"/v1/webhooks/{h['id']}"), 200) == p
    finally:
        expect(coord.delete(f"/v1/webhooks/{h['id']}"), 204)
    expect(coord.get(f"/v1/webhooks/{h['id']}"), 404)
    expect(coord.get(f"/v1/webhooks/{h['id']}/deliveries"), 404)
    expect(coord.delete(f"/v1/webhooks/{h['id']}"), 404)


def test_generated_secret(coord):
    h = expect(coord.post("/v1/webhooks", new_hook_body()), 201)
    try:
        assert h["secret"].startswith("whsec_") and len(h["secret"]) == 54
        int(h["secret"][6:], 16)
        assert h["secret_hint"] == "****" + h["secret"][-4:]
        other = expect(coord.post("/v1/webhooks", new_hook_body()), 201)
        expect(coord.delete(f"/v1/webhooks/{other['id']}"), 204)
        assert other["secret"] != h["secret"]
    finally:
        expect(coord.delete(f"/v1/webhooks/{h['id']}"), 204)


def test_idempotent_create(coord, psql):
    key = str(uuid.uuid4())
    body = new_hook_body(description=unique("idem"))
    a = coord.post("/v1/webhooks", body, headers={"Idempotency-Key": key})
    b = coord.post("/v1/webhooks", body, headers={"Idempotency-Key": key})
    try:
        assert expect(a, 201) == expect(b, 201)
        assert b.headers.get("Idempotent-Replayed") == "true"
        assert psql("SELECT count(*) FROM webhooks WHERE description = %s", body["description"]) == [("1",)]
    finally:
        expect(coord.delete(f"/v1/webhooks/{a.json()['id']}"), 204)


def test_roles(client, tokens, coord, unchanged, make):
    prog = make.programme()["id"]
    h = expect(coord.post("/v1/webhooks", new_hook_body()), 201)
    try:
        others = [tokens(role, prg=[prog]) for role in ("coach", "mentor", "mentee", "researcher")]
        others += [tokens("integration", partner=str(uuid.uuid4())), tokens("coordinator", prg=[prog]),
                   tokens("coordinator", prg=[])]
        d = str(uuid.uuid4())
        with unchanged():
            for tok in others:
                c = client(tok)
                expect(c.get("/v1/webhooks"), 403)
                expect(c.post("/v1/webhooks", new_hook_body()), 403)
                expect(c.get(f"/v1/webhooks/{h['id']}"), 403)
                expect(c.patch(f"/v1/webhooks/{h['id']}", {"active": True}), 403)
                expect(c.delete(f"/v1/webhooks/{h['id']}"), 403)
                expect(c.get(f"/v1/webhooks/{h['id']}/deliveries"), 403)
                expect(c.get(f"/v1/webhook-deliveries/{d}"), 403)
                expect(c.post(f"/v1/webhook-deliveries/{d}/redeliver"), 403)
            anon = client(None)
            expect(anon.get("/v1/webhooks"), 401)
            expect(anon.post("/v1/webhooks", new_hook_body()), 401)
        expect(coord.get(f"/v1/webhooks/{h['id']}/deliveries"), 200)
    finally:
        expect(coord.delete(f"/v1/webhooks/{h['id']}"), 204)


@pytest.mark.parametrize("body,status,pointer", [
    ({"target_url": "ftp://example.org/x"}, 422, "/target_url"),
    ({"target_url": "example.org/hook"}, 422, "/target_url"),
    ({"target_url": "http://"}, 422, "/target_url"),
    ({"target_url": "http://exa mple.org/"}, 422, "/target_url"),
    ({"target_url": 42}, 422, "/target_url"),
    ({"event_types": ["pair.created"]}, 422, "/event_types/0"),
    ({"event_types": []}, 422, "/event_types"),
    ({"event_types": ["meeting.created", "meeting.created"]}, 422, "/event_types/1"),
    ({"event_types": "meeting.created"}, 422, "/event_types"),
    ({"secret": "too-short"}, 422, "/secret"),
    ({"secret": "has spaces in the middle"}, 422, "/secret"),
    ({"active": "yes"}, 422, "/active"),
    ({"description": "x" * 501}, 422, "/description"),
    ({"id": str(uuid.uuid4())}, 422, "/id"),
    ({"secret_hint": "****abcd"}, 400, "/secret_hint"),
    ({"headers": {"X": "y"}}, 400, "/headers"),
])
def test_create_bad_input(coord, unchanged, body, status, pointer):
    full = {"target_url": "https://example.org/hook", "event_types": ["meeting.created"], "active": False}
    full.update(body)
    with unchanged():
        expect(coord.post("/v1/webhooks", full), status, pointer)


def test_create_requires_url_and_types(coord, unchanged):
    with unchanged():
        r = expect(coord.post("/v1/webhooks", {}), 422)
        assert {e["pointer"] for e in r["errors"]} == {"/target_url", "/event_types"}
        expect(coord.post("/v1/webhooks", data=b"{", headers={"Content-Type": "application/json"}), 400)
        expect(coord.post("/v1/webhooks", data=b"{}", headers={"Content-Type": "text/plain"}), 415)


def test_patch_bad_input_and_unknown_ids(coord, unchanged):
    h = expect(coord.post("/v1/webhooks", new_hook_body()), 201)
    try:
        with unchanged():
            for body, status, pointer in [
                ({"target_url": None}, 422, "/target_url"),
                ({"event_types": None}, 422, "/event_types"),
                ({"active": None}, 422, "/active"),
                ({"secret": None}, 422, "/secret"),
                ({"event_types": ["participant.created"]}, 422, "/event_types/0"),
                ({"target_url": "mailto:x@example.org"}, 422, "/target_url"),
                ({"nope": 1}, 400, "/nope"),
            ]:
                expect(coord.patch(f"/v1/webhooks/{h['id']}", body), status, pointer)
            for bad in ("not-a-uuid", str(uuid.uuid4())):
                expect(coord.get(f"/v1/webhooks/{bad}"), 404)
                expect(coord.patch(f"/v1/webhooks/{bad}", {"active": True}), 404)
                expect(coord.delete(f"/v1/webhooks/{bad}"), 404)
                expect(coord.get(f"/v1/webhooks/{bad}/deliveries"), 404)
                expect(coord.get(f"/v1/webhook-deliveries/{bad}"), 404)
                expect(coord.post(f"/v1/webhook-deliveries/{bad}/redeliver"), 404)
            expect(coord.get("/v1/webhooks", params={"active": "maybe"}), 400)
            expect(coord.get("/v1/webhooks", params={"status": "pending"}), 400)
            expect(coord.get(f"/v1/webhooks/{h['id']}/deliveries", params={"status": "lost"}), 400)
            expect(coord.get(f"/v1/webhooks/{h['id']}/deliveries", params={"cursor": "x"}), 400)
            expect(coord.post(f"/v1/webhook-deliveries/{uuid.uuid4()}/redeliver", {"now": True}), 400, "/now")
            expect(coord.request("PUT", f"/v1/webhooks/{h['id']}", json_body={}), 405)
            expect(coord.request("POST", f"/v1/webhooks/{h['id']}/deliveries/{uuid.uuid4()}/redeliver"), 404)
    finally:
        expect(coord.delete(f"/v1/webhooks/{h['id']}"), 204)


def test_paused_subscription_gets_no_events(coord, make, psql):
    """No outbox rows are written for nobody (the main database stays quiet)."""
    h = expect(coord.post("/v1/webhooks", new_hook_body(event_types=EVENT_TYPES)), 201)
    try:
        before = psql("SELECT count(*) FROM webhook_events")
        prog = make.programme()["id"]
        p = make.participant(prog)
        expect(coord.patch(f"/v1/participants/{p['id']}", {"status": "screened"}), 200)
        assert psql("SELECT count(*) FROM webhook_events") == before
        assert expect(coord.get(f"/v1/webhooks/{h['id']}/deliveries"), 200)["items"] == []
    finally:
        expect(coord.delete(f"/v1/webhooks/{h['id']}"), 204)


# --------------------------------------------------------------------------- delivery (servers of their own)

def test_events_arrive_signed_and_in_order(wh, receivers):
    rec = receivers()
    hook = wh.subscribe(rec.url)
    secret = hook["secret"]
    prog = wh.programme()
    # a participant's path
    p = wh.participant(prog)
    for st in ("screened", "waiting"):
        wh.status(p["id"], st)
    # a pair proposed and accepted by both, then a meeting
    mentor = wh.participant(prog, kind="mentor", status="waiting")
    pair = expect(wh.coord.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": p["id"]}), 201)
    expect(wh.person(mentor).post(f"/v1/pairs/{pair['id']}/accept"), 200)
    expect(wh.person(p).post(f"/v1/pairs/{pair['id']}/accept"), 200)
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    meeting = expect(wh.person(p).post(f"/v1/pairs/{pair['id']}/meetings",
                                       {"held_on": today, "duration_minutes": 60, "mode": "video"}), 201)

    expected = {
        p["id"]: ("participant.status_changed",
                  [(None, "applied"), ("applied", "screened"), ("screened", "waiting"), ("waiting", "matched")]),
        mentor["id"]: ("participant.status_changed", [(None, "waiting"), ("waiting", "matched")]),
        pair["id"]: ("pair.status_changed", [(None, "proposed"), ("proposed", "accepted")]),
        meeting["id"]: ("meeting.created", [None]),
    }
    total = sum(len(v[1]) for v in expected.values())
    rec.wait_delivered(total)
    time.sleep(0.3)
    got = rec.delivered()
    assert len(got) == total, "each event exactly once"
    events = [check_request(r, secret) for _, r in got]
    seqs = assert_in_order(events)
    assert {k: len(v) for k, v in seqs.items()} == {k: len(v[1]) for k, v in expected.items()}
    for ev, r in got:
        assert r["body"].decode() == wh.stored(ev["id"]), "the body is sent exactly as stored"
        assert datetime.datetime.fromisoformat(ev["occurred_at"].replace("Z", "+00:00"))
        body = r["body"].decode()
        assert "Hidden" not in body and "@example.org" not in body and "+32" not in body, "no personal data"
        obj = object_of(ev)
        etype, steps = expected[obj]
        assert ev["type"] == etype
        if etype == "meeting.created":
            assert ev["data"] == {"meeting_id": meeting["id"], "pair_id": pair["id"], "programme_id": prog,
                                  "held_on": today}
            continue
        old, new = steps[ev["sequence"] - 1]
        assert (ev["data"]["old_status"], ev["data"]["new_status"]) == (old, new)
        assert ev["data"]["programme_id"] == prog
        if etype == "pair.status_changed":
            assert ev["data"]["mentor_id"] == mentor["id"] and ev["data"]["mentee_id"] == p["id"]
            assert set(ev["data"]) == {"pair_id", "programme_id", "mentor_id", "mentee_id", "coach_id",
                                       "old_status", "new_status", "end_reason"}
        else:
            assert set(ev["data"]) == {"participant_id", "programme_id", "kind", "old_status", "new_status"}

    # the deliveries as listed: one per event, delivered on the first attempt
    ds = wh.deliveries(hook["id"])
    assert len(ds) == total and {d["event_id"] for d in ds} == {ev["id"] for ev in events}
    for d in ds:
        assert d["status"] == "delivered" and d["attempts"] == 1 and d["last_status_code"] == 200
        assert d["next_attempt_at"] is None and d["delivered_at"] and d["last_error"] is None
        assert d["webhook_id"] == hook["id"] and d["redelivery_of"] is None
    by_delivery = {r["headers"]["x-koppel-delivery"]: json.loads(r["body"]) for _, r in got}
    assert {d["id"]: d["event"] for d in ds} == by_delivery
    assert wh.deliveries(hook["id"], status="pending") == []
    assert len(wh.deliveries(hook["id"], status="delivered")) == total
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)


def test_subscription_gets_only_its_types(wh, receivers):
    rec_p, rec_all = receivers(), receivers()
    only_pairs = wh.subscribe(rec_p.url, ["pair.status_changed"])
    everything = wh.subscribe(rec_all.url)
    prog = wh.programme()
    mentee = wh.participant(prog, status="waiting")
    mentor = wh.participant(prog, kind="mentor", status="waiting")
    pair = expect(wh.coord.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"]}), 201)
    rec_all.wait_delivered(5)  # 2 created + pair proposed + 2 matched
    rec_p.wait_delivered(1)
    time.sleep(0.5)
    assert [e["type"] for e, _ in rec_p.delivered()] == ["pair.status_changed"]
    assert rec_p.delivered()[0][0]["data"]["pair_id"] == pair["id"]
    # the same event goes to both, with the same body and a delivery id of each
    ev_p, req_p = rec_p.delivered()[0]
    ev_a, req_a = [x for x in rec_all.delivered() if x[0]["id"] == ev_p["id"]][0]
    assert req_p["body"] == req_a["body"]
    assert req_p["headers"]["x-koppel-delivery"] != req_a["headers"]["x-koppel-delivery"]
    verify_signature(req_p, only_pairs["secret"])
    verify_signature(req_a, everything["secret"])
    for h in (only_pairs, everything):
        expect(wh.coord.delete(f"/v1/webhooks/{h['id']}"), 204)


def test_receiver_down_gets_everything_in_order(wh, receivers):
    """The first attempts fail (500); every event arrives afterwards, in order per object, as stored."""
    failures = 3
    rec = receivers(lambda n, req: (500, 0) if n < failures else (200, 0))
    hook = wh.subscribe(rec.url, ["participant.status_changed"])
    prog = wh.programme()
    a = wh.participant(prog)
    b = wh.participant(prog)
    for st in ("screened", "waiting", "withdrawn", "applied"):
        wh.status(a["id"], st)
    wh.status(b["id"], "rejected")
    total = 5 + 2
    rec.wait_delivered(total)
    time.sleep(0.5)
    reqs = rec.snapshot()
    assert len(reqs) == total + failures, "each failure was retried, nothing sent twice once delivered"
    assert [r["status"] for r in reqs[:failures]] == [500] * failures
    # what a receiver that was down sees: per object, never a later event before an earlier one
    seen = {}
    for r in reqs:
        ev = check_request(r, hook["secret"])
        s = seen.setdefault(object_of(ev), [])
        assert not s or ev["sequence"] >= s[-1], f"event {ev['sequence']} after {s[-1]} of the same object"
        s.append(ev["sequence"])
    events = [e for e, _ in rec.delivered()]
    assert_in_order(events)
    for ev, r in rec.delivered():
        assert r["body"].decode() == wh.stored(ev["id"])
    assert [(e["data"]["old_status"], e["data"]["new_status"]) for e in events
            if e["data"]["participant_id"] == a["id"]] == [
        (None, "applied"), ("applied", "screened"), ("screened", "waiting"), ("waiting", "withdrawn"),
        ("withdrawn", "applied")]
    # the deliveries show the retries: attempts add up to the requests received
    ds = wh.deliveries(hook["id"])
    assert len(ds) == total and all(d["status"] == "delivered" for d in ds)
    assert sum(d["attempts"] for d in ds) == len(reqs)
    retried = [d for d in ds if d["attempts"] > 1]
    assert retried and all(d["last_status_code"] == 200 and d["last_error"] is None for d in retried)
    # the same delivery id on each retry
    ids = [r["headers"]["x-koppel-delivery"] for r in reqs]
    for d in ds:
        assert ids.count(d["id"]) == d["attempts"]
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)


def test_gives_up_then_redeliver(wh, receivers):
    mode = {"status": 503, "delay": 0}
    rec = receivers(lambda n, req: (mode["status"], mode["delay"]))
    hook = wh.subscribe(rec.url, ["participant.status_changed"])
    prog = wh.programme()
    p = wh.participant(prog)
    # every attempt fails: after MAX_ATTEMPTS the delivery is failed
    failed = wait_until(lambda: wh.deliveries(hook["id"], status="failed"), what="a failed delivery")
    d = failed[0]
    assert d["attempts"] == MAX_ATTEMPTS and d["last_status_code"] == 503 and d["next_attempt_at"] is None
    assert "503" in d["last_error"] and d["delivered_at"] is None
    assert len(rec.snapshot()) == MAX_ATTEMPTS
    gaps = [b["at"] - a["at"] for a, b in zip(rec.snapshot(), rec.snapshot()[1:])]
    for i, gap in enumerate(gaps):  # exponential backoff: 100, 200, 400, 800 ms
        assert gap >= BACKOFF_MS * 2 ** i / 1000 * 0.9, f"retry {i + 1} came after {gap:.3f}s"
    # a failed event does not hold back the next event of the same object
    wh.status(p["id"], "screened")
    wait_until(lambda: len(wh.deliveries(hook["id"], status="failed")) == 2, what="the second failure")

    # the receiver is back: re-send the first event
    mode["status"] = 200
    n = len(rec.snapshot())
    r = wh.coord.post(f"/v1/webhook-deliveries/{d['id']}/redeliver")
    again = expect(r, 201)
    assert r.headers["Location"] == f"/v1/webhook-deliveries/{again['id']}"
    assert again["status"] == "pending" and again["attempts"] == 0 and again["redelivery_of"] == d["id"]
    assert again["event_id"] == d["event_id"] and again["event"] == d["event"]
    wait_until(lambda: len(rec.delivered()) == 1, what="the redelivery")
    ev, req = rec.delivered()[0]
    assert ev["id"] == d["event_id"] and req["headers"]["x-koppel-delivery"] == again["id"]
    assert req["body"].decode() == wh.stored(d["event_id"])
    verify_signature(req, hook["secret"])
    wait_until(lambda: wh.delivery(again["id"])["status"] == "delivered", what="the redelivery recorded")
    done = wh.delivery(again["id"])
    assert done["attempts"] == 1 and done["last_status_code"] == 200 and done["delivered_at"]
    assert wh.delivery(d["id"])["status"] == "failed"
    assert len(rec.snapshot()) == n + 1

    # while a redelivery is pending, another is a 409; a paused subscription too
    mode["delay"] = 2
    second = expect(wh.coord.post(f"/v1/webhook-deliveries/{d['id']}/redeliver", {}), 201)
    expect(wh.coord.post(f"/v1/webhook-deliveries/{d['id']}/redeliver"), 409)
    expect(wh.coord.post(f"/v1/webhook-deliveries/{second['id']}/redeliver"), 409)
    wait_until(lambda: wh.delivery(second["id"])["status"] == "delivered", what="the second redelivery")
    mode["delay"] = 0
    expect(wh.coord.patch(f"/v1/webhooks/{hook['id']}", {"active": False}), 200)
    expect(wh.coord.post(f"/v1/webhook-deliveries/{d['id']}/redeliver"), 409)
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)
    expect(wh.coord.get(f"/v1/webhook-deliveries/{d['id']}"), 404)


def test_paused_subscription_waits_and_resumes(wh, receivers):
    # the first attempt is slow and fails: the subscription is paused meanwhile
    rec = receivers(lambda n, req: (500, 1) if n == 0 else (200, 0))
    hook = wh.subscribe(rec.url, ["participant.status_changed"])
    prog = wh.programme()
    p = wh.participant(prog)
    wait_until(lambda: rec.snapshot(), what="the first attempt")
    expect(wh.coord.patch(f"/v1/webhooks/{hook['id']}", {"active": False}), 200)
    wait_until(lambda: wh.deliveries(hook["id"])[0]["last_status_code"] == 500, what="the failure recorded")
    wh.status(p["id"], "screened")  # no delivery is made for a paused subscription
    time.sleep(1.5)
    assert len(rec.snapshot()) == 1, "a paused subscription's pending delivery waits"
    pending = wh.deliveries(hook["id"])
    assert len(pending) == 1 and pending[0]["status"] == "pending" and pending[0]["attempts"] == 1
    expect(wh.coord.patch(f"/v1/webhooks/{hook['id']}", {"active": True}), 200)
    rec.wait_delivered(1)
    time.sleep(0.5)
    assert [e["sequence"] for e, _ in rec.delivered()] == [1]
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)


def test_secret_rotation_signs_with_the_new_secret(wh, receivers):
    rec = receivers()
    hook = wh.subscribe(rec.url, ["participant.status_changed"], secret="first-secret-0123456789")
    prog = wh.programme()
    p = wh.participant(prog)
    rec.wait_delivered(1)
    verify_signature(rec.delivered()[0][1], "first-secret-0123456789")
    expect(wh.coord.patch(f"/v1/webhooks/{hook['id']}", {"secret": "second-secret-9876543210"}), 200)
    wh.status(p["id"], "screened")
    rec.wait_delivered(2)
    verify_signature(rec.delivered()[1][1], "second-secret-9876543210")
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)


def test_rolled_back_change_sends_nothing(wh, receivers):
    rec = receivers()
    hook = wh.subscribe(rec.url, ["participant.status_changed"])
    prog = wh.programme()
    p = wh.participant(prog)
    rec.wait_delivered(1)
    before = wh.psql("SELECT count(*) FROM webhook_events")
    expect(wh.coord.patch(f"/v1/participants/{p['id']}", {"status": "active"}), 409)  # illegal transition
    time.sleep(1)
    assert wh.psql("SELECT count(*) FROM webhook_events") == before
    assert len(rec.snapshot()) == 1
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)


def test_survey_response_event(wh, receivers):
    """survey.response_created, from the outbox trigger on survey_responses."""
    if wh.psql("SELECT to_regclass('survey_responses') IS NOT NULL") != [("t",)]:
        pytest.skip("no survey_responses table in this schema")
    rec = receivers()
    hook = wh.subscribe(rec.url, ["survey.response_created"])
    prog = wh.programme()
    p = wh.participant(prog, status="waiting")
    survey = wh.psql(
        "INSERT INTO surveys (programme_id, title, phase, audience, opens_on, closes_on, questions) "
        "VALUES (%s, 'Intake', 'intake', 'both', current_date, current_date + 30, "
        "'[{\"key\": \"q1\", \"text\": \"How?\", \"type\": \"text\", \"required\": false}]') RETURNING id",
        prog)[0][0]
    response = wh.psql("INSERT INTO survey_responses (survey_id, respondent_id, answers) "
                       "VALUES (%s, %s, '{\"q1\": \"private words\"}') RETURNING id", survey, p["id"])[0][0]
    rec.wait_delivered(1)
    ev, req = rec.delivered()[0]
    verify_signature(req, hook["secret"])
    assert ev["type"] == "survey.response_created" and ev["sequence"] == 1
    assert ev["data"] == {"response_id": response, "survey_id": survey, "programme_id": prog,
                          "participant_id": p["id"]}
    assert b"private words" not in req["body"]
    expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)


def test_two_replicas_deliver_each_event_once_in_order(wh, receivers):
    """Two workers on one database: SKIP LOCKED shares the work, the order per object holds."""
    second = wh.start("webhooks-2")
    try:
        rec = receivers(lambda n, req: (500, 0) if n % 5 == 2 else (200, 0.01))
        hook = wh.subscribe(rec.url, ["participant.status_changed"])
        prog = wh.programme()
        people = [wh.participant(prog) for _ in range(4)]
        other = wh.client(server=second)
        for st in ("screened", "waiting", "withdrawn"):
            for i, p in enumerate(people):
                c = other if i % 2 else wh.coord
                expect(c.patch(f"/v1/participants/{p['id']}", {"status": st}), 200)
        total = 4 * 4
        rec.wait_delivered(total)
        time.sleep(1)
        events = [e for e, _ in rec.delivered()]
        assert len(events) == total and len({e["id"] for e in events}) == total, "each event delivered once"
        assert_in_order(events)
        seen = {}
        for r in rec.snapshot():
            ev = json.loads(r["body"])
            s = seen.setdefault(object_of(ev), [])
            assert not s or ev["sequence"] >= s[-1], "a later event before an earlier one of the same object"
            s.append(ev["sequence"])
        expect(wh.coord.delete(f"/v1/webhooks/{hook['id']}"), 204)
    finally:
        second.stop_clean()


def test_sigterm_interrupts_an_attempt_without_counting_it(servers, spec, tokens, psql, receivers):
    """SIGTERM while a receiver is slow: the worker stops at once, exits 0, and the
    attempt is not counted; the next start delivers it."""
    env = Env(servers, spec, tokens, psql)
    try:
        gate = threading.Event()
        rec = receivers(lambda n, req: (200, 0) if gate.is_set() else (200, 8))
        hook = env.subscribe(rec.url, ["participant.status_changed"])
        p = env.participant(env.programme())
        wait_until(lambda: rec.snapshot(), what="the slow attempt")
        t0 = time.time()
        assert env.server.stop() == 0
        assert time.time() - t0 < 6, "the worker did not wait for the slow receiver"
        d = env.psql("SELECT status, attempts FROM webhook_deliveries WHERE webhook_id = %s", hook["id"])
        assert d == [("pending", "0")]
        gate.set()
        env.server = env.start("webhooks-again")
        env.coord = env.client()
        wait_until(lambda: [x for x in env.deliveries(hook["id"]) if x["status"] == "delivered"],
                   what="delivery after the restart")
        d = env.deliveries(hook["id"])
        assert len(d) == 1 and d[0]["attempts"] == 1
        assert json.loads(rec.snapshot()[-1]["body"])["data"]["participant_id"] == p["id"]
    finally:
        env.close()


@pytest.mark.parametrize("name,value", [("KOPPEL_WEBHOOK_BACKOFF_MS", "fast"), ("KOPPEL_WEBHOOK_BACKOFF_MS", "0"),
                                        ("KOPPEL_WEBHOOK_MAX_ATTEMPTS", "101"), ("KOPPEL_WEBHOOK_LISTEN", "maybe")])
def test_bad_worker_configuration(name, value):
    """A bad KOPPEL_WEBHOOK_* value is a configuration error: serve exits 2 naming it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    env.update(KOPPEL_DATABASE_URL=os.environ["KOPPEL_TEST_DATABASE_URL"], KOPPEL_LISTEN="127.0.0.1:9",
               **{name: value})
    r = subprocess.run([os.environ["KOPPEL_BIN"], "serve"], env=env, capture_output=True, timeout=60)
    assert r.returncode == 2 and name.encode() in r.stderr, r.stderr[-2000:]


def test_polling_without_listen(wh, receivers):
    """KOPPEL_WEBHOOK_LISTEN=off (pgbouncer in transaction mode): the worker polls every second."""
    polling = wh.start("webhooks-poll", KOPPEL_WEBHOOK_LISTEN="off")
    # the module's server would deliver too: pause it by stopping it for this test
    wh.server.stop_clean()
    try:
        rec = receivers()
        c = wh.client(server=polling)
        hook = expect(c.post("/v1/webhooks", {"target_url": rec.url, "event_types": ["participant.status_changed"]}),
                      201)
        p = expect(c.post("/v1/participants", {"programme_id": expect(c.post("/v1/programmes", {
            "name": unique("programme")}), 201)["id"], "kind": "mentee", "given_name": "A",
            "family_name": "B"}), 201)
        rec.wait_delivered(1, timeout=10)
        assert rec.delivered()[0][0]["data"]["participant_id"] == p["id"]
        expect(c.delete(f"/v1/webhooks/{hook['id']}"), 204)
    finally:
        polling.stop_clean()
        wh.server = wh.start("webhooks-after-poll")
        wh.coord = wh.client()


# --------------------------------------------------------------------------- the backlog in /metrics

def webhook_metrics(base):
    """koppel_webhook_* samples of a server's /metrics, as {name: float}."""
    import requests
    text = requests.get(base + "/metrics", timeout=30).text
    out = {}
    for line in text.splitlines():
        if line.startswith("koppel_webhook_"):
            name, value = line.split(" ")
            out[name] = float(value)
    return out


def test_backlog_metric(wh, receivers):
    """A receiver that is down: the backlog counts its pending deliveries and the oldest one ages;
    once it is up and everything is delivered, both go back to 0."""
    # a slower backoff than the module's, so the deliveries stay pending while the receiver is down
    wh.server.stop_clean()
    srv = wh.servers.start("webhooks-backlog", KOPPEL_DATABASE_URL=wh.url, KOPPEL_WEBHOOK_BACKOFF_MS=500,
                           KOPPEL_WEBHOOK_MAX_ATTEMPTS=30, KOPPEL_WEBHOOK_ALLOW_PRIVATE=1)  # a loopback receiver
    try:
        down = {"on": True}
        rec = receivers(lambda n, req: (503 if down["on"] else 200, 0))
        c = wh.client(server=srv)
        # what a failed test may have left behind in this module's database would count too
        for h in c.walk("/v1/webhooks"):
            expect(c.delete(f"/v1/webhooks/{h['id']}"), 204)
        wait_until(lambda: webhook_metrics(srv.base).get("koppel_webhook_backlog") == 0, what="an empty backlog")
        assert webhook_metrics(srv.base)["koppel_webhook_oldest_pending_seconds"] == 0
        hook = expect(c.post("/v1/webhooks", {"target_url": rec.url, "event_types": ["participant.status_changed"]}),
                      201)
        prog = expect(c.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]
        for _ in range(3):
            expect(c.post("/v1/participants", {"programme_id": prog, "kind": "mentee", "given_name": "A",
                                               "family_name": unique("family")}), 201)
        wait_until(lambda: len(rec.snapshot()) >= 2, what="failed attempts")
        m = wait_until(lambda: (lambda m: m if m.get("koppel_webhook_backlog") == 3 else None)(
            webhook_metrics(srv.base)), what="a backlog of 3")
        assert m["koppel_webhook_oldest_pending_seconds"] > 0
        time.sleep(1.2)
        later = webhook_metrics(srv.base)
        assert later["koppel_webhook_backlog"] == 3
        assert later["koppel_webhook_oldest_pending_seconds"] >= m["koppel_webhook_oldest_pending_seconds"] + 1
        down["on"] = False
        rec.wait_delivered(3)
        wait_until(lambda: webhook_metrics(srv.base) == {"koppel_webhook_backlog": 0,
                                                         "koppel_webhook_oldest_pending_seconds": 0},
                   what="the backlog back to 0")
        expect(c.delete(f"/v1/webhooks/{hook['id']}"), 204)
    finally:
        srv.stop_clean()
        wh.server = wh.start("webhooks-after-backlog")
        wh.coord = wh.client()
