"""Graceful shutdown (issue 8, item 4).

SIGTERM while clients keep lists of 200 participants coming: the requests in
flight complete with their normal status and a whole body, a connection made
after the signal is refused (the listening socket is closed at once), the
process exits 0 within 10 s, and its database connections are closed (none
left in pg_stat_activity). The database is a
fresh one in the suite's cluster, so pg_stat_activity counts this server's
connections alone."""
import json
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import expect, make_psql, unique
from faultkit import SLOW, FreshDatabase, Load, client_for, header_of, port_of, scaled, status_of

EXIT_BOUND_S = 10.0
CLIENTS = scaled(6, minimum=3)


@pytest.fixture
def fresh(psql, servers):
    db = FreshDatabase(psql, servers.binary, "shutdown")
    yield db
    db.drop()


def _backends(psql, dbname):
    return int(psql("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    dbname)[0][0])


def _late_connection(port, results):
    """A client that connects after SIGTERM and asks for /health: (outcome, detail, when it ended)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
    except OSError as e:
        results.append(("refused", type(e).__name__, time.monotonic()))
        return
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: koppel\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        results.append(("answered" if status_of(data) else "closed", status_of(data), time.monotonic()))
    except OSError as e:
        results.append(("reset", type(e).__name__, time.monotonic()))
    finally:
        s.close()


def test_sigterm_under_load_finishes_requests_in_flight_and_exits_0(fresh, servers, spec, tokens, psql):
    srv = servers.start("shutdown", KOPPEL_DATABASE_URL=fresh.url, KOPPEL_THREADS=2, KOPPEL_POOL_SIZE=2,
                        KOPPEL_POOL_WAIT_MS=10000)
    db = make_psql(fresh.url)
    try:
        tok = tokens("coordinator", prg="*")
        coord = client_for(srv, spec, tok)
        prg = expect(coord.post("/v1/programmes", {"name": unique("shutdown")}), 201)["id"]
        db("INSERT INTO participants (programme_id, kind, given_name, family_name, status, email, motivation) "
           "SELECT %s, 'mentee', 'Given', 'shutdown-' || g, 'waiting', 'p' || g || '@example.org', "
           "repeat('motivation ', 100) FROM generate_series(1, 400) g", prg)
        db.close()
        auth = {"Authorization": f"Bearer {tok}"}
        url = f"{srv.base}/v1/participants?limit=200&programme_id={prg}"

        def step(session, n, i):
            return "list", "GET", url, {"headers": auth}, None

        load = Load(threads=CLIENTS, step=step, timeout=60).start()
        time.sleep(1.5 * SLOW)
        assert _backends(psql, fresh.name) >= 1
        t_sig = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        late = []
        time.sleep(0.3)
        late_thread = threading.Thread(target=_late_connection, args=(port_of(srv), late), daemon=True)
        late_thread.start()
        try:  # the drain in service/http.c gives up after 30 s
            rc = srv.proc.wait(timeout=40 * SLOW)
        except subprocess.TimeoutExpired:
            srv.proc.kill()
            srv.proc.wait()
            rc = None
        t_exit = time.monotonic()
        answers = load.stop()
        late_thread.join(30)
        srv.log.close()
        srv.proc = None

        took = t_exit - t_sig
        problems = []  # every finding at once: one run tells the whole story
        if rc != 0:
            problems.append(f"exit status {rc} after SIGTERM")
        if took >= EXIT_BOUND_S * SLOW:
            problems.append(f"the server took {took:.1f}s to stop after SIGTERM (bound {EXIT_BOUND_S * SLOW:.0f}s)")
        # every answer is a whole, normal one
        for a in answers:
            if a.status is not None and (a.status != 200 or len(json.loads(a.body)["items"]) != 200):
                problems.append(f"{a}: not a whole, normal answer: {a.body[:200]}")
        # every request that was under way when the signal came was answered in full
        in_flight = [a for a in answers if a.t0 < t_sig < a.t1]
        cut = [a for a in in_flight if a.status is None]
        if cut:
            problems.append(f"{len(cut)} of {len(in_flight)} requests under way at SIGTERM got no answer: {cut[:5]}")
        # no connection made after the signal is served, and none waits for nothing:
        # the listening socket is closed at the signal, so it is refused at once
        if not late or late[0][0] != "refused":
            problems.append(f"a connection made after SIGTERM was not refused: {late}")
        # the pool is closed: no connection of this server is left
        deadline = time.monotonic() + 5
        while _backends(psql, fresh.name) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _backends(psql, fresh.name)
        if left:
            problems.append(f"{left} database connections left after the server exited")
        if '"stopped"' not in srv.tail(5):
            problems.append("no 'stopped' line at the end of the log")
        # draining means finishing what runs, not taking new work on open keep-alive
        # connections: each connection may finish the request it had sent, no more
        after = [a for a in answers if a.t0 > t_sig + 0.05 and a.status is not None]
        if len(after) > CLIENTS:
            problems.append(f"{len(after)} requests sent on open connections after SIGTERM were served "
                            f"(at most {CLIENTS}, one per connection, expected): the drain never ends under load")
        print(f"\nSIGTERM with {len(in_flight)} requests under way: exit {rc} after {took:.2f}s; "
              f"{len(after)} requests answered on open connections after the signal; "
              f"late connection: {late[0][0] + ' ' + str(late[0][1]) + f' after {late[0][2] - t_sig:.2f}s' if late else None}")
        assert not problems, "\n".join(problems) + "\n" + srv.tail(3)
    finally:
        db.close()
        if srv.proc is not None:
            srv.stop()


def test_sigterm_refuses_new_connections_at_once_and_finishes_what_runs(servers):
    srv = servers.start("refuse")
    port = port_of(srv)
    # a client in the middle of sending its request keeps the drain going a moment
    slow = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: koppel\r\nX-Slow: ")
        time.sleep(0.2)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        refused = None
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.close()
            refused = False
        except ConnectionRefusedError:
            refused = True
        slow.sendall(b"1\r\n\r\n")
        answer = b""
        while True:
            chunk = slow.recv(4096)
            if not chunk:
                break
            answer += chunk
    finally:
        slow.close()
    rc = srv.proc.wait(timeout=30 * SLOW)
    srv.log.close()
    srv.proc = None
    assert refused, "a connection made after SIGTERM was accepted (the listening socket stayed open)"
    assert status_of(answer) == 200 and header_of(answer, "Connection") == "close", answer[:300]
    assert rc == 0
