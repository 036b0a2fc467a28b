"""The per-subject rate limit (issue 8, item 5): KOPPEL_RATE_LIMIT requests per
second per subject, bursts of KOPPEL_RATE_BURST (service/ratelimit.c).

A server of its own with 5 per second and bursts of 5: a subject past its
burst gets 429 problem+json with Retry-After (whole seconds, at least 1) and
nothing is done; another subject is served meanwhile; after Retry-After the
subject is served again; /health, /ready and /metrics are never limited;
/openapi.yaml and /docs are limited per client address; a missing token is
still a 401. The suite's main server (no KOPPEL_RATE_LIMIT) never answers 429.
"""
import re
import subprocess
import threading
import time
import uuid

import pytest

from conftest import expect, unique
from faultkit import client_for

RATE = 5
BURST = 5


@pytest.fixture(scope="module")
def limited(servers):
    s = servers.start("ratelimit", KOPPEL_RATE_LIMIT=str(RATE), KOPPEL_RATE_BURST=str(BURST))
    yield s
    s.stop_clean()


def subject(limited, spec, tokens, role="coordinator"):
    """A client with a token of a fresh subject (a full bucket)."""
    return client_for(limited, spec, tokens(role, sub=str(uuid.uuid4()), prg="*"))


def until_limited(c, path="/v1/programmes", most=60):
    """GETs path until a 429; returns (the statuses before it, the 429 response)."""
    seen = []
    for _ in range(most):
        r = c.get(path, params={"limit": 1} if path.startswith("/v1/") else None)
        if r.status_code == 429:
            return seen, r
        seen.append(r.status_code)
    raise AssertionError(f"no 429 in {most} requests to {path}: {seen}")


def retry_after(r):
    v = r.headers.get("Retry-After", "")
    assert re.fullmatch(r"[1-9][0-9]*", v), f"Retry-After must be whole seconds >= 1, got {v!r}"
    return int(v)


def metric(c, name, **labels):
    text = c.get("/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else "") + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_subject_past_its_burst_gets_429_with_retry_after(limited, spec, tokens):
    c = subject(limited, spec, tokens)
    t0 = time.monotonic()
    served, r = until_limited(c)
    elapsed = time.monotonic() - t0
    assert served[:BURST] == [200] * BURST, served
    # the burst, plus what the bucket earned back while the requests ran
    assert len(served) <= BURST + int(elapsed * RATE) + 1, (served, elapsed)
    body = expect(r, 429)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert body["type"].endswith("/429") and body["title"] == "Too Many Requests"
    assert f"{RATE} requests per second" in body["detail"] and "retry after" in body["detail"]
    assert retry_after(r) == 1  # a token comes back every 200 ms
    assert r.headers.get("X-Request-Id")


def test_another_subject_is_served_meanwhile(limited, spec, tokens):
    a, b = subject(limited, spec, tokens), subject(limited, spec, tokens, role="coach")
    until_limited(a)
    for _ in range(BURST):
        expect(b.get("/v1/programmes", params={"limit": 1}), 200)
    expect(a.get("/v1/programmes", params={"limit": 1}), 429)


def test_after_retry_after_the_subject_is_served_again(limited, spec, tokens):
    c = subject(limited, spec, tokens)
    _, r = until_limited(c)
    time.sleep(retry_after(r))
    # a second refills the whole bucket (5 per second, bursts of 5)
    for _ in range(BURST):
        expect(c.get("/v1/programmes", params={"limit": 1}), 200)


def test_every_route_of_a_subject_shares_its_bucket(limited, spec, tokens):
    c = subject(limited, spec, tokens, role="researcher")
    statuses = [c.get("/v1/participants").status_code for _ in range(BURST)]
    assert statuses == [403] * BURST  # refused requests spend tokens too
    expect(c.get("/v1/programmes", params={"limit": 1}), 429)


def test_a_refused_post_changes_nothing_and_its_key_is_not_spent(limited, spec, tokens, unchanged):
    c = subject(limited, spec, tokens)
    body = {"name": unique("limited")}
    key = f"rl-{uuid.uuid4()}"
    with unchanged():
        until_limited(c)
        r = c.post("/v1/programmes", body, headers={"Idempotency-Key": key})
        expect(r, 429)
        retry_after(r)
    time.sleep(retry_after(r))
    created = expect(c.post("/v1/programmes", body, headers={"Idempotency-Key": key}), 201)
    assert created["name"] == body["name"]


def test_probes_and_metrics_are_never_limited(limited, spec, tokens):
    anon = client_for(limited, spec)
    authed = subject(limited, spec, tokens)
    for _ in range(4 * BURST):
        for path in ("/health", "/ready", "/metrics"):
            expect(anon.get(path), 200)
            expect(authed.get(path), 200)


def test_public_documents_are_limited_per_address(limited, spec, tokens):
    anon = client_for(limited, spec)
    served, r = until_limited(anon, "/openapi.yaml")
    assert served[:BURST] == [200] * BURST, served
    expect(r, 429)
    assert "from this address" in r.json()["detail"]
    expect(anon.get("/docs"), 429)  # the same address, the same bucket
    expect(anon.get("/health"), 200)
    # a subject's bucket is its own, whatever its address
    expect(subject(limited, spec, tokens).get("/v1/programmes", params={"limit": 1}), 200)
    time.sleep(retry_after(r))
    expect(anon.get("/docs"), 200)


def test_a_missing_token_is_still_a_401(limited, spec):
    anon = client_for(limited, spec)
    for _ in range(3 * BURST):
        expect(anon.get("/v1/programmes"), 401)


def test_429s_are_counted_in_metrics(limited, spec, tokens):
    probe = client_for(limited, spec)
    labels = {"method": "GET", "route": "/v1/programmes", "status": "4xx"}
    before_total = metric(probe, "koppel_http_rate_limited_total")
    before_4xx = metric(probe, "koppel_http_requests_total", **labels)
    until_limited(subject(limited, spec, tokens))
    assert metric(probe, "koppel_http_rate_limited_total") >= before_total + 1
    assert metric(probe, "koppel_http_requests_total", **labels) >= before_4xx + 1


@pytest.mark.parametrize("name,value", [("KOPPEL_RATE_LIMIT", "-1"), ("KOPPEL_RATE_LIMIT", "fast"),
                                        ("KOPPEL_RATE_LIMIT", "1000001"), ("KOPPEL_RATE_BURST", "0")])
def test_a_bad_setting_stops_the_process_at_start(servers, name, value):
    env = dict(servers.base_env, KOPPEL_LISTEN="127.0.0.1:1", **{name: value})
    p = subprocess.run([servers.binary, "serve"], env=env, capture_output=True, timeout=60)
    assert p.returncode != 0 and name.encode() in p.stdout + p.stderr


def test_the_default_server_never_answers_429(client, tokens):
    """No KOPPEL_RATE_LIMIT: a burst of 200 requests of one subject, from 4 threads, is all served."""
    token = tokens("coordinator", sub=str(uuid.uuid4()), prg="*")
    statuses, lock = [], threading.Lock()

    def burst():
        c = client(token)
        got = [c.get("/v1/programmes", params={"limit": 1}).status_code for _ in range(50)]
        with lock:
            statuses.extend(got)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(statuses) == 200 and set(statuses) == {200}, sorted(set(statuses))
