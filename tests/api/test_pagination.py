"""Keyset pagination: stable under concurrent inserts, signed cursors, limits."""
import base64
import threading
import time

import pytest

from conftest import expect, unique


def insert_participants(psql, programme_id, n, prefix):
    psql("INSERT INTO participants (programme_id, kind, given_name, family_name) "
         "SELECT %s, CASE WHEN i % 2 = 0 THEN 'mentor' ELSE 'mentee' END, 'Bulk', %s || '-' || i "
         "FROM generate_series(1, " + str(int(n)) + ") AS i", programme_id, prefix)
    return {r[0] for r in psql("SELECT id FROM participants WHERE programme_id = %s", programme_id)}


def test_walk_1000_while_another_client_inserts(coord, client, tokens, make, psql):
    prog = make.programme()
    original = insert_participants(psql, prog["id"], 1000, unique("bulk"))
    assert len(original) == 1000

    writer = client(tokens("coordinator", prg=[prog["id"]]))
    stop = threading.Event()
    inserted, errors = [], []

    def insert_more():
        i = 0
        while not stop.is_set() and i < 2000:
            try:
                r = writer.post("/v1/participants", {"programme_id": prog["id"], "kind": "mentee",
                                                     "given_name": "Late", "family_name": f"late-{i}"})
                if r.status_code != 201:
                    errors.append(r.text)
                    return
                inserted.append(r.json()["id"])
            except Exception as e:  # surfaces in the main thread
                errors.append(repr(e))
                return
            i += 1

    t = threading.Thread(target=insert_more)
    t.start()
    seen, pages = [], 0
    try:
        params = {"programme_id": prog["id"], "limit": 37}
        while True:
            r = coord.get("/v1/participants", params=params)
            body = expect(r, 200)
            pages += 1
            assert len(body["items"]) <= 37
            seen.extend(x["id"] for x in body["items"])
            if body["next_cursor"] is None:
                break
            assert len(body["items"]) == 37, "a page before the last one is short"
            params["cursor"] = body["next_cursor"]
            time.sleep(0.005)  # let the writer interleave
            assert pages < 1000
    finally:
        stop.set()
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert inserted, "the writer inserted nothing during the walk"
    assert len(seen) == len(set(seen)), "a participant appeared twice"
    assert original <= set(seen), f"{len(original - set(seen))} original participants were skipped"
    assert set(seen) <= original | set(inserted)
    assert pages >= 28


def test_pages_are_in_creation_order_and_disjoint(coord, make, psql):
    prog = make.programme()
    insert_participants(psql, prog["id"], 25, unique("order"))
    expected = [r[0] for r in psql("SELECT id FROM participants WHERE programme_id = %s ORDER BY seq", prog["id"])]
    walked = [x["id"] for x in coord.walk("/v1/participants", {"programme_id": prog["id"]}, limit=7)]
    assert walked == expected


def test_exact_multiple_ends_with_null_cursor(coord, make, psql):
    prog = make.programme()
    insert_participants(psql, prog["id"], 10, unique("exact"))
    r1 = expect(coord.get("/v1/participants", params={"programme_id": prog["id"], "limit": 5}), 200)
    assert len(r1["items"]) == 5 and r1["next_cursor"]
    r2 = expect(coord.get("/v1/participants", params={"programme_id": prog["id"], "limit": 5,
                                                       "cursor": r1["next_cursor"]}), 200)
    assert len(r2["items"]) == 5
    if r2["next_cursor"] is not None:
        r3 = expect(coord.get("/v1/participants", params={"programme_id": prog["id"], "limit": 5,
                                                           "cursor": r2["next_cursor"]}), 200)
        assert r3 == {"items": [], "next_cursor": None}


def test_default_limit_is_50(coord, make, psql):
    prog = make.programme()
    insert_participants(psql, prog["id"], 60, unique("default"))
    body = expect(coord.get("/v1/participants", params={"programme_id": prog["id"]}), 200)
    assert len(body["items"]) == 50 and body["next_cursor"]


def test_limit_bounds_accepted(coord, make, psql):
    prog = make.programme()
    insert_participants(psql, prog["id"], 3, unique("bounds"))
    assert len(expect(coord.get("/v1/participants", params={"programme_id": prog["id"], "limit": 1}), 200)["items"]) == 1
    assert len(expect(coord.get("/v1/participants", params={"programme_id": prog["id"], "limit": 200}),
                      200)["items"]) == 3


@pytest.mark.parametrize("path", ["/v1/programmes", "/v1/staff", "/v1/partners", "/v1/participants"])
@pytest.mark.parametrize("limit", ["0", "201", "abc", "-1", "1.5", "", " 5", "5 ", "0x10", "1e2", "99999999999999999999"])
def test_bad_limit_is_400(coord, path, limit):
    expect(coord.get(path, params={"limit": limit}), 400)


def _cursor(coord, path, params=None):
    body = expect(coord.get(path, params=dict(params or {}, limit=1)), 200)
    assert body["next_cursor"], f"{path} needs at least two items for this test"
    return body["next_cursor"]


@pytest.fixture(scope="module")
def two_of_each(make):
    prog = make.programme()
    make.programme()
    make.partner()
    make.partner()
    make.staff([prog["id"]])
    make.staff([prog["id"]])
    make.participant(prog["id"])
    make.participant(prog["id"])
    return prog


