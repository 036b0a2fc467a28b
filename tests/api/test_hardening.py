"""Hardening of the HTTP layer and of outbound requests (issue 8).

- KOPPEL_IDLE_TIMEOUT_S (tested with 3 s in test_abuse) refuses a bad value at start.
- Oversized request lines and header blocks get 414 / 431 as
  application/problem+json (not libmicrohttpd's HTML) and a closed connection.
- Webhook targets (SSRF): a target_url that resolves to a loopback, private,
  link-local or otherwise non-public address is a 422 naming /target_url,
  and the delivery worker does not connect to such an address even when it
  got into the table another way (a DNS answer that changed), unless
  KOPPEL_WEBHOOK_ALLOW_PRIVATE=1 (the suite's default, for its loopback
  receivers)."""
import json
import socket
import subprocess
import threading
import time

import pytest

from conftest import expect, make_psql, unique
from faultkit import SLOW, FreshDatabase, client_for, header_of, port_of, raw_exchange, status_of


@pytest.fixture(scope="module")
def fresh(psql, servers):
    """A database of its own: no other server's webhook worker delivers its events."""
    db = FreshDatabase(psql, servers.binary, "hardening")
    db.sql = make_psql(db.url)
    yield db
    db.sql.close()
    db.drop()


@pytest.fixture(scope="module")
def strict(servers, fresh):
    """A server as production runs it: webhook targets must be public."""
    s = servers.start("strict", KOPPEL_DATABASE_URL=fresh.url, KOPPEL_WEBHOOK_ALLOW_PRIVATE=None)
    yield s
    s.stop_clean()


def hooks(fresh):
    return fresh.sql("SELECT count(*), coalesce(string_agg(target_url, ' '), '') FROM webhooks")[0]


@pytest.fixture(scope="module")
def admin(strict, spec, tokens):
    return client_for(strict, spec, tokens("coordinator", prg="*"))


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize("value", ["0", "abc", "3601"])
def test_a_bad_idle_timeout_stops_the_process_at_start(servers, value):
    env = dict(servers.base_env, KOPPEL_IDLE_TIMEOUT_S=value, KOPPEL_LISTEN="127.0.0.1:1")
    p = subprocess.run([servers.binary, "serve"], env=env, capture_output=True, timeout=60)
    assert p.returncode != 0 and b"KOPPEL_IDLE_TIMEOUT_S" in p.stdout + p.stderr


# ---------------------------------------------------------------- 414 / 431

