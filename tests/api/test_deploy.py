"""The deployment shape of docker/compose.yaml, without Docker (issue 5, part 7):

    client -> nginx -> two `koppel serve` replicas -> pgbouncer (transaction pooling) -> PostgreSQL

Debian's nginx and pgbouncer run as ordinary processes on loopback ports, as the
unprivileged user that owns the test cluster ("koppel" when the suite runs as root,
like tools/pg.sh), with configurations made from docker/nginx.conf and
docker/pgbouncer.ini (only addresses, ports and file paths are replaced, so what
is tested is what compose deploys). Both replicas run with KOPPEL_DB_PREPARED=off
and KOPPEL_WEBHOOK_LISTEN=off on a database of their own, migrated directly (the
migration lock needs a session). Through nginx the test runs a representative part
of the API: create, propose, meet, an idempotent retry, a pagination walk, If-Match,
an export stream, webhook delivery and /ready; it checks that requests land on both
replicas and that nginx keeps serving when one replica is killed."""
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

from conftest import ROOT, Client, expect, free_port, make_psql, unique
from test_webhooks import Receiver, check_request, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PSQL = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(NGINX) and os.path.exists(PGBOUNCER)),
    reason="nginx and pgbouncer are installed by tools/deps.sh (make test)")


def _conninfo(url):
    """key=value pairs of a libpq conninfo string."""
    return dict(kv.split("=", 1) for kv in url.split())


def _sub(text, pattern, repl, count=1):
    """re.sub that insists the pattern is there: a changed docker/ file fails loudly."""
    new, n = re.subn(pattern, repl, text, flags=re.M)
    assert n >= count, f"docker/ configuration changed: {pattern!r} not found"
    return new