def _tamper_variants(cursor):
    variants = set()
    for i in range(len(cursor)):
        c = cursor[i]
        repl = "A" if c != "A" else "B"
        variants.add(cursor[:i] + repl + cursor[i + 1:])
    variants.add(cursor + "A")
    variants.add(cursor[:-1])
    variants.add(cursor.replace(".", ""))
    variants.add("")
    variants.add("x" * 300)
    variants.discard(cursor)
    return sorted(variants)


@pytest.mark.parametrize("path", ["/v1/programmes", "/v1/staff", "/v1/partners", "/v1/participants"])
def test_tampered_cursor_is_400(coord, two_of_each, path):
    cursor = _cursor(coord, path)
    expect(coord.get(path, params={"limit": 1, "cursor": cursor}), 200)
    for bad in _tamper_variants(cursor):
        r = coord.get(path, params={"limit": 1, "cursor": bad})
        assert r.status_code == 400, f"cursor {bad!r} (from {cursor!r}) was accepted: {r.status_code}"


def test_forged_cursor_payload_is_400(coord, two_of_each):
    """Re-encoding the readable part with another position, keeping the signature."""
    cursor = _cursor(coord, "/v1/participants")
    head, _, sig = cursor.partition(".")
    original = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    scope, _, seq = original.partition(b":")
    assert scope == b"participants" and seq.isdigit(), original
    n = int(seq)
    for forged in [b"participants:0", b"participants:%d" % (n + 1), b"participants:%d" % max(n - 1, 0),
                   b"programmes:%d" % n, b"participants:-1", b"participants:%d " % n]:
        if forged == original:
            continue
        enc = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
        expect(coord.get("/v1/participants", params={"cursor": f"{enc}.{sig}"}), 400)


@pytest.mark.parametrize("source,target", [("/v1/programmes", "/v1/participants"), ("/v1/participants", "/v1/programmes"),
                                           ("/v1/partners", "/v1/staff"), ("/v1/staff", "/v1/partners")])
def test_cursor_of_another_list_is_400(coord, two_of_each, source, target):
    cursor = _cursor(coord, source)
    expect(coord.get(target, params={"cursor": cursor}), 400)


def test_cursor_stays_valid_across_servers(coord, two_of_each, servers, spec):
    """Stateless replicas: a cursor from one server works on another with the same secret."""
    from conftest import Client
    cursor = _cursor(coord, "/v1/programmes")
    s = servers.start("replica")
    try:
        c = Client(s.base, spec, coord.token)
        expect(c.get("/v1/programmes", params={"cursor": cursor, "limit": 1}), 200)
    finally:
        s.stop_clean()


def test_lists_have_the_page_shape(coord, two_of_each):
    for path in ["/v1/programmes", "/v1/staff", "/v1/partners", "/v1/participants"]:
        body = expect(coord.get(path, params={"limit": 1}), 200)
        assert set(body) == {"items", "next_cursor"}
        assert isinstance(body["items"], list) and len(body["items"]) == 1


def test_every_limit_and_filter_set_pages_as_the_database_orders(coord, client, tokens, make, psql):
    """The list runs one statement per scope, set of filters and limit, made on first use (so that
    generic plans hold); past 1,024 of them it uses one per scope and filters with the limit as a
    parameter. Here 1,200+ combinations go through both kinds: every first page is exactly the
    database's own answer, in seq order, with a cursor only when more remain."""
    prog = make.programme()
    tag = unique("lim")
    psql("INSERT INTO participants (programme_id, kind, given_name, family_name, region) "
         "SELECT %s, CASE WHEN i % 3 = 0 THEN 'mentor' ELSE 'mentee' END, 'Limit', "
         "CASE WHEN i % 2 = 0 THEN %s || '-' || i ELSE 'other-' || i END, "
         "CASE WHEN i % 4 < 2 THEN 'Utrecht' ELSE 'Zwolle' END FROM generate_series(1, 40) AS i", prog["id"], tag)
    rows = psql("SELECT id, kind, region, family_name FROM participants WHERE programme_id = %s ORDER BY seq",
                prog["id"])
    assert len(rows) == 40
    filter_sets = [{}, {"kind": "mentee"}, {"region": "utrecht"}, {"kind": "mentor", "region": "Utrecht"},
                   {"q": tag}, {"kind": "mentee", "q": tag}]

    def expected(f):
        return [i for i, kind, region, family in rows
                if f.get("kind", kind) == kind and f.get("region", region).lower() == region.lower()
                and ("q" not in f or f["q"] in family)]

    scoped = client(tokens("coordinator", prg=[prog["id"]]))
    checked = 0
    for who, limits in ((coord, range(1, 201)), (scoped, (1, 2, 7, 39, 40, 41, 200))):
        for f in filter_sets:
            want = expected(f)
            assert want, f
            for limit in limits:
                body = expect(who.get("/v1/participants", params={"programme_id": prog["id"], "limit": limit, **f}),
                              200)
                got = [x["id"] for x in body["items"]]
                assert got == want[:limit], (f, limit)
                assert (body["next_cursor"] is None) == (len(want) <= limit), (f, limit)
                checked += 1
    assert checked > 1024
    # and the cursor of a page made by the fallback statement walks on correctly
    walked = [x["id"] for x in coord.walk("/v1/participants", {"programme_id": prog["id"], "q": tag}, limit=3)]
    assert walked == expected({"q": tag})
