"""Cross-cutting HTTP features: Idempotency-Key on POST, CORS, /metrics, /docs, OPTIONS."""
import hashlib
import json
import re
import threading
import uuid

import requests

from conftest import expect, unique


def _programme_count(psql, name):
    return int(psql("SELECT count(*) FROM programmes WHERE name = %s", name)[0][0])


# --------------------------------------------------------------------------- Idempotency-Key

def test_retry_with_same_key_replays_the_first_response_without_a_second_effect(coord, psql):
    name = unique("idem")
    key = str(uuid.uuid4())
    first = coord.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": key})
    body = expect(first, 201)
    assert "Idempotent-Replayed" not in first.headers
    again = coord.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": key})
    expect(again, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == body
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert _programme_count(psql, name) == 1


def test_same_request_in_another_json_layout_is_the_same_request(coord, psql):
    name = unique("idem")
    key = str(uuid.uuid4())
    expect(coord.post("/v1/programmes", {"name": name, "status": "planned"}, headers={"Idempotency-Key": key}), 201)
    raw = ('{ "status" : "planned",\n "name" : "%s" }' % name).encode()
    r = coord.request("POST", "/v1/programmes", data=raw,
                      headers={"Idempotency-Key": key, "Content-Type": "application/json"})
    expect(r, 201)
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert _programme_count(psql, name) == 1


def test_same_key_with_another_body_is_422_and_changes_nothing(coord, psql):
    name = unique("idem")
    key = str(uuid.uuid4())
    expect(coord.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": key}), 201)
    other = unique("idem-other")
    r = coord.post("/v1/programmes", {"name": other}, headers={"Idempotency-Key": key})
    expect(r, 422)
    assert "Idempotency-Key" in r.json()["detail"]
    assert _programme_count(psql, other) == 0


def test_a_refused_request_is_replayed_too(coord):
    key = str(uuid.uuid4())
    r1 = coord.post("/v1/programmes", {"name": ""}, headers={"Idempotency-Key": key})
    expect(r1, 422, "/name")
    r2 = coord.post("/v1/programmes", {"name": ""}, headers={"Idempotency-Key": key})
    expect(r2, 422, "/name")
    assert r2.headers.get("Idempotent-Replayed") == "true"


def test_retry_while_the_first_is_still_running_is_409(coord, tokens, psql, spec):
    # A claimed key without a stored response is what a running first request leaves.
    sub = str(uuid.uuid4())
    c = coord.with_token(tokens("coordinator", sub=sub, prg="*"))
    key = str(uuid.uuid4())
    body = {"name": unique("idem")}
    # the service hashes method, path and the body in canonical form (sorted keys, compact)
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(("POST /v1/programmes\n" + canon).encode()).hexdigest()
    psql("INSERT INTO idempotency_keys (subject, key, method, path, request_hash) VALUES (%s, %s, 'POST', '/v1/programmes', %s)",
         f"coordinator:{sub}", key, digest)
    r = c.post("/v1/programmes", body, headers={"Idempotency-Key": key})
    expect(r, 409)
    assert r.headers.get("Retry-After")


def test_keys_belong_to_one_caller(coord, tokens, psql):
    key = str(uuid.uuid4())
    a, b = unique("idem-a"), unique("idem-b")
    expect(coord.post("/v1/programmes", {"name": a}, headers={"Idempotency-Key": key}), 201)
    other = coord.with_token(tokens("coordinator", prg="*"))
    r = other.post("/v1/programmes", {"name": b}, headers={"Idempotency-Key": key})
    expect(r, 201)
    assert "Idempotent-Replayed" not in r.headers
    assert _programme_count(psql, a) == 1 and _programme_count(psql, b) == 1


def test_concurrent_retries_make_one_row(coord, psql):
    name = unique("idem-race")
    key = str(uuid.uuid4())
    barrier = threading.Barrier(4)
    results = []

    def go():
        barrier.wait()
        results.append(coord.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": key}).status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {201, 409}, results
    assert 201 in results
    assert _programme_count(psql, name) == 1


def test_bad_idempotency_key_is_400(coord, psql):
    name = unique("idem")
    r = coord.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": "x" * 256})
    expect(r, 400)
    assert "Idempotency-Key" in r.json()["detail"]
    assert _programme_count(psql, name) == 0


def test_expired_key_runs_again(coord, tokens, psql):
    sub = str(uuid.uuid4())
    c = coord.with_token(tokens("coordinator", sub=sub, prg="*"))
    key = str(uuid.uuid4())
    name = unique("idem")
    expect(c.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": key}), 201)
    psql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE subject = %s AND key = %s",
         f"coordinator:{sub}", key)
    r = c.post("/v1/programmes", {"name": name}, headers={"Idempotency-Key": key})
    expect(r, 201)
    assert "Idempotent-Replayed" not in r.headers
    assert _programme_count(psql, name) == 2


def test_retried_meeting_and_proposal_make_one_row_each(make, client, tokens, psql):
    """Issue 5: a retried proposal and a retried meeting report, one row each."""
    from pairhelpers import Cohort, day
    c = Cohort(make, client, tokens, psql)
    mentor, mentee = c.mentor(), c.mentee()

    proposal = {"mentor_id": mentor["id"], "mentee_id": mentee["id"], "goals": ["Een stage vinden"]}
    key = str(uuid.uuid4())
    first = c.coach.post("/v1/pairs", proposal, headers={"Idempotency-Key": key})
    pair = expect(first, 201)
    again = c.coach.post("/v1/pairs", proposal, headers={"Idempotency-Key": key})
    assert again.status_code == first.status_code
    assert again.json() == pair
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert [p["id"] for p in c.coord.walk("/v1/pairs", {"programme_id": c.id})] == [pair["id"]]
    assert psql("SELECT count(*) FROM pairs WHERE mentor_id = %s AND mentee_id = %s",
                mentor["id"], mentee["id"]) == [("1",)]

    c.accept(pair, mentor)
    c.accept(pair, mentee)
    report = {"held_on": day(0), "duration_minutes": 75, "mode": "in_person", "place": "cafe",
              "initiated_by": "mentee", "summary": "Cv overlopen en een schoolbezoek gepland."}
    key = str(uuid.uuid4())
    as_mentee = c.as_(mentee)
    url = f"/v1/pairs/{pair['id']}/meetings"
    first = as_mentee.post(url, report, headers={"Idempotency-Key": key})
    meeting = expect(first, 201)
    again = as_mentee.post(url, report, headers={"Idempotency-Key": key})
    assert again.status_code == first.status_code
    assert again.json() == meeting
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert [m["id"] for m in c.coord.walk(url)] == [meeting["id"]]
    assert psql("SELECT count(*) FROM meetings WHERE pair_id = %s", pair["id"]) == [("1",)]
    # the pair counted the meeting once
    assert c.get_pair(pair["id"])["progress"]["meetings_held"] == 1


# --------------------------------------------------------------------------- CORS

ORIGIN = "https://app.koppel.example"


def test_cors_preflight_and_response_headers(servers):
    s = servers.start("cors", KOPPEL_CORS_ORIGINS=f"{ORIGIN}, https://other.example")
    try:
        r = requests.options(s.base + "/v1/participants/" + str(uuid.uuid4()),
                             headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH",
                                      "Access-Control-Request-Headers": "authorization, if-match"})
        assert r.status_code == 204
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
        assert {"GET", "PATCH"} <= methods
        allowed = r.headers["Access-Control-Allow-Headers"].lower()
        for h in ("authorization", "content-type", "if-match", "idempotency-key"):
            assert h in allowed
        assert "Origin" in r.headers.get("Vary", "")

        g = requests.get(s.base + "/health", headers={"Origin": ORIGIN})
        assert g.status_code == 200
        assert g.headers["Access-Control-Allow-Origin"] == ORIGIN
        exposed = g.headers["Access-Control-Expose-Headers"].lower()
        for h in ("etag", "x-request-id", "location"):
            assert h in exposed

        bad = requests.options(s.base + "/v1/participants", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert bad.status_code == 403
        assert bad.headers["Content-Type"].startswith("application/problem+json")
        assert "Access-Control-Allow-Origin" not in bad.headers
        g2 = requests.get(s.base + "/health", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in g2.headers
    finally:
        s.stop_clean()


def test_no_cors_headers_without_configuration(koppel):
    g = requests.get(koppel.base + "/health", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in g.headers


def test_options_without_preflight_lists_the_methods(koppel):
    r = requests.options(koppel.base + "/v1/programmes")
    assert r.status_code == 204
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "POST"}
    assert requests.options(koppel.base + "/v1/nothing-here").status_code == 404


def test_bad_cors_configuration_stops_the_process(servers):
    import subprocess
    env = dict(servers.base_env, KOPPEL_CORS_ORIGINS="ftp://x.example")
    p = subprocess.run([servers.binary, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "KOPPEL_CORS_ORIGINS" in p.stderr


# --------------------------------------------------------------------------- metrics and docs

def test_metrics_count_requests_by_route_and_status(anon, coord):
    before = anon.get("/metrics").text
    expect(coord.get("/v1/programmes", params={"limit": 1}), 200)
    expect(coord.get("/v1/programmes/" + str(uuid.uuid4())), 404)
    text = anon.get("/metrics").text

    def value(t, name):
        m = re.search(re.escape(name) + r" (\d+)", t)
        return int(m.group(1)) if m else 0

    ok = 'koppel_http_requests_total{method="GET",route="/v1/programmes",status="2xx"}'
    nf = 'koppel_http_requests_total{method="GET",route="/v1/programmes/{id}",status="4xx"}'
    assert value(text, ok) >= value(before, ok) + 1
    assert value(text, nf) >= value(before, nf) + 1
    assert 'koppel_http_request_duration_seconds_bucket{method="GET",route="/v1/programmes",le="+Inf"}' in text
    for g in ("koppel_db_pool_size", "koppel_db_pool_in_use", "koppel_db_pool_waiting", "koppel_db_errors_total"):
        assert re.search(r"^" + g + r" \d+$", text, re.M), g


def test_docs_is_a_readable_reference_of_every_operation(anon, spec):
    r = anon.get("/docs")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    html = r.text
    for path, item in spec.doc["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                assert f"id='{item[method]['operationId']}'" in html, (method, path)


def test_a_claim_left_by_a_crashed_request_is_taken_over(coord, tokens, psql):
    # A claimed key whose request never committed and is older than any
    # request can run: the request died (kill -9); a retry runs it.
    sub = str(uuid.uuid4())
    c = coord.with_token(tokens("coordinator", sub=sub, prg="*"))
    key = str(uuid.uuid4())
    body = {"name": unique("idem-crash")}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(("POST /v1/programmes\n" + canon).encode()).hexdigest()
    psql("INSERT INTO idempotency_keys (subject, key, method, path, request_hash, created_at) "
         "VALUES (%s, %s, 'POST', '/v1/programmes', %s, now() - interval '1 hour')", f"coordinator:{sub}", key, digest)
    r = c.post("/v1/programmes", body, headers={"Idempotency-Key": key})
    expect(r, 201)
    assert _programme_count(psql, body["name"]) == 1
    again = c.post("/v1/programmes", body, headers={"Idempotency-Key": key})
    expect(again, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _programme_count(psql, body["name"]) == 1


def test_a_request_that_took_effect_but_lost_its_response_is_never_run_twice(coord, tokens, psql):
    sub = str(uuid.uuid4())
    c = coord.with_token(tokens("coordinator", sub=sub, prg="*"))
    key = str(uuid.uuid4())
    body = {"name": unique("idem-lost")}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(("POST /v1/programmes\n" + canon).encode()).hexdigest()
    psql("INSERT INTO idempotency_keys (subject, key, method, path, request_hash, created_at, effect_committed) "
         "VALUES (%s, %s, 'POST', '/v1/programmes', %s, now() - interval '1 hour', true)", f"coordinator:{sub}", key, digest)
    r = c.post("/v1/programmes", body, headers={"Idempotency-Key": key})
    expect(r, 409)
    assert "lost" in r.json()["detail"]
    assert _programme_count(psql, body["name"]) == 0


def test_the_claim_is_marked_in_the_same_transaction_as_the_effect(coord, tokens, psql):
    sub = str(uuid.uuid4())
    c = coord.with_token(tokens("coordinator", sub=sub, prg="*"))
    key = str(uuid.uuid4())
    expect(c.post("/v1/programmes", {"name": unique("idem")}, headers={"Idempotency-Key": key}), 201)
    rows = psql("SELECT effect_committed, completed_at IS NOT NULL FROM idempotency_keys WHERE subject = %s AND key = %s",
                f"coordinator:{sub}", key)
    assert rows == [("t", "t")]
    # a refused request took no effect
    key2 = str(uuid.uuid4())
    expect(c.post("/v1/programmes", {"name": ""}, headers={"Idempotency-Key": key2}), 422)
    rows = psql("SELECT effect_committed FROM idempotency_keys WHERE subject = %s AND key = %s", f"coordinator:{sub}", key2)
    assert rows == [("f",)]


# --------------------------------------------------------------------------- behind a transaction-mode pooler

def test_without_prepared_statements_the_api_works_the_same(servers, spec, tokens, psql):
    """KOPPEL_DB_PREPARED=off: what runs behind pgbouncer in transaction mode."""
    from conftest import Client
    s = servers.start("unprepared", KOPPEL_DB_PREPARED="off")
    try:
        c = Client(s.base, spec, tokens("coordinator", prg="*"))
        name = unique("unprepared")
        created = expect(c.post("/v1/programmes", {"name": name}), 201)
        assert created["created_at"].endswith("+00:00")
        got = c.get("/v1/programmes/" + created["id"])
        expect(got, 200)
        patched = expect(c.patch("/v1/programmes/" + created["id"], {"status": "running"},
                                 headers={"If-Match": got.headers["ETag"]}), 200)
        assert patched["status"] == "running"
        assert any(p["id"] == created["id"] for p in c.walk("/v1/programmes"))
    finally:
        s.stop_clean()


def test_bad_db_prepared_value_stops_the_process(servers):
    import subprocess
    env = dict(servers.base_env, KOPPEL_DB_PREPARED="maybe")
    p = subprocess.run([servers.binary, "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "KOPPEL_DB_PREPARED" in p.stderr
