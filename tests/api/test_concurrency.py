"""Optimistic concurrency: If-Match prevents lost updates; If-None-Match saves a transfer."""
import threading

import pytest

from conftest import expect, unique


def _race(clients, path, bodies, etag):
    """Each client PATCHes at the same moment with the same If-Match; returns the responses."""
    barrier = threading.Barrier(len(clients))
    results = [None] * len(clients)

    def go(i):
        barrier.wait()
        try:
            results[i] = clients[i].patch(path, bodies[i], headers={"If-Match": etag})
        except BaseException as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def test_lost_update_two_coaches(client, tokens, make, psql):
    prog = make.programme()
    p = make.participant(prog["id"], region="Antwerpen")
    path = f"/v1/participants/{p['id']}"
    a = client(tokens("coach", prg=[prog["id"]]))
    b = client(tokens("coach", prg=[prog["id"]]))
    ra, rb = a.get(path), b.get(path)
    assert ra.headers["ETag"] == rb.headers["ETag"]
    etag = ra.headers["ETag"]
    results = _race([a, b], path, [{"region": "Gent"}, {"region": "Brugge"}], etag)
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 412], [(r.status_code, r.text[:200]) for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    stored = psql("SELECT region FROM participants WHERE id = %s", p["id"])[0][0]
    assert stored == winner["region"]
    # the loser reads again and succeeds with the fresh ETag
    loser = a if results[0].status_code == 412 else b
    fresh = loser.get(path)
    expect(loser.patch(path, {"region": "Leuven"}, headers={"If-Match": fresh.headers["ETag"]}), 200)


def test_lost_update_sequential(coord, make):
    prog = make.programme()
    p = make.participant(prog["id"])
    path = f"/v1/participants/{p['id']}"
    etag = coord.get(path).headers["ETag"]
    expect(coord.patch(path, {"region": "Gent"}, headers={"If-Match": etag}), 200)
    expect(coord.patch(path, {"region": "Brugge"}, headers={"If-Match": etag}), 412)
    assert expect(coord.get(path), 200)["region"] == "Gent"


@pytest.mark.parametrize("n", [8])
def test_many_writers_one_winner(client, tokens, make, n):
    prog = make.programme()
    p = make.participant(prog["id"])
    path = f"/v1/participants/{p['id']}"
    clients = [client(tokens("coordinator", prg=[prog["id"]])) for _ in range(n)]
    etag = clients[0].get(path).headers["ETag"]
    results = _race(clients, path, [{"job_target": f"target {i}"} for i in range(n)], etag)
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [412] * (n - 1), codes


def test_lost_update_on_programme(client, tokens, make):
    prog = make.programme()
    path = f"/v1/programmes/{prog['id']}"
    a = client(tokens("coordinator", prg="*"))
    b = client(tokens("coordinator", prg="*"))
    etag = a.get(path).headers["ETag"]
    results = _race([a, b], path, [{"description": "a"}, {"description": "b"}], etag)
    assert sorted(r.status_code for r in results) == [200, 412]


def test_lost_update_on_partner(client, tokens, make):
    partner = make.partner()
    path = f"/v1/partners/{partner['id']}"
    a = client(tokens("coordinator", prg="*"))
    b = client(tokens("coordinator", prg="*"))
    etag = a.get(path).headers["ETag"]
    results = _race([a, b], path, [{"notes": "a"}, {"notes": "b"}], etag)
    assert sorted(r.status_code for r in results) == [200, 412]


def test_if_none_match_304_then_200_after_change(coord, make):
    prog = make.programme()
    p = make.participant(prog["id"])
    path = f"/v1/participants/{p['id']}"
    r = coord.get(path)
    etag = r.headers["ETag"]
    r304 = coord.get(path, headers={"If-None-Match": etag})
    expect(r304, 304)
    assert r304.content == b""
    assert r304.headers.get("ETag") == etag
    expect(coord.patch(path, {"region": "Gent"}), 200)
    r2 = coord.get(path, headers={"If-None-Match": etag})
    body = expect(r2, 200)
    assert body["region"] == "Gent" and r2.headers["ETag"] != etag


def test_if_none_match_list_of_etags(coord, make):
    prog = make.programme()
    path = f"/v1/programmes/{prog['id']}"
    etag = coord.get(path).headers["ETag"]
    expect(coord.get(path, headers={"If-None-Match": f'"aaaa", {etag}'}), 304)
    expect(coord.get(path, headers={"If-None-Match": "*"}), 304)


def test_etag_differs_by_viewer(client, tokens, make):
    """A mentor's view of a mentee is smaller than the coach's: the ETags must differ."""
    prog = make.programme()
    mentor = make.participant(prog["id"], kind="mentor")
    mentee = make.participant(prog["id"], kind="mentee")
    make.pair(prog["id"], mentor["id"], mentee["id"])
    path = f"/v1/participants/{mentee['id']}"
    coach = client(tokens("coach", prg=[prog["id"]]))
    as_mentor = client(tokens("mentor", sub=mentor["id"], prg=[prog["id"]]))
    full = coach.get(path)
    partial = as_mentor.get(path)
    assert expect(partial, 200) != expect(full, 200)
    assert full.headers["ETag"] != partial.headers["ETag"]
    expect(as_mentor.get(path, headers={"If-None-Match": partial.headers["ETag"]}), 304)
    expect(as_mentor.get(path, headers={"If-None-Match": full.headers["ETag"]}), 200)


def test_if_match_star_and_absent_are_unconditional(coord, make):
    prog = make.programme()
    p = make.participant(prog["id"])
    path = f"/v1/participants/{p['id']}"
    expect(coord.patch(path, {"region": "A"}, headers={"If-Match": "*"}), 200)
    expect(coord.patch(path, {"region": "B"}), 200)


def test_weak_or_garbage_if_match_is_412(coord, make, unchanged):
    prog = make.programme()
    p = make.participant(prog["id"])
    path = f"/v1/participants/{p['id']}"
    etag = coord.get(path).headers["ETag"]
    with unchanged():
        expect(coord.patch(path, {"region": "X"}, headers={"If-Match": '"nope"'}), 412)
        expect(coord.patch(path, {"region": "X"}, headers={"If-Match": etag.strip('"')[:-1]}), 412)
        # If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches
        expect(coord.patch(path, {"region": "X"}, headers={"If-Match": "W/" + etag}), 412)
