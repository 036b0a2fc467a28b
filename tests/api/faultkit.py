"""Helpers for the fault, abuse and soak tests (issue 8): throwaway clusters
and databases, load threads that time every answer, raw sockets, VmRSS.

Loads are scaled by KOPPEL_FAULT_SCALE (default 1; 0.5 halves the durations
and thread counts, 2 doubles them) so the whole set stays within a couple of
minutes in `make test`, against the release build and the slower ASan build.
"""
import os
import re
import socket
import subprocess
import threading
import time
import uuid

import requests

from conftest import ROOT, Client

SCALE = max(0.1, float(os.environ.get("KOPPEL_FAULT_SCALE", "1") or "1"))
PG_SH = os.path.join(ROOT, "tools", "pg.sh")


def scaled(n, minimum=1):
    """n scaled by KOPPEL_FAULT_SCALE, never below minimum."""
    v = n * SCALE
    return max(minimum, int(round(v)) if isinstance(n, int) else v)


def sanitized(binary=None):
    """Whether the binary under test is the ASan/UBSan build (slower, larger RSS)."""
    binary = binary or os.environ.get("KOPPEL_BIN", "")
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "asan" in binary
    return "libasan" in out or "asan" in os.path.basename(os.path.dirname(binary))


SLOW = 3.0 if sanitized() else 1.0  # time allowance factor for the ASan build


# --------------------------------------------------------------------------- PostgreSQL

class Cluster:
    """A PostgreSQL cluster of its own under .data/ (tools/pg.sh), to stop and start at will.

    As root, tools/pg.sh runs PostgreSQL as the unprivileged user koppel."""

    def __init__(self, name):
        self.dir = os.path.join(ROOT, ".data", f"fault-{name}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        self.url = None

    def _pg(self, cmd):
        r = subprocess.run(["bash", PG_SH, cmd, self.dir], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"tools/pg.sh {cmd} {self.dir} failed: {r.stderr[-2000:]}")
        return r.stdout.strip()

    def start(self):
        self.url = self._pg("start")
        return self.url

    def prepare_in_background(self, binary):
        """initdb, start and migrate in a thread (initdb alone takes seconds): called
        when the test module is imported, the cluster is ready by the time its test
        runs; ready() waits for it. Destroyed at exit if no test did."""
        import atexit

        def work():
            try:
                self.start()
                migrate(binary, self.url)
            except BaseException as e:  # reported by ready()
                self.failure = e
        self.failure = None
        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()
        atexit.register(self.destroy)
        return self

    def ready(self, timeout=300):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the cluster in {self.dir} was not ready in {timeout}s"
        if self.failure:
            raise self.failure
        return self.url

    def stop(self):
        self._pg("stop")

    def destroy(self):
        if getattr(self, "destroyed", False) or not os.path.isdir(self.dir):
            return  # (tools/pg.sh would make the directory again)
        self.destroyed = True
        try:
            self._pg("destroy")
        except AssertionError:
            pass

    def running(self):
        sock = os.path.realpath(os.path.join(self.dir, "cluster"))
        return os.path.exists(os.path.join(sock, ".s.PGSQL.5432"))


def migrate(binary, url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    env["KOPPEL_DATABASE_URL"] = url
    r = subprocess.run([binary, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"koppel migrate failed: {r.stdout}{r.stderr}"


def url_with_dbname(url, dbname):
    """The conninfo (key=value or URI form) with another database name."""
    if re.match(r"^postgres(ql)?://", url):
        head, _, query = url.partition("?")
        m = re.match(r"^(postgres(?:ql)?://[^/]*)(/[^?]*)?$", head)
        return m.group(1) + "/" + dbname + (("?" + query) if query else "")
    if re.search(r"(^|\s)dbname=\S+", url):
        return re.sub(r"(^|\s)dbname=\S+", lambda m: f"{m.group(1)}dbname={dbname}", url)
    return f"{url} dbname={dbname}"


class FreshDatabase:
    """A new, migrated database in the suite's cluster: its counts (audit rows,
    pg_stat_activity) belong to one test alone."""

    def __init__(self, psql, binary, label):
        self.psql = psql
        self.name = f"koppel_{label}_{uuid.uuid4().hex[:10]}"
        psql(f'CREATE DATABASE "{self.name}"')
        self.url = url_with_dbname(psql.url, self.name)
        migrate(binary, self.url)

    def drop(self):
        try:
            self.psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except AssertionError:
            pass


# --------------------------------------------------------------------------- servers and clients

def client_for(server, spec, token=None):
    return Client(server.base, spec, token)


def rss_kb(pid):
    """VmRSS of a process in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def port_of(server):
    return int(server.base.rsplit(":", 1)[1])


# --------------------------------------------------------------------------- load

class Answer:
    """One request as a client saw it: when it started and ended, what came back."""
    __slots__ = ("kind", "t0", "t1", "status", "headers", "body", "error", "extra")

    def __init__(self, kind, t0, t1, status=None, headers=None, body=None, error=None, extra=None):
        self.kind, self.t0, self.t1 = kind, t0, t1
        self.status, self.headers, self.body, self.error, self.extra = status, headers, body, error, extra

    @property
    def seconds(self):
        return self.t1 - self.t0

    def __repr__(self):
        what = self.status if self.error is None else self.error
        return f"<{self.kind} {what} in {self.seconds:.3f}s at {self.t0:.3f}>"


class Load:
    """Threads that each call step(session, i) -> (kind, method, url, kwargs, extra)
    in a loop until stopped, recording an Answer per request (plain requests,
    no contract check: a fault test must see whatever the server does)."""

    def __init__(self, threads, step, timeout=30.0, pause=0.0):
        self.step = step
        self.timeout = timeout
        self.pause = pause
        self.stop_event = threading.Event()
        self.answers = []
        self.lock = threading.Lock()
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n):
        session = requests.Session()
        i = 0
        while not self.stop_event.is_set():
            try:
                kind, method, url, kw, extra = self.step(session, n, i)
            except Exception as e:  # a bug in the test's step: surface it
                self.errors.append(repr(e))
                return
            i += 1
            t0 = time.monotonic()
            try:
                r = session.request(method, url, timeout=self.timeout, allow_redirects=False, **kw)
                a = Answer(kind, t0, time.monotonic(), r.status_code, r.headers, r.content, extra=extra)
            except requests.RequestException as e:
                a = Answer(kind, t0, time.monotonic(), error=type(e).__name__, extra=extra)
                session.close()
                session = requests.Session()
            with self.lock:
                self.answers.append(a)
            if self.pause:
                time.sleep(self.pause)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, join_timeout=60):
        self.stop_event.set()
        for t in self.threads:
            t.join(join_timeout)
        assert not any(t.is_alive() for t in self.threads), "a load thread hung"
        assert not self.errors, f"the load generator failed: {self.errors[:3]}"
        return self.answers

    def snapshot(self):
        with self.lock:
            return list(self.answers)


# --------------------------------------------------------------------------- raw sockets

def raw_exchange(port, data, timeout=10.0, host="127.0.0.1"):
    """Sends bytes, reads until the server closes (or timeout); returns the bytes read."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if _complete(out):
                break
        return out
    finally:
        s.close()


def _complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return m is not None and len(body) >= int(m.group(1))


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def header_of(raw, name):
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def peer_closed(sock):
    """Whether the server closed a non-blocking socket (EOF or reset) without sending."""
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
