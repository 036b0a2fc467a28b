"""Fixtures for the Koppel API suite.

The suite runs the real binary ($KOPPEL_BIN serve) against a migrated, empty
database ($KOPPEL_TEST_DATABASE_URL). Every HTTP call goes through Client,
which checks each response against openapi.yaml (path template, method,
status, content type, JSON Schema of the body) and checks X-Request-Id, so a
test fails on an undocumented status or a body the contract does not allow.

Tests never rely on order or demo data: each makes its own programmes,
participants, partners and staff with unique names.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests
import yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPENAPI_PATH = os.path.join(ROOT, "openapi.yaml")
ROLES = ("coordinator", "coach", "mentor", "mentee", "researcher", "integration")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
START_TIMEOUT = 60   # the ASan build starts and answers slowly
STOP_TIMEOUT = 90
HTTP_TIMEOUT = 120


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.exit(f"{name} is not set (see tools/test.sh)", returncode=2)
    return v


def unique(prefix="t"):
    """A name no other test (or run) uses."""
    return f"{prefix}-{uuid.uuid4()}"


# --------------------------------------------------------------------------- formats

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\\\"]+@[^@\s<>()\[\],;:\\\"]+\.[^@\s<>()\[\],;:\\\"]+$")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date")
def _is_date(v):
    if not isinstance(v, str):
        return True
    if not _DATE_RE.match(v):
        return False
    try:
        datetime.date.fromisoformat(v)
    except ValueError:
        return False
    return True


@FORMATS.checks("date-time")
def _is_datetime(v):
    if not isinstance(v, str):
        return True
    m = _DATETIME_RE.match(v)
    if not m:
        return False
    try:
        datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    hh, mm, ss = int(m.group(4)), int(m.group(5)), int(m.group(6))
    if hh > 23 or mm > 59 or ss > 60:
        return False
    if m.group(9) and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


@FORMATS.checks("uuid")
def _is_uuid(v):
    return not isinstance(v, str) or bool(_UUID_RE.match(v))


@FORMATS.checks("email")
def _is_email(v):
    return not isinstance(v, str) or (len(v) <= 254 and bool(_EMAIL_RE.match(v)))


@FORMATS.checks("uri")
def _is_uri(v):
    if not isinstance(v, str):
        return True
    p = urllib.parse.urlsplit(v)
    return bool(p.scheme) and " " not in v


# RFC 9457 as DESIGN.md pins it: every problem body has these, whatever the contract says.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "minLength": 1},
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "message"],
                "properties": {"pointer": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_PROBLEM_VALIDATOR = Draft202012Validator(PROBLEM_SCHEMA, format_checker=FORMATS)


def _media(ct):
    return (ct or "").split(";")[0].strip().lower()


def _is_json_media(m):
    return m == "application/json" or m.endswith("+json")


# --------------------------------------------------------------------------- the contract

class ContractError(AssertionError):
    pass


class Spec:
    """openapi.yaml, and the check of one response against it."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.doc = yaml.safe_load(self.text) or {}
        self.paths = self.doc.get("paths") or {}
        self.resolver = RefResolver(base_uri="", referrer=self.doc)
        self._templates = []
        for tmpl in self.paths:
            rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(tmpl)) + "$"
            self._templates.append((tmpl.count("{"), -len(tmpl), tmpl, re.compile(rx)))
        # a literal segment beats a parameter: /by-external-ref/{ref} before /{id}
        self._templates.sort()
        self._validators = {}
        self._lock = threading.Lock()

    def deref(self, obj, depth=0):
        while isinstance(obj, dict) and "$ref" in obj and depth < 20:
            ref = obj["$ref"]
            if not ref.startswith("#/"):
                raise ContractError(f"openapi.yaml: only local $ref is supported, got {ref}")
            node = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                node = node[part]
            obj = node
            depth += 1
        return obj

    def template_for(self, path):
        for _, _, tmpl, rx in self._templates:
            if rx.match(path):
                return tmpl
        return None

    def operation(self, tmpl, method):
        item = self.deref(self.paths.get(tmpl) or {})
        m = method.lower()
        if m == "head" and "head" not in item:
            m = "get"
        return item.get(m)

    def problem_schema(self):
        schemas = ((self.doc.get("components") or {}).get("schemas") or {})
        for name in schemas:
            if name.lower() in ("problem", "problemdetails", "problem_details"):
                return {"$ref": f"#/components/schemas/{name}"}
        return None

    def validator(self, key, schema):
        with self._lock:
            v = self._validators.get(key)
            if v is None:
                v = Draft202012Validator(schema, resolver=RefResolver(base_uri="", referrer=self.doc),
                                         format_checker=FORMATS)
                self._validators[key] = v
            return v

    def _fail(self, resp, why):
        req = resp.request
        body = resp.text[:1500] if resp.content else ""
        raise ContractError(f"{req.method} {req.url} -> {resp.status_code}: {why}\n  body: {body}")

    def _validate(self, resp, key, schema, instance):
        errors = sorted(self.validator(key, schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            msgs = "; ".join(f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message[:300]}"
                             for e in errors[:5])
            self._fail(resp, f"body does not match the schema in openapi.yaml: {msgs}")

    def check(self, resp, method, sent_request_id):
        status = resp.status_code
        method = method.upper()
        # X-Request-Id on every response, echoed when the client sent a sane one
        rid = resp.headers.get("X-Request-Id")
        if not rid:
            self._fail(resp, "no X-Request-Id header")
        if sent_request_id is not None and REQUEST_ID_RE.match(sent_request_id):
            if rid != sent_request_id:
                self._fail(resp, f"X-Request-Id {rid!r} does not echo the one sent ({sent_request_id!r})")
        elif not REQUEST_ID_RE.match(rid):
            self._fail(resp, f"generated X-Request-Id {rid!r} is not a sane id")

        media = _media(resp.headers.get("Content-Type"))
        has_body = bool(resp.content)
        if status >= 400 and method != "HEAD":
            if media != "application/problem+json":
                self._fail(resp, f"an error must be application/problem+json, got {media!r}")
            try:
                body = resp.json()
            except ValueError:
                self._fail(resp, "problem body is not JSON")
            errs = list(_PROBLEM_VALIDATOR.iter_errors(body))
            if errs:
                self._fail(resp, f"problem body breaks RFC 9457 as pinned: {errs[0].message}")
            if body.get("status") != status:
                self._fail(resp, f"problem status {body.get('status')} differs from the HTTP status")
        if status == 401 and "basic" in resp.headers.get("WWW-Authenticate", "").lower():
            self._fail(resp, "401 must never offer a Basic challenge")
        if status == 401 and not resp.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            self._fail(resp, "401 without a WWW-Authenticate: Bearer challenge")

        path = urllib.parse.urlsplit(resp.request.url).path
        tmpl = self.template_for(path)
        op = self.operation(tmpl, method) if tmpl else None
        if op is None:
            # not in the contract: only "no such resource" / "no such method" are acceptable
            if tmpl is None and status != 404:
                self._fail(resp, f"path {path} is not in openapi.yaml and the answer is not 404")
            if tmpl is not None and status != 405:
                self._fail(resp, f"{method} is not documented on {tmpl} and the answer is not 405")
            if status == 405 and not resp.headers.get("Allow"):
                self._fail(resp, "405 without an Allow header")
            ps = self.problem_schema()
            if ps and method != "HEAD":
                self._validate(resp, ("problem",), ps, resp.json())
            return

        responses = op.get("responses") or {}
        key = str(status)
        if key not in responses:
            key = f"{status // 100}XX"
            if key not in responses:
                self._fail(resp, f"status {status} is not documented for {method} {tmpl} "
                                 f"(documented: {', '.join(sorted(map(str, responses)))})")
        rdef = self.deref(responses[key])
        for hname, hdef in (rdef.get("headers") or {}).items():
            hdef = self.deref(hdef)
            if hdef.get("required") and hname.lower() not in {h.lower() for h in resp.headers}:
                self._fail(resp, f"documented required header {hname} is missing")
        if status == 405 and not resp.headers.get("Allow"):
            self._fail(resp, "405 without an Allow header")

        if status in (204, 304) or method == "HEAD":
            if has_body:
                self._fail(resp, f"a {status} answer to {method} must have no body")
            return
        if not has_body:
            return
        content = rdef.get("content") or {}
        if not content:
            self._fail(resp, f"a body ({media}) was sent but openapi.yaml documents none for {status}")
        mdef = content.get(media)
        if mdef is None:
            for k, v in content.items():
                if k.endswith("/*") and media.startswith(k[:-1]) or k == "*/*":
                    mdef = v
                    break
        if mdef is None:
            self._fail(resp, f"content type {media!r} is not documented (documented: {', '.join(content)})")
        if _is_json_media(media):
            try:
                body = resp.json()
            except ValueError:
                self._fail(resp, "the body is not valid JSON")
            schema = (mdef or {}).get("schema")
            if schema is not None:
                self._validate(resp, (tmpl, method, key, media), schema, body)


# --------------------------------------------------------------------------- HTTP client

_UNSET = object()


class Client:
    """requests with the contract check on every response."""

    def __init__(self, base, spec, token=None):
        self.base = base
        self.spec = spec
        self.token = token
        self.http = requests.Session()

    def with_token(self, token):
        return Client(self.base, self.spec, token)

    def request(self, method, path, *, json_body=_UNSET, data=None, headers=None, params=None,
                token=_UNSET, request_id=_UNSET, timeout=HTTP_TIMEOUT):
        hdrs = {}
        tok = self.token if token is _UNSET else token
        if tok is not None:
            hdrs["Authorization"] = f"Bearer {tok}"
        rid = f"t-{uuid.uuid4().hex}" if request_id is _UNSET else request_id
        if rid is not None:
            hdrs["X-Request-Id"] = rid
        if json_body is not _UNSET:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        if headers:
            for k, v in headers.items():
                if v is None:
                    hdrs.pop(k, None)
                else:
                    hdrs[k] = v
        url = path if path.startswith("http") else self.base + path
        resp = self.http.request(method, url, data=data, headers=hdrs, params=params, timeout=timeout,
                                 allow_redirects=False)
        self.spec.check(resp, method, rid)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def post(self, path, body=_UNSET, **kw):
        return self.request("POST", path, json_body=body, **kw)

    def put(self, path, body=_UNSET, **kw):
        return self.request("PUT", path, json_body=body, **kw)

    def patch(self, path, body=_UNSET, **kw):
        return self.request("PATCH", path, json_body=body, **kw)

    def walk(self, path, params=None, limit=200):
        """Every item of a list, page by page (asserting the page shape)."""
        params = dict(params or {})
        params["limit"] = limit
        items = []
        for _ in range(10000):
            r = self.get(path, params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            items.extend(body["items"])
            if body["next_cursor"] is None:
                return items
            params["cursor"] = body["next_cursor"]
        raise AssertionError("the list never ended")


def expect(resp, status, pointer=None):
    """Asserts the status (and that errors[] names pointer); returns the JSON body or None."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, got {resp.status_code}: {resp.text[:1500]}")
    if pointer is not None:
        ptrs = [e.get("pointer") for e in (resp.json().get("errors") or [])]
        assert pointer in ptrs, f"expected errors[].pointer {pointer!r}, got {ptrs}: {resp.text[:800]}"
    if resp.content and _is_json_media(_media(resp.headers.get("Content-Type"))):
        return resp.json()
    return None


# --------------------------------------------------------------------------- tokens

def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_encode(payload, key, alg="HS256", header=None):
    """A JWS compact token. key: bytes/str secret for HS256, a cryptography private key for RS/ES256."""
    head = {"alg": alg, "typ": "JWT"}
    if header is not None:
        head = header
    signing_input = (b64u(json.dumps(head, separators=(",", ":")).encode()) + "." +
                     b64u(json.dumps(payload, separators=(",", ":")).encode())).encode()
    if alg == "HS256":
        k = key.encode() if isinstance(key, str) else key
        sig = hmac.new(k, signing_input, hashlib.sha256).digest()
    elif alg == "RS256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "none":
        sig = b""
    else:
        raise ValueError(alg)
    return signing_input.decode() + "." + b64u(sig)


def claims_for(role, sub=None, prg=None, partner=None, ttl=3600, **extra):
    now = int(time.time())
    c = {"sub": sub or str(uuid.uuid4()), "role": role, "iat": now, "exp": now + ttl,
         "prg": prg if prg is not None else []}
    if partner is not None:
        c["partner"] = partner
    c.update(extra)
    return {k: v for k, v in c.items() if v is not _DROP}


_DROP = object()  # claims_for(..., exp=DROP) leaves the claim out


class Tokens:
    def __init__(self, secret):
        self.secret = secret

    def __call__(self, role, sub=None, prg=None, partner=None, **extra):
        """An HS256 token for the main server. prg: list of programme ids or "*"."""
        return jwt_encode(claims_for(role, sub, prg, partner, **extra), self.secret)


# --------------------------------------------------------------------------- servers

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, env, logdir, name):
        self.binary = binary
        self.env = env
        self.name = name
        self.logpath = os.path.join(logdir, f"{name}.log")
        self.proc = None
        self.base = None
        self.returncode = None

    def start(self):
        last = ""
        for _ in range(3):
            port = free_port()
            env = dict(self.env, KOPPEL_LISTEN=f"127.0.0.1:{port}")
            self.log = open(self.logpath, "ab")
            self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            self.base = f"http://127.0.0.1:{port}"
            deadline = time.time() + START_TIMEOUT
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if requests.get(self.base + "/health", timeout=2).status_code == 200:
                        return self
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"server {self.name} did not answer /health in {START_TIMEOUT}s:\n{self.tail()}")
            last = self.tail()
            self.log.close()
        raise RuntimeError(f"server {self.name} would not start:\n{last}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n=40):
        try:
            with open(self.logpath, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, wait for a clean exit; returns the exit code (None if it had to be killed)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            self.died_early = True
        else:
            self.died_early = False
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.returncode = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = None
        self.log.close()
        self.proc = None
        return self.returncode

    def stop_clean(self):
        rc = self.stop()
        if getattr(self, "died_early", False):
            pytest.fail(f"server {self.name} died before it was stopped (exit {rc}):\n{self.tail()}")
        if rc != 0:
            pytest.fail(f"server {self.name} did not exit cleanly after SIGTERM (exit {rc}):\n{self.tail()}")


class Servers:
    """Starts servers with the suite's base environment plus overrides."""

    def __init__(self, binary, base_env, logdir):
        self.binary = binary
        self.base_env = base_env
        self.logdir = logdir
        self.n = 0

    def start(self, name=None, **overrides):
        env = dict(self.base_env)
        for k, v in overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        self.n += 1
        return Server(self.binary, env, self.logdir, name or f"extra{self.n}").start()


SECRET = "koppel-test-secret-" + uuid.uuid4().hex  # >= 32 characters


@pytest.fixture(scope="session")
def servers(tmp_path_factory):
    binary = _env("KOPPEL_BIN")
    db = _env("KOPPEL_TEST_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    # the webhook tests' receivers listen on loopback, which a production
    # server refuses as a target (SSRF); test_hardening.py checks the refusal
    env.update(KOPPEL_DATABASE_URL=db, KOPPEL_JWT_SECRET=SECRET, KOPPEL_WEBHOOK_ALLOW_PRIVATE="1")
    return Servers(binary, env, str(tmp_path_factory.mktemp("servers")))


@pytest.fixture(scope="session")
def koppel(servers):
    """The main server for the whole session; must exit 0 on SIGTERM at the end."""
    s = servers.start("main")
    yield s
    s.stop_clean()


@pytest.fixture(autouse=True)
def _main_server_alive(request):
    if "koppel" not in request.fixturenames:
        yield
        return
    s = request.getfixturevalue("koppel")
    assert s.alive(), f"the server died before this test:\n{s.tail()}"
    yield
    assert s.alive(), f"the server died during this test (exit {s.proc.poll()}):\n{s.tail()}"


@pytest.fixture(scope="session")
def spec():
    return Spec(OPENAPI_PATH)


@pytest.fixture(scope="session")
def tokens():
    return Tokens(SECRET)


@pytest.fixture(scope="session")
def client(koppel, spec):
    """client(token=None) -> a Client on the main server."""
    def make(token=None):
        return Client(koppel.base, spec, token)
    return make


@pytest.fixture(scope="session")
def anon(client):
    return client(None)


@pytest.fixture(scope="session")
def coord(client, tokens):
    """An organisation-wide coordinator (prg "*")."""
    return client(tokens("coordinator", prg="*"))


# --------------------------------------------------------------------------- database

PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
_NULL = "\x1d"


def sql_literal(value):
    """A SQL string literal (standard_conforming_strings is on: only quotes double)."""
    s = str(value)
    if "\x00" in s:
        raise ValueError("a NUL cannot be sent to PostgreSQL")
    return "'" + s.replace("'", "''") + "'"


class Psql:
    """One long-lived psql process (a fresh one per call costs ~100 ms).

    psql(sql, *params): %s placeholders are bound as literals (None as NULL);
    returns the rows of the output as tuples of str/None."""

    def __init__(self, url):
        self.url = url
        self.lock = threading.Lock()
        self.n = 0
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen(
            [PSQL, "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-P", f"null={_NULL}",
             "-v", "ON_ERROR_STOP=0", "-d", self.url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc = None

    def __call__(self, sql, *params):
        parts = sql.split("%s")
        if len(parts) - 1 != len(params):
            raise ValueError("placeholder count differs from parameter count")
        text = parts[0]
        for p, rest in zip(params, parts[1:]):
            text += ("NULL" if p is None else sql_literal(p)) + rest
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            self.n += 1
            marker = f"__koppel_psql_done_{self.n}__"
            self.proc.stdin.write((text.rstrip().rstrip(";") + ";\n\\echo " + marker + "\n").encode())
            buf = b""
            end = (marker + "\n").encode()
            while not buf.endswith(end):
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"psql exited: {buf.decode(errors='replace')}")
                buf += chunk
        out = buf[:-len(end)].decode()
        if "ERROR:" in out or "FATAL:" in out:
            raise AssertionError(f"psql failed: {out}\nSQL: {text}")
        if out.endswith("\n"):
            out = out[:-1]
        rows = []
        for rec in out.split("\x1e"):
            rec = rec.strip("\n")
            if rec == "":
                continue
            rows.append(tuple(None if f == _NULL else f for f in rec.split("\x1f")))
        return rows


def make_psql(url):
    return Psql(url)


@pytest.fixture(scope="session")
def psql():
    p = make_psql(_env("KOPPEL_TEST_DATABASE_URL"))
    yield p
    p.close()


@pytest.fixture(scope="session")
def db_snapshot(psql):
    """db_snapshot() -> {table: (count, md5 of all rows)} for every table but schema_migrations."""
    tables = [r[0] for r in psql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY 1")]
    sql = " UNION ALL ".join(
        f"SELECT '{t}', count(*)::text, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{t}\" x"
        for t in tables)

    def snap():
        return {r[0]: (r[1], r[2]) for r in psql(sql)}
    return snap


@pytest.fixture
def unchanged(db_snapshot):
    """with unchanged(): ...  asserts no table changed inside the block."""
    import contextlib

    @contextlib.contextmanager
    def block():
        before = db_snapshot()
        yield
        after = db_snapshot()
        diff = sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))
        assert not diff, f"a refused request changed the database: tables {diff}"
    return block


# --------------------------------------------------------------------------- making things

class Make:
    """Creates resources through the API as an organisation-wide coordinator."""

    def __init__(self, coord, psql):
        self.coord = coord
        self.psql = psql

    def programme(self, **kw):
        body = {"name": unique("programme")}
        body.update(kw)
        return expect(self.coord.post("/v1/programmes", body), 201)

    def partner(self, **kw):
        body = {"name": unique("partner"), "kind": "employer",
                "contact": {"name": "Contact Person", "email": "contact@example.org", "phone": "+32 3 123 45 67"},
                "agreement": {"kind": "formal", "signed_on": "2024-01-15"}, "active": True, "notes": "test"}
        body.update(kw)
        return expect(self.coord.post("/v1/partners", body), 201)

    def staff(self, programmes, role="coach", **kw):
        body = {"id": str(uuid.uuid4()), "name": unique("staff"), "email": "staff@example.org", "role": role,
                "programmes": list(programmes)}
        body.update(kw)
        return expect(self.coord.post("/v1/staff", body), 201)

    def participant(self, programme_id, kind="mentee", **kw):
        body = {"programme_id": programme_id, "kind": kind, "given_name": "Given",
                "family_name": unique("family"), "email": "person@example.org", "phone": "+32 470 12 34 56"}
        body.update(kw)
        return expect(self.coord.post("/v1/participants", body), 201)

    def backdate(self, table, row_id, when="2001-01-01T00:00:00Z", column="updated_at"):
        """Sets a timestamp the triggers would otherwise overwrite (triggers off for this statement)."""
        assert table.isidentifier() and column.isidentifier()
        self.psql(f"SET session_replication_role = replica; UPDATE {table} SET {column} = %s WHERE id = %s; "
                  "RESET session_replication_role", when, row_id)

    def pair(self, programme_id, mentor_id, mentee_id, status="proposed", mentor_accepted=False,
             mentee_accepted=False):
        """Pairs have no endpoints yet: a row straight into the table."""
        rows = self.psql(
            "INSERT INTO pairs (programme_id, mentor_id, mentee_id, status, mentor_accepted_at, mentee_accepted_at) "
            "VALUES (%s, %s, %s, %s, " + ("now()" if mentor_accepted else "NULL") + ", " +
            ("now()" if mentee_accepted else "NULL") + ") RETURNING id",
            programme_id, mentor_id, mentee_id, status)
        return rows[0][0]


@pytest.fixture(scope="session")
def make(coord, psql):
    return Make(coord, psql)