@pytest.mark.parametrize("what,status,request_bytes", [
    ("a 9 KiB URL", 414, b"GET /v1/programmes?q=" + b"a" * 9216 + b" HTTP/1.1\r\nHost: koppel\r\n\r\n"),
    ("a 64 KiB path", 414, b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: koppel\r\n\r\n"),
    ("a 40 KiB header", 431, b"GET /health HTTP/1.1\r\nHost: koppel\r\nX-Big: " + b"a" * 40960 + b"\r\n\r\n"),
    ("a 64 KiB header", 431, b"GET /health HTTP/1.1\r\nHost: koppel\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"),
    ("150 headers", 431, b"GET /health HTTP/1.1\r\nHost: koppel\r\n" +
     b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"),
])
def test_oversized_requests_get_a_problem_and_a_closed_connection(strict, what, status, request_bytes):
    raw = raw_exchange(port_of(strict), request_bytes, timeout=10 * SLOW)
    assert status_of(raw) == status, f"{what}: {raw[:300]!r}"
    assert header_of(raw, "Content-Type") == "application/problem+json", raw[:300]
    assert header_of(raw, "Connection") == "close"
    body = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    assert body["status"] == status and body["type"].endswith(f"/{status}") and body["detail"]


def test_requests_within_the_limits_are_served(strict):
    raw = raw_exchange(port_of(strict), b"GET /health?" + b"a" * 8000 + b" HTTP/1.1\r\nHost: koppel\r\n"
                       b"Connection: close\r\n\r\n")
    assert status_of(raw) == 200, raw[:300]
    raw = raw_exchange(port_of(strict), b"GET /health HTTP/1.1\r\nHost: koppel\r\nConnection: close\r\n" +
                       b"".join(b"X-H%d: v\r\n" % i for i in range(90)) + b"\r\n")
    assert status_of(raw) == 200, raw[:300]


# ---------------------------------------------------------------- webhook targets (SSRF)

PRIVATE_TARGETS = [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]/hook", "http://10.1.2.3/hook",
    "http://172.20.0.5/hook", "http://192.168.1.10/hook", "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook", "http://0.0.0.0/hook", "http://[fd00::1]/hook", "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://2130706433/hook", "http://0x7f.1/hook", "https://224.0.0.1/hook",
]


@pytest.mark.parametrize("target", PRIVATE_TARGETS)
def test_a_private_webhook_target_is_refused(admin, fresh, target):
    body = {"target_url": target, "event_types": ["pair.status_changed"], "active": False}
    before = hooks(fresh)
    r = expect(admin.post("/v1/webhooks", body), 422, "/target_url")
    assert hooks(fresh) == before
    assert "KOPPEL_WEBHOOK_ALLOW_PRIVATE" in r["errors"][0]["message"]


def test_a_public_target_is_accepted_and_cannot_be_moved_to_a_private_one(admin, fresh):
    body = {"target_url": "https://93.184.216.34/hooks", "event_types": ["pair.status_changed"], "active": False}
    h = expect(admin.post("/v1/webhooks", body), 201)
    before = hooks(fresh)
    expect(admin.patch(f"/v1/webhooks/{h['id']}", {"target_url": "http://10.0.0.1/x"}), 422, "/target_url")
    assert hooks(fresh) == before
    expect(admin.patch(f"/v1/webhooks/{h['id']}", {"description": "still public"}), 200)
    expect(admin.delete(f"/v1/webhooks/{h['id']}"), 204)


def test_the_worker_does_not_connect_to_a_private_address(strict, admin, fresh):
    """A subscription whose target turned private after it was checked (here: written straight into the
    table) gets failed attempts, and the receiver on loopback never sees a request."""
    psql = fresh.sql
    hits = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                c, _ = listener.accept()
                hits.append(c.recv(1024))
                c.close()
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    hook = psql("INSERT INTO webhooks (target_url, event_types, secret, active) "
                "VALUES (%s, ARRAY['participant.status_changed'], %s, true) RETURNING id",
                f"http://127.0.0.1:{port}/hook", "s" * 24)[0][0]
    try:
        prg = expect(admin.post("/v1/programmes", {"name": unique("ssrf")}), 201)["id"]
        expect(admin.post("/v1/participants", {"programme_id": prg, "kind": "mentor", "given_name": "A",
                                                "family_name": "B"}), 201)
        deadline = time.monotonic() + 20 * SLOW
        row = None
        while time.monotonic() < deadline:
            row = psql("SELECT attempts, last_error FROM webhook_deliveries WHERE webhook_id = %s", hook)
            if row and int(row[0][0]) >= 1 and row[0][1]:
                break
            time.sleep(0.2)
        assert row and int(row[0][0]) >= 1, f"no attempt was made: {row}"
        assert "non-public" in row[0][1], row
        assert hits == [], f"the worker connected to the private address: {hits}"
    finally:
        stop.set()
        t.join(5)
        listener.close()
        psql("DELETE FROM webhooks WHERE id = %s", hook)


def test_a_bad_allow_private_value_stops_the_process_at_start(servers):
    env = dict(servers.base_env, KOPPEL_WEBHOOK_ALLOW_PRIVATE="yes", KOPPEL_LISTEN="127.0.0.1:1")
    p = subprocess.run([servers.binary, "serve"], env=env, capture_output=True, timeout=60)
    assert p.returncode != 0 and b"KOPPEL_WEBHOOK_ALLOW_PRIVATE" in p.stdout + p.stderr
