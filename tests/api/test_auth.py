"""The token battery: every bad token is a 401 with a Bearer invalid_token challenge,
and each server configuration also accepts a good token (so a 401 means something)."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import SECRET, Client, claims_for, expect, jwt_encode, _DROP

PATH = "/v1/programmes"
ISSUER = "https://idp.example.org/"
AUDIENCE = "koppel-api"


def assert_invalid_token(resp):
    assert resp.status_code == 401, f"expected 401, got {resp.status_code}: {resp.text[:500]}"
    www = resp.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer"), www
    assert 'error="invalid_token"' in www, www
    assert "basic" not in www.lower()


# --------------------------------------------------------------------------- keys and servers

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    d = tmp_path_factory.mktemp("keys")

    def pub_pem(k):
        return k.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_other = ec.generate_private_key(ec.SECP256R1())
    rsa_file = d / "rsa.pub.pem"
    rsa_file.write_bytes(pub_pem(rsa_key))
    ec_file = d / "ec.pub.pem"
    ec_file.write_bytes(pub_pem(ec_key))
    return {"rsa": rsa_key, "rsa_other": rsa_other, "ec": ec_key, "ec_other": ec_other,
            "rsa_file": str(rsa_file), "ec_file": str(ec_file),
            "rsa_pem": pub_pem(rsa_key), "ec_pem": pub_pem(ec_key)}


def _server(servers, spec, name, **env):
    s = servers.start(name, **env)
    return s, Client(s.base, spec)


@pytest.fixture(scope="module")
def rs256(servers, spec, keys):
    s, c = _server(servers, spec, "rs256", KOPPEL_JWT_ALG="RS256", KOPPEL_JWT_SECRET=None,
                   KOPPEL_JWT_PUBLIC_KEY_FILE=keys["rsa_file"])
    yield c
    s.stop_clean()


@pytest.fixture(scope="module")
def es256(servers, spec, keys):
    s, c = _server(servers, spec, "es256", KOPPEL_JWT_ALG="ES256", KOPPEL_JWT_SECRET=None,
                   KOPPEL_JWT_PUBLIC_KEY_FILE=keys["ec_file"])
    yield c
    s.stop_clean()


@pytest.fixture(scope="module")
def issaud(servers, spec):
    s, c = _server(servers, spec, "issaud", KOPPEL_JWT_ISSUER=ISSUER, KOPPEL_JWT_AUDIENCE=AUDIENCE)
    yield c
    s.stop_clean()


def coordinator(**changes):
    """A valid coordinator payload with changes (a value of _DROP removes the claim)."""
    c = claims_for("coordinator", prg="*")
    c.update(changes)
    return {k: v for k, v in c.items() if v is not _DROP}


def hs(payload, secret=SECRET, **kw):
    return jwt_encode(payload, secret, "HS256", **kw)


def get(client, token):
    return client.get(PATH, token=token)


# --------------------------------------------------------------------------- positive controls

def test_good_hs256_token_accepted(anon):
    expect(get(anon, hs(coordinator())), 200)


def test_good_rs256_token_accepted(rs256, keys):
    expect(get(rs256, jwt_encode(coordinator(), keys["rsa"], "RS256")), 200)


def test_good_es256_token_accepted(es256, keys):
    expect(get(es256, jwt_encode(coordinator(), keys["ec"], "ES256")), 200)


def test_good_issuer_and_audience_accepted(issaud):
    expect(get(issaud, hs(coordinator(iss=ISSUER, aud=AUDIENCE))), 200)


def test_audience_array_accepted(issaud):
    expect(get(issaud, hs(coordinator(iss=ISSUER, aud=["other-api", AUDIENCE]))), 200)


def test_koppel_token_cli_is_accepted(anon):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    env["KOPPEL_JWT_SECRET"] = SECRET
    out = subprocess.run([os.environ["KOPPEL_BIN"], "token", "--role", "coordinator", "--sub", str(uuid.uuid4()),
                          "--programme", "*", "--ttl", "600"], env=env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    expect(get(anon, out.stdout.decode().strip()), 200)


def test_koppel_token_cli_programme_list_and_partner(anon):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    env["KOPPEL_JWT_SECRET"] = SECRET
    p1, p2, partner = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    out = subprocess.run([os.environ["KOPPEL_BIN"], "token", "--role", "integration", "--sub", str(uuid.uuid4()),
                          "--programme", f"{p1},{p2}", "--partner", partner], env=env, capture_output=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    tok = out.stdout.decode().strip()
    payload = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
    assert payload["prg"] == [p1, p2] and payload["partner"] == partner and payload["exp"] > time.time()
    expect(anon.get("/v1/partners", token=tok), 200)


def test_bearer_scheme_case_insensitive(anon):
    r = anon.get(PATH, token=None, headers={"Authorization": "bearer " + hs(coordinator())})
    expect(r, 200)


def test_leeway_accepts_recently_expired(anon):
    now = int(time.time())
    expect(get(anon, hs(coordinator(exp=now - 20))), 200)


def test_leeway_accepts_nbf_just_ahead(anon):
    now = int(time.time())
    expect(get(anon, hs(coordinator(nbf=now + 20))), 200)


# --------------------------------------------------------------------------- the battery

def test_no_token(anon):
    r = anon.get(PATH, token=None)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_basic_scheme(anon):
    r = anon.get(PATH, token=None, headers={"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()})
    assert r.status_code == 401
    www = r.headers["WWW-Authenticate"]
    assert www.startswith("Bearer") and "basic" not in www.lower()


def test_alg_none(anon):
    tok = jwt_encode(coordinator(), None, "none", header={"alg": "none", "typ": "JWT"})
    assert_invalid_token(get(anon, tok))


def test_alg_none_without_trailing_dot(anon):
    tok = jwt_encode(coordinator(), None, "none", header={"alg": "none", "typ": "JWT"}).rstrip(".")
    assert_invalid_token(get(anon, tok))


def test_alg_none_on_rs256_server(rs256):
    tok = jwt_encode(coordinator(), None, "none", header={"alg": "none", "typ": "JWT"})
    assert_invalid_token(get(rs256, tok))


def test_hs256_token_on_rs256_server(rs256):
    assert_invalid_token(get(rs256, hs(coordinator())))


def test_rs256_token_on_hs256_server(anon, keys):
    assert_invalid_token(get(anon, jwt_encode(coordinator(), keys["rsa"], "RS256")))


def test_es256_token_on_rs256_server(rs256, keys):
    assert_invalid_token(get(rs256, jwt_encode(coordinator(), keys["ec"], "ES256")))


def test_rs256_token_on_es256_server(es256, keys):
    assert_invalid_token(get(es256, jwt_encode(coordinator(), keys["rsa"], "RS256")))


@pytest.mark.parametrize("variant", ["exact", "no_trailing_newline"])
def test_hs256_signed_with_rs256_public_key(rs256, keys, variant):
    pem = keys["rsa_pem"] if variant == "exact" else keys["rsa_pem"].rstrip(b"\n")
    assert_invalid_token(get(rs256, hs(coordinator(), secret=pem)))


@pytest.mark.parametrize("variant", ["exact", "no_trailing_newline"])
def test_hs256_signed_with_es256_public_key(es256, keys, variant):
    pem = keys["ec_pem"] if variant == "exact" else keys["ec_pem"].rstrip(b"\n")
    assert_invalid_token(get(es256, hs(coordinator(), secret=pem)))


def test_wrong_hs256_secret(anon):
    assert_invalid_token(get(anon, hs(coordinator(), secret="another-secret-of-enough-length-0123456789")))


def test_wrong_rs256_key(rs256, keys):
    assert_invalid_token(get(rs256, jwt_encode(coordinator(), keys["rsa_other"], "RS256")))


def test_wrong_es256_key(es256, keys):
    assert_invalid_token(get(es256, jwt_encode(coordinator(), keys["ec_other"], "ES256")))


def _tamper(tok, **changes):
    h, p, s = tok.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload.update(changes)
    p2 = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return ".".join([h, p2, s])


def test_tampered_payload(anon):
    tok = hs(claims_for("mentee", prg=[]))
    assert_invalid_token(get(anon, _tamper(tok, role="coordinator", prg="*")))


def test_tampered_payload_rs256(rs256, keys):
    tok = jwt_encode(claims_for("mentee", prg=[]), keys["rsa"], "RS256")
    assert_invalid_token(get(rs256, _tamper(tok, role="coordinator", prg="*")))


def test_tampered_signature(anon):
    tok = hs(coordinator())
    h, p, s = tok.split(".")
    s = ("A" if s[0] != "A" else "B") + s[1:]
    assert_invalid_token(get(anon, ".".join([h, p, s])))


def test_header_alg_changed_to_hs512(anon):
    tok = jwt_encode(coordinator(), SECRET, "HS256", header={"alg": "HS512", "typ": "JWT"})
    assert_invalid_token(get(anon, tok))


def test_expired(anon):
    now = int(time.time())
    assert_invalid_token(get(anon, hs(coordinator(iat=now - 7200, exp=now - 120))))


def test_missing_exp(anon):
    assert_invalid_token(get(anon, hs(coordinator(exp=_DROP))))


def test_exp_not_a_number(anon):
    assert_invalid_token(get(anon, hs(coordinator(exp=str(int(time.time()) + 3600)))))


def test_nbf_in_the_future(anon):
    now = int(time.time())
    assert_invalid_token(get(anon, hs(coordinator(nbf=now + 600))))


def test_wrong_issuer(issaud):
    assert_invalid_token(get(issaud, hs(coordinator(iss="https://evil.example.org/", aud=AUDIENCE))))


def test_missing_issuer(issaud):
    assert_invalid_token(get(issaud, hs(coordinator(aud=AUDIENCE))))


def test_wrong_audience(issaud):
    assert_invalid_token(get(issaud, hs(coordinator(iss=ISSUER, aud="another-api"))))


def test_audience_array_without_ours(issaud):
    assert_invalid_token(get(issaud, hs(coordinator(iss=ISSUER, aud=["a", "b"]))))


def test_missing_audience(issaud):
    assert_invalid_token(get(issaud, hs(coordinator(iss=ISSUER))))


def test_missing_sub(anon):
    assert_invalid_token(get(anon, hs(coordinator(sub=_DROP))))


def test_sub_not_a_uuid(anon):
    assert_invalid_token(get(anon, hs(coordinator(sub="alice"))))


def test_missing_role(anon):
    assert_invalid_token(get(anon, hs(coordinator(role=_DROP))))


def test_unknown_role(anon):
    assert_invalid_token(get(anon, hs(coordinator(role="admin"))))


def test_role_not_a_string(anon):
    assert_invalid_token(get(anon, hs(coordinator(role=["coordinator"]))))


def test_prg_malformed(anon):
    assert_invalid_token(get(anon, hs(coordinator(prg=["not-a-uuid"]))))
    assert_invalid_token(get(anon, hs(coordinator(prg=42))))
    assert_invalid_token(get(anon, hs(coordinator(prg="all"))))


def test_integration_without_partner(anon):
    assert_invalid_token(get(anon, hs(claims_for("integration", prg=[]))))


@pytest.mark.parametrize("tok", ["abc", "a.b", "a.b.c", "a.b.c.d", "....", "Bearer", "eyJ.eyJ.", "%%%.%%%.%%%"])
def test_malformed(anon, tok):
    assert_invalid_token(get(anon, tok))


def test_payload_not_json(anon):
    h = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    p = base64.urlsafe_b64encode(b"not json").rstrip(b"=")
    import hashlib
    import hmac
    si = h + b"." + p
    s = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), si, hashlib.sha256).digest()).rstrip(b"=")
    assert_invalid_token(get(anon, (si + b"." + s).decode()))


def test_oversized_token(anon):
    tok = hs(coordinator(pad="x" * 16384))
    assert len(tok) > 16 * 1024
    assert_invalid_token(get(anon, tok))


def test_empty_bearer(anon):
    r = anon.get(PATH, token=None, headers={"Authorization": "Bearer "})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_in_query_is_not_accepted(anon):
    r = anon.get(PATH, token=None, params={"access_token": hs(coordinator())})
    assert r.status_code == 401
