"""Meta endpoints, request ids, unknown paths and methods, the served contract."""
import re
import uuid

import yaml

from conftest import Client, expect


def test_health(anon):
    r = anon.get("/health")
    expect(r, 200)
    assert r.headers["Content-Type"].startswith("application/json")


def test_ready_with_database(anon):
    expect(anon.get("/ready"), 200)


def test_head_health_has_no_body(anon):
    r = anon.head("/health")
    assert r.status_code == 200
    assert r.content == b""


def test_openapi_served_is_the_repository_contract(anon, spec):
    r = anon.get("/openapi.yaml")
    expect(r, 200)
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/yaml"
    served = yaml.safe_load(r.text)
    assert served == spec.doc, "the binary serves another openapi.yaml than the repository holds"


def test_openapi_is_3_1_and_documents_the_planned_routes(spec):
    assert str(spec.doc.get("openapi", "")).startswith("3.1"), spec.doc.get("openapi")
    planned = {
        "/health": ["get"], "/ready": ["get"], "/openapi.yaml": ["get"], "/metrics": ["get"],
        "/v1/programmes": ["get", "post"], "/v1/programmes/{id}": ["get", "patch", "delete"],
        "/v1/programmes/{id}/topics": ["get", "put"],
        "/v1/staff": ["get", "post"], "/v1/staff/{id}": ["get", "patch", "delete"],
        "/v1/partners": ["get", "post"], "/v1/partners/{id}": ["get", "patch", "delete"],
        "/v1/participants": ["get", "post"], "/v1/participants/{id}": ["get", "patch"],
    }
    missing = [f"{m.upper()} {p}" for p, ms in planned.items() for m in ms
               if not isinstance(spec.paths.get(p), dict) or m not in spec.deref(spec.paths[p])]
    assert not missing, f"openapi.yaml does not document: {missing}"


def test_metrics_prometheus_text(anon):
    anon.get("/health")
    r = anon.get("/metrics")
    expect(r, 200)
    assert r.headers["Content-Type"].startswith("text/plain")
    lines = r.text.splitlines()
    samples = [l for l in lines if l and not l.startswith("#")]
    assert samples, "no samples"
    for l in samples:
        # label values are quoted strings and may hold braces (route="/v1/pairs/{id}")
        labels = r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?'
        assert re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*' + labels + r' ([-+0-9.eE]+|NaN|\+Inf|-Inf)$', l), l
    assert any(l.startswith("koppel_http_requests_total") for l in samples)


def test_metrics_count_requests(anon):
    def twoxx():
        text = anon.get("/metrics").text
        m = re.search(r'koppel_http_requests_total\{method="GET",route="/health",status="2xx"\} (\d+)', text)
        assert m, text
        return int(m.group(1))
    before = twoxx()
    for _ in range(3):
        anon.get("/health")
    assert twoxx() >= before + 3


def test_request_id_echoed(anon):
    rid = "abc-123_X.y:z"
    r = anon.get("/health", request_id=rid)
    assert r.headers["X-Request-Id"] == rid


def test_request_id_generated_when_absent(anon):
    a = anon.get("/health", request_id=None).headers["X-Request-Id"]
    b = anon.get("/health", request_id=None).headers["X-Request-Id"]
    assert a and b and a != b


def test_request_id_replaced_when_not_sane(anon):
    for bad in ["x" * 65, "has space", "quote\"d", "<script>", "semi;colon"]:
        r = anon.get("/health", request_id=bad)
        got = r.headers["X-Request-Id"]
        assert got != bad
        assert re.match(r"^[A-Za-z0-9._:-]{1,64}$", got)


def test_request_id_on_errors_too(anon, coord):
    rid = "err-" + uuid.uuid4().hex
    r = anon.get("/v1/programmes", request_id=rid)
    assert r.status_code == 401
    assert r.headers["X-Request-Id"] == rid
    r = coord.get("/v1/programmes/" + str(uuid.uuid4()), request_id=rid)
    assert r.status_code == 404
    assert r.headers["X-Request-Id"] == rid


def test_unknown_path_is_404_problem(anon, coord):
    for c in (anon, coord):
        r = c.get("/v1/nothing-here")
        expect(r, 404)
        assert r.headers["Content-Type"].startswith("application/problem+json")
    expect(coord.get("/"), 404)
    expect(coord.get("/v2/programmes"), 404)


def test_trailing_slash_is_not_the_collection(coord):
    expect(coord.get("/v1/programmes/"), 404)


def test_method_not_allowed_has_allow(coord, anon):
    r = anon.request("DELETE", "/health")
    expect(r, 405)
    assert "GET" in r.headers["Allow"]
    r = coord.request("POST", f"/v1/programmes/{uuid.uuid4()}", json_body={})
    expect(r, 405)
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allow
    assert "POST" not in allow


def test_participant_delete_is_the_gdpr_erasure(coord):
    """DELETE /v1/participants/{id} erases personal data (test_gdpr.py); an unknown id is a 404."""
    expect(coord.delete(f"/v1/participants/{uuid.uuid4()}"), 404)