class Daemon:
    """A process run as the unprivileged user, with its output in a log file."""

    def __init__(self, name, argv, workdir, user):
        self.name = name
        self.log = open(os.path.join(workdir, f"{name}.out"), "ab")
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=workdir)
        self.path = os.path.join(workdir, f"{name}.out")

    def tail(self):
        with open(self.path, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wait_port(port, proc, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.proc.poll() is None, f"{what} exited:\n{proc.tail()}"
        try:
            import socket
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port}:\n{proc.tail()}")


class Stack:
    def __init__(self, servers, spec, tokens, psql):
        self.spec, self.tokens, self.main_psql = spec, tokens, psql
        self.daemons, self.replicas = [], []
        self.user = "koppel" if os.getuid() == 0 else None
        self.dir = tempfile.mkdtemp(prefix="koppel-deploy-", dir="/var/tmp")
        os.chmod(self.dir, 0o755)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

        # a database of its own, migrated straight on PostgreSQL
        self.db = "koppel_deploy_" + uuid.uuid4().hex[:12]
        psql(f'CREATE DATABASE "{self.db}"')
        direct = _conninfo(os.environ["KOPPEL_TEST_DATABASE_URL"])
        direct["dbname"] = self.db
        self.direct_url = " ".join(f"{k}={v}" for k, v in direct.items())
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
        env["KOPPEL_DATABASE_URL"] = self.direct_url
        subprocess.run([os.environ["KOPPEL_BIN"], "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                       timeout=120)
        self.psql = make_psql(self.direct_url)

        # pgbouncer from docker/pgbouncer.ini
        self.pgb_port = free_port()
        with open(os.path.join(ROOT, "docker", "pgbouncer.ini"), encoding="utf-8") as f:
            ini = f.read()
        sock = direct["host"]
        ini = _sub(ini, r"^koppel = host=postgres port=5432 dbname=koppel ",
                   f"koppel = host={sock} dbname={self.db} user=koppel ")
        ini = _sub(ini, r"^listen_addr = .*$", "listen_addr = 127.0.0.1")
        ini = _sub(ini, r"^listen_port = .*$", f"listen_port = {self.pgb_port}")
        # the test cluster trusts local connections: no password to keep here
        ini = _sub(ini, r"^auth_type = .*$", "auth_type = trust")
        ini = _sub(ini, r"^auth_file = .*$", f"auth_file = {self.dir}/userlist.txt")
        ini = _sub(ini, r"^\[pgbouncer\]$", f"[pgbouncer]\nunix_socket_dir =\npidfile = {self.dir}/pgbouncer.pid\n"
                                            f"logfile = {self.dir}/pgbouncer.log\nadmin_users = koppel")
        self._write("pgbouncer.ini", ini)
        self._write("userlist.txt", '"koppel" ""\n')
        pgb = Daemon("pgbouncer", [PGBOUNCER, f"{self.dir}/pgbouncer.ini"], self.dir, self.user)
        self.daemons.append(pgb)
        wait_port(self.pgb_port, pgb, "pgbouncer")
        self.pooled_url = f"host=127.0.0.1 port={self.pgb_port} dbname=koppel user=koppel"

        # two replicas through pgbouncer
        for i in (1, 2):
            self.replicas.append(servers.start(f"replica-{i}", KOPPEL_DATABASE_URL=self.pooled_url,
                                               KOPPEL_DB_PREPARED="off", KOPPEL_WEBHOOK_LISTEN="off",
                                               KOPPEL_WEBHOOK_BACKOFF_MS=200, KOPPEL_POOL_SIZE=4,
                                               KOPPEL_WEBHOOK_ALLOW_PRIVATE=1))  # the receiver is on loopback

        # nginx from docker/nginx.conf
        self.port = free_port()
        with open(os.path.join(ROOT, "docker", "nginx.conf"), encoding="utf-8") as f:
            conf = f.read()
        ports = [urllib.parse.urlsplit(s.base).port for s in self.replicas]
        conf = _sub(conf, r"server koppel-1:8080", f"server 127.0.0.1:{ports[0]}")
        conf = _sub(conf, r"server koppel-2:8080", f"server 127.0.0.1:{ports[1]}")
        conf = _sub(conf, r"listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = _sub(conf, r"access_log /dev/stdout koppel;", f"access_log {self.dir}/access.log koppel;")
        conf = _sub(conf, r"^worker_processes auto;", f"worker_processes 2;\npid {self.dir}/nginx.pid;")
        temp = "".join(f"  {k}_temp_path {self.dir}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = _sub(conf, r"^http \{$", "http {\n" + temp)
        self._write("nginx.conf", conf)
        self.nginx = Daemon("nginx", [NGINX, "-p", self.dir, "-c", f"{self.dir}/nginx.conf", "-e",
                                      f"{self.dir}/error.log", "-g", "daemon off;"], self.dir, self.user)
        self.daemons.append(self.nginx)
        wait_port(self.port, self.nginx, "nginx")
        self.base = f"http://127.0.0.1:{self.port}"
        self.coord = self.client(tokens("coordinator", prg="*"))

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def client(self, token):
        return Client(self.base, self.spec, token)

    def served_by(self, request_ids):
        """{replica name: how many of request_ids it logged}."""
        out = {}
        for s in self.replicas:
            with open(s.logpath, encoding="utf-8", errors="replace") as f:
                text = f.read()
            out[s.name] = sum(1 for rid in request_ids if f'"{rid}"' in text)
        return out

    def close(self):
        for s in self.replicas:
            if s.proc is not None:
                s.stop_clean()
        for d in reversed(self.daemons):
            d.stop()
        self.psql.close()
        self.main_psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(servers, spec, tokens, psql):
    s = Stack(servers, spec, tokens, psql)
    yield s
    s.close()


def test_ready_health_and_metrics_through_nginx(stack):
    anon = stack.client(None)
    assert expect(anon.get("/ready"), 200) == {"status": "ready", "database": "ok"}
    expect(anon.get("/health"), 200)
    r = anon.get("/metrics")
    assert "koppel_db_pool_size 4" in r.text
    # an unknown path is the API's 404 problem, not nginx's page
    expect(anon.get("/nowhere"), 404)


def test_body_limits_through_nginx(stack):
    """Over Koppel's 1 MiB: Koppel's 413; over nginx's 2 MiB: nginx's, in the same shape."""
    for size, by in ((1536 * 1024, "koppel"), (3 * 1024 * 1024, "nginx")):
        body = b'{"name":"' + b"x" * size + b'"}'
        try:
            r = requests.post(stack.base + "/v1/programmes", data=body, timeout=30,
                              headers={"Content-Type": "application/json",
                                       "Authorization": f"Bearer {stack.coord.token}"})
        except requests.ConnectionError:
            if by == "nginx":
                continue  # nginx may close before the client has sent it all; nothing got through
            raise
        assert r.status_code == 413, (by, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/problem+json"), (by, r.headers)
        assert r.json()["status"] == 413


def test_replicas_reach_postgresql_through_pgbouncer_in_transaction_mode(stack):
    expect(stack.coord.get("/v1/programmes"), 200)
    expect(stack.coord.get("/v1/programmes"), 200)
    admin = f"host=127.0.0.1 port={stack.pgb_port} dbname=pgbouncer user=koppel"

    def show(what):
        out = subprocess.run([PSQL, "-X", "-A", "-F", "\t", "-d", admin, "-c", f"SHOW {what}"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.splitlines()
        head = out[0].split("\t")
        return [dict(zip(head, line.split("\t"))) for line in out[1:] if "\t" in line]
    pools = [p for p in show("POOLS") if p["database"] == "koppel"]
    assert pools and all(p["pool_mode"] == "transaction" for p in pools), pools
    clients = [c for c in show("CLIENTS") if c["database"] == "koppel"]
    names = sorted(c["application_name"] for c in clients)
    # each replica: its pool's connections (opened at start) and its webhook worker's
    assert names.count("koppel-webhooks") == 2 and names.count("koppel") == 2 * 4, names


def test_requests_land_on_both_replicas(stack):
    anon = stack.client(None)
    rids = [f"deploy-{uuid.uuid4().hex}" for _ in range(10)]
    for rid in rids:
        r = anon.get("/health", request_id=rid)
        assert r.status_code == 200 and r.headers["X-Request-Id"] == rid
    served = stack.served_by(rids)
    assert sum(served.values()) == len(rids) and all(n >= 3 for n in served.values()), served


def test_a_pair_s_life_through_nginx(stack):
    """Each step may land on another replica: no replica holds state."""
    c = stack.coord
    prog = expect(c.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]
    mentor = expect(c.post("/v1/participants", {"programme_id": prog, "kind": "mentor", "given_name": "M",
                                                "family_name": unique("f"), "status": "waiting"}), 201)
    mentee = expect(c.post("/v1/participants", {"programme_id": prog, "kind": "mentee", "given_name": "E",
                                                "family_name": unique("f"), "status": "waiting"}), 201)
    pair = expect(c.post("/v1/pairs", {"mentor_id": mentor["id"], "mentee_id": mentee["id"]}), 201)
    assert pair["status"] == "proposed"
    for p in (mentor, mentee):
        who = stack.client(stack.tokens(p["kind"], sub=p["id"], prg=[prog]))
        expect(who.post(f"/v1/pairs/{pair['id']}/accept"), 200)
    assert expect(c.get(f"/v1/pairs/{pair['id']}"), 200)["status"] == "accepted"
    me = stack.client(stack.tokens("mentee", sub=mentee["id"], prg=[prog]))
    expect(me.post(f"/v1/pairs/{pair['id']}/meetings", {
        "held_on": time.strftime("%Y-%m-%d", time.gmtime()), "duration_minutes": 60, "mode": "video",
        "initiated_by": "mentee"}), 201)
    # If-Match with an ETag one replica gave, checked by the other
    g = c.get(f"/v1/participants/{mentee['id']}")
    etag = g.headers["ETag"]
    expect(c.patch(f"/v1/participants/{mentee['id']}", {"region": "Gent"}, headers={"If-Match": etag}), 200)
    expect(c.patch(f"/v1/participants/{mentee['id']}", {"region": "Brugge"}, headers={"If-Match": etag}), 412)
    assert stack.psql("SELECT count(*) FROM pairs WHERE id = %s", pair["id"]) == [("1",)]


def test_idempotent_retry_across_replicas(stack):
    c = stack.coord
    prog = expect(c.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]
    key, family = str(uuid.uuid4()), unique("family")
    body = {"programme_id": prog, "kind": "mentee", "given_name": "I", "family_name": family}
    rids = [f"idem-{uuid.uuid4().hex}" for _ in range(4)]
    answers = [c.post("/v1/participants", body, headers={"Idempotency-Key": key}, request_id=rid) for rid in rids]
    first = expect(answers[0], 201)
    for r in answers[1:]:
        assert expect(r, 201) == first and r.headers.get("Idempotent-Replayed") == "true"
    assert all(n >= 1 for n in stack.served_by(rids).values()), "the retries reached both replicas"
    assert stack.psql("SELECT count(*) FROM participants WHERE family_name = %s", family) == [("1",)]


def test_pagination_walk_across_replicas(stack):
    c = stack.coord
    prog = expect(c.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]
    made = {expect(c.post("/v1/participants", {"programme_id": prog, "kind": "mentee", "given_name": "P",
                                               "family_name": unique("f")}), 201)["id"] for _ in range(7)}
    seen, pages = [], 0
    params = {"programme_id": prog, "limit": 2}
    while True:
        body = expect(c.get("/v1/participants", params=params), 200)
        pages += 1
        seen += [p["id"] for p in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]   # signed by one replica, read by the other
    assert pages == 4 and len(seen) == len(set(seen)) and set(seen) == made


def test_export_streams_through_nginx(stack):
    c = stack.coord
    prog = expect(c.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]
    expect(c.post("/v1/participants", {"programme_id": prog, "kind": "mentee", "given_name": "X",
                                       "family_name": unique("f"),
                                       "consent": {"data_processing": True, "research": True}}), 201)
    r = requests.get(stack.base + "/v1/exports/participants", params={"programme_id": prog}, timeout=60,
                     headers={"Authorization": f"Bearer {c.token}", "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), r.text[:500]
    lines = r.text.splitlines()
    assert lines[0].startswith("participant_id") and len(lines) == 2, lines


def test_webhook_delivered_through_pgbouncer(stack):
    """The delivery workers poll through pgbouncer (no LISTEN) and deliver each event once."""
    rec = Receiver()
    try:
        c = stack.coord
        hook = expect(c.post("/v1/webhooks", {"target_url": rec.url,
                                              "event_types": ["participant.status_changed"]}), 201)
        prog = expect(c.post("/v1/programmes", {"name": unique("programme")}), 201)["id"]
        ids = [expect(c.post("/v1/participants", {"programme_id": prog, "kind": "mentee", "given_name": "W",
                                                  "family_name": unique("f")}), 201)["id"] for _ in range(3)]
        rec.wait_delivered(3, timeout=30)
        time.sleep(1.5)
        got = [check_request(r, hook["secret"]) for r in rec.snapshot()]
        assert sorted(e["data"]["participant_id"] for e in got) == sorted(ids), "each event once"
        expect(c.delete(f"/v1/webhooks/{hook['id']}"), 204)
    finally:
        rec.close()


def test_killing_one_replica_keeps_nginx_serving(stack):
    """Last in the module: one replica dies (SIGKILL); nginx passes everything to the other."""
    victim, survivor = stack.replicas
    victim.proc.kill()
    victim.proc.wait()
    c = stack.coord
    rids = [f"after-kill-{uuid.uuid4().hex}" for _ in range(8)]
    for rid in rids[:6]:
        expect(c.get("/ready", request_id=rid), 200)
    prog = expect(c.post("/v1/programmes", {"name": unique("programme")}, request_id=rids[6]), 201)["id"]
    expect(c.get(f"/v1/programmes/{prog}", request_id=rids[7]), 200)
    served = stack.served_by(rids)
    assert served[survivor.name] == len(rids), served
    victim.log.close()
    victim.proc = None
    # no replica left: nginx answers in the API's error shape, never an HTML page
    survivor.stop_clean()
    r = requests.get(stack.base + "/v1/programmes", headers={"X-Request-Id": "none-left"}, timeout=30)
    assert r.status_code == 503 and r.headers["Content-Type"] == "application/problem+json", r.text
    assert r.json()["status"] == 503 and r.headers["Retry-After"] == "5"
    assert r.headers["X-Request-Id"] == "none-left"


# --------------------------------------------------------------------------- docker/Dockerfile, without Docker

def _dockerfile_stages():
    """[(apt packages installed, COPY sources)] per stage of docker/Dockerfile."""
    with open(os.path.join(ROOT, "docker", "Dockerfile"), encoding="utf-8") as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for stage in re.split(r"^FROM ", text, flags=re.M)[1:]:
        pkgs, copies = set(), []
        for m in re.finditer(r"apt-get install -y --no-install-recommends ([^&\n]*)", stage):
            pkgs |= set(m.group(1).split())
        for m in re.finditer(r"^COPY (?!--from)(.*)$", stage, flags=re.M):
            copies += [a.rstrip("/") for a in m.group(1).split()[:-1]]
        stages.append((pkgs, copies))
    return stages


def _package_of(path):
    out = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
    assert out.returncode == 0, f"no Debian package holds {path}"
    return out.stdout.split(":")[0].split(",")[0].strip()


@pytest.mark.skipif(not shutil.which("dpkg"), reason="needs Debian's dpkg")
def test_dockerfile_builds_what_cmake_needs_and_ships_what_the_binary_links():
    """The image cannot be built here (no Docker engine), so check what it is made of against this
    machine's Debian 12: the build stage copies every file CMakeLists.txt reads and installs the
    -dev package of every pkg-config module; the runtime stage installs the package of every
    library the binary links."""
    (build_pkgs, copies), (run_pkgs, _) = _dockerfile_stages()
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        cmake = f.read()
    read = {"CMakeLists.txt"} | set(re.findall(r"\$\{CMAKE_SOURCE_DIR\}/([A-Za-z0-9_./*-]+)", cmake))
    read |= set(re.findall(r"^\s*(service|api)/[a-z_]+\.c", cmake, flags=re.M))
    for path in read:
        assert any(path == c or path.startswith(c + "/") for c in copies), f"Dockerfile does not COPY {path}"
    with open(os.path.join(ROOT, "docker", "Dockerfile.dockerignore"), encoding="utf-8") as f:
        allowed = {line[1:].strip().rstrip("/") for line in f if line.startswith("!")}
    assert set(copies) <= allowed, f"Dockerfile.dockerignore leaves out {set(copies) - allowed}"

    modules = []
    for m in re.finditer(r"pkg_check_modules\(\w+ REQUIRED IMPORTED_TARGET ([^)]*)\)", cmake):
        modules += m.group(1).split()
    assert "libcurl" in modules
    for mod in modules:
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True, text=True,
                               check=True).stdout.strip()
        pkg = _package_of(os.path.join(pcdir, mod + ".pc"))
        assert pkg in build_pkgs, f"the build stage needs {pkg} (pkg-config {mod})"

    binary = os.path.join(ROOT, "build", "koppel")
    if not os.path.exists(binary):
        pytest.skip("the release build (make build) is not there")
    needed = re.findall(r"NEEDED\s+(\S+)", subprocess.run(["objdump", "-p", binary], capture_output=True,
                                                          text=True, check=True).stdout)
    ldd = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", binary], capture_output=True, text=True,
                                                                   check=True).stdout, flags=re.M))
    for lib in needed:
        if lib == "libc.so.6":
            continue
        pkg = _package_of(ldd[lib])
        assert pkg in run_pkgs, f"the runtime stage needs {pkg} ({lib})"