def test_ready_without_database_is_503(servers, spec):
    s = servers.start("nodb", KOPPEL_DATABASE_URL="host=/nonexistent/koppel-no-socket dbname=koppel user=koppel",
                      KOPPEL_POOL_WAIT_MS="500")
    try:
        c = Client(s.base, spec)
        expect(c.get("/health"), 200)
        r = c.get("/ready")
        expect(r, 503)
        assert r.headers.get("Retry-After"), "503 needs Retry-After"
        from conftest import SECRET, jwt_encode, claims_for
        c2 = c.with_token(jwt_encode(claims_for("coordinator", prg="*"), SECRET))
        r = c2.get("/v1/programmes")
        expect(r, 503)
        assert r.headers.get("Retry-After"), "503 needs Retry-After"
    finally:
        s.stop_clean()


# --------------------------------------------------------------------------- examples in the contract

_METHODS = ("get", "put", "post", "patch", "delete")


def _is_json(media):
    return media == "application/json" or media.endswith("+json")


def _examples_of(spec, where, media_def):
    """(label, value) of every example a media type carries: its own `example` or
    `examples`, else those of its schema (following $ref to the component)."""
    found = []
    if "example" in media_def:
        found.append((f"{where}/example", media_def["example"]))
    for name, ex in (media_def.get("examples") or {}).items():
        ex = spec.deref(ex)
        assert "value" in ex, f"{where}/examples/{name} has no inline value"
        found.append((f"{where}/examples/{name}", ex["value"]))
    if found:
        return found
    schema, label = media_def.get("schema"), f"{where}/schema"
    for _ in range(20):
        if not isinstance(schema, dict):
            break
        if "example" in schema:
            found.append((f"{label}/example", schema["example"]))
        for i, v in enumerate(schema.get("examples") or []):
            found.append((f"{label}/examples/{i}", v))
        if found or "$ref" not in schema:
            break
        label = schema["$ref"]
        schema = spec.deref({"$ref": schema["$ref"]})
    return found


def _operation_bodies(spec):
    """(where, media def, needs an example) for every JSON body of every operation."""
    for path, item in spec.paths.items():
        item = spec.deref(item)
        for method in _METHODS:
            op = item.get(method)
            if not op:
                continue
            at = f"{method.upper()} {path}"
            if op.get("requestBody"):
                for media, mdef in (spec.deref(op["requestBody"]).get("content") or {}).items():
                    if _is_json(media):
                        yield f"{at} request {media}", mdef, True
            for status, resp in (op.get("responses") or {}).items():
                for media, mdef in (spec.deref(resp).get("content") or {}).items():
                    if _is_json(media):
                        yield f"{at} {status} {media}", mdef, str(status).startswith("2")


def test_every_operation_has_examples_of_its_bodies(spec):
    """Issue 5: an example of every JSON request body and of every JSON 2xx
    response body (on the media type, or on the schema it refers to)."""
    missing = [where for where, mdef, needed in _operation_bodies(spec)
               if needed and not _examples_of(spec, where, mdef)]
    assert not missing, "bodies without an example in openapi.yaml:\n  " + "\n  ".join(missing)


def test_every_example_of_an_operation_body_validates(spec):
    from jsonschema import Draft202012Validator, RefResolver
    from conftest import FORMATS
    resolver = RefResolver(base_uri="", referrer=spec.doc)
    problems, checked = [], 0
    for where, mdef, _ in _operation_bodies(spec):
        schema = mdef.get("schema")
        if schema is None:
            continue
        validator = Draft202012Validator(schema, resolver=resolver, format_checker=FORMATS)
        for label, value in _examples_of(spec, where, mdef):
            checked += 1
            for e in validator.iter_errors(value):
                at = "/".join(str(p) for p in e.absolute_path)
                problems.append(f"{label} at /{at}: {e.message[:200]}")
    assert checked > 0
    assert not problems, f"{len(problems)} examples do not match their schema:\n  " + "\n  ".join(problems[:40])


def test_every_post_documents_idempotent_retries(spec):
    """Every authenticated POST takes Idempotency-Key, may answer 409 (a retry
    while the first runs, with Retry-After) and marks replays in its 2xx answers."""
    problems = []
    for path, item in spec.paths.items():
        item = spec.deref(item)
        op = item.get("post")
        if not op or not path.startswith("/v1/"):
            continue
        params = [spec.deref(p).get("name") for p in (item.get("parameters") or []) + (op.get("parameters") or [])]
        if "Idempotency-Key" not in params:
            problems.append(f"POST {path}: no Idempotency-Key parameter")
        if "409" not in op["responses"]:
            problems.append(f"POST {path}: no 409")
        elif "Retry-After" not in (spec.deref(op["responses"]["409"]).get("headers") or {}):
            problems.append(f"POST {path}: its 409 does not declare Retry-After")
        for status, resp in op["responses"].items():
            if str(status).startswith("2") and \
                    "Idempotent-Replayed" not in (spec.deref(resp).get("headers") or {}):
                problems.append(f"POST {path}: {status} does not declare Idempotent-Replayed")
    assert not problems, "\n".join(problems)
    # both are sent only sometimes, so neither may be required
    conflict = spec.deref({"$ref": "#/components/responses/Conflict"})
    assert spec.deref(conflict["headers"]["Retry-After"]).get("required") is False
    assert spec.deref({"$ref": "#/components/headers/IdempotentReplayed"}).get("required") is False
