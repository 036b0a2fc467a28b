"""Programmes and their topic vocabulary."""
import datetime
import time
import uuid

from conftest import expect, unique

DEFAULT_RULES = {"min_meetings": 6, "min_duration_days": 90, "max_mentees_per_mentor": 1,
                 "waiting_alert_days": 30, "followup_interval_days": 90, "small_group_threshold": 5}


def pinned_rules(p):
    """The six rules DESIGN.md pins (later features may add more, e.g. match_weights)."""
    return {k: p["rules"].get(k) for k in DEFAULT_RULES}


def test_create_returns_201_location_etag_and_the_object(coord):
    body = {"name": unique("Van bank naar klas"), "description": "pilot", "starts_on": "2022-06-01",
            "ends_on": "2022-12-31", "status": "running", "rules": {"min_meetings": 3, "max_mentees_per_mentor": 2}}
    r = coord.post("/v1/programmes", body)
    p = expect(r, 201)
    assert r.headers["Location"] == f"/v1/programmes/{p['id']}" or r.headers["Location"].endswith(f"/v1/programmes/{p['id']}")
    assert r.headers.get("ETag")
    for k in ("name", "description", "starts_on", "ends_on", "status"):
        assert p[k] == body[k]
    assert pinned_rules(p) == dict(DEFAULT_RULES, min_meetings=3, max_mentees_per_mentor=2)
    assert p["created_at"] and p["updated_at"]
    got = coord.get(r.headers["Location"] if r.headers["Location"].startswith("/") else f"/v1/programmes/{p['id']}")
    assert expect(got, 200) == p
    assert got.headers["ETag"] == r.headers["ETag"]


def test_create_defaults(make):
    p = make.programme()
    assert p["status"] == "planned"
    assert pinned_rules(p) == DEFAULT_RULES
    assert p.get("description") is None


def test_create_requires_name(coord, unchanged):
    with unchanged():
        expect(coord.post("/v1/programmes", {"description": "no name"}), 422, "/name")


def test_create_ends_before_start(coord, unchanged):
    with unchanged():
        expect(coord.post("/v1/programmes", {"name": unique(), "starts_on": "2024-05-01", "ends_on": "2024-04-30"}),
               422, "/ends_on")


def test_create_unknown_field(coord, unchanged):
    with unchanged():
        expect(coord.post("/v1/programmes", {"name": unique(), "colour": "red"}), 400, "/colour")
        expect(coord.post("/v1/programmes", {"name": unique(), "rules": {"max_pairs": 3}}), 400, "/rules/max_pairs")


def test_create_rule_ranges(coord, unchanged):
    with unchanged():
        for rule, bad in [("min_meetings", -1), ("min_meetings", 1001), ("max_mentees_per_mentor", 0),
                          ("waiting_alert_days", 0), ("small_group_threshold", 1001), ("min_duration_days", 3651)]:
            expect(coord.post("/v1/programmes", {"name": unique(), "rules": {rule: bad}}), 422, f"/rules/{rule}")


def test_create_weights_all_zero_and_out_of_range(coord, unchanged):
    """"Not all 0" compares each weight with 0: weights out of their range are
    named as such, never summed (-5 + 5 was 0 and drew "at least one weight
    must be above 0"; four times 2^62 overflowed the sum)."""
    names = ("occupation", "sector", "region", "availability", "language")

    def post(*weights):
        return coord.post("/v1/programmes", {"name": unique(), "rules": {"match_weights": dict(zip(names, weights))}})

    with unchanged():
        expect(post(0, 0, 0, 0, 0), 422, "/rules/match_weights")
        for weights, bad in [((-5, 0, 5, 0, 0), ["/rules/match_weights/occupation"]),
                             ((2 ** 62,) * 4 + (0,), [f"/rules/match_weights/{n}" for n in names[:4]])]:
            body = expect(post(*weights), 422)
            assert sorted(e["pointer"] for e in body["errors"]) == sorted(bad), body


def test_create_invalid_date(coord, unchanged):
    with unchanged():
        expect(coord.post("/v1/programmes", {"name": unique(), "starts_on": "2023-02-29"}), 422, "/starts_on")
        expect(coord.post("/v1/programmes", {"name": unique(), "starts_on": "01/02/2023"}), 422, "/starts_on")


def test_create_by_listed_coordinator_is_403(client, tokens, make, unchanged):
    p = make.programme()
    c = client(tokens("coordinator", prg=[p["id"]]))
    with unchanged():
        expect(c.post("/v1/programmes", {"name": unique()}), 403)


def test_get_unknown_and_malformed_id(coord):
    expect(coord.get(f"/v1/programmes/{uuid.uuid4()}"), 404)
    expect(coord.get("/v1/programmes/not-a-uuid"), 404)


def test_get_unknown_query_parameter(coord, make):
    p = make.programme()
    expect(coord.get(f"/v1/programmes/{p['id']}", params={"expand": "all"}), 400)


def test_list_contains_created_and_filters_status(coord, make):
    a = make.programme(status="running")
    b = make.programme(status="closed")
    running = coord.walk("/v1/programmes", {"status": "running"})
    ids = {x["id"] for x in running}
    assert a["id"] in ids and b["id"] not in ids
    assert all(x["status"] == "running" for x in running)
    everything = {x["id"] for x in coord.walk("/v1/programmes")}
    assert {a["id"], b["id"]} <= everything


def test_list_bad_filters(coord):
    expect(coord.get("/v1/programmes", params={"status": "open"}), 400)
    expect(coord.get("/v1/programmes", params={"updated_since": "yesterday"}), 400)
    expect(coord.get("/v1/programmes", params={"colour": "red"}), 400)


def test_list_updated_since(coord, make, psql):
    old = make.programme()
    make.backdate("programmes", old["id"])
    new = make.programme()
    since = new["updated_at"]
    items = coord.walk("/v1/programmes", {"updated_since": since})
    ids = {x["id"] for x in items}
    assert new["id"] in ids and old["id"] not in ids
    assert all(x["updated_at"] >= since[:19] for x in items)
    ids2 = {x["id"] for x in coord.walk("/v1/programmes", {"updated_since": "2000-12-31T23:00:00+02:00"})}
    assert old["id"] in ids2


def test_patch_merge_and_etag(coord, make):
    p = make.programme(description="first", rules={"min_meetings": 4})
    r0 = coord.get(f"/v1/programmes/{p['id']}")
    etag0 = r0.headers["ETag"]
    r = coord.patch(f"/v1/programmes/{p['id']}", {"status": "running", "rules": {"max_mentees_per_mentor": 2}},
                    headers={"Content-Type": "application/merge-patch+json", "If-Match": etag0})
    q = expect(r, 200)
    assert q["status"] == "running"
    assert q["rules"]["min_meetings"] == 4 and q["rules"]["max_mentees_per_mentor"] == 2
    assert q["description"] == "first" and q["name"] == p["name"]
    assert r.headers["ETag"] != etag0
    assert q["updated_at"] >= p["updated_at"]
    # null clears a nullable field
    q2 = expect(coord.patch(f"/v1/programmes/{p['id']}", {"description": None}), 200)
    assert q2.get("description") is None
    # the old ETag no longer matches
    expect(coord.patch(f"/v1/programmes/{p['id']}", {"name": unique()}, headers={"If-Match": etag0}), 412)
    assert expect(coord.get(f"/v1/programmes/{p['id']}"), 200)["name"] == p["name"]


def test_patch_null_on_required_is_422(coord, make, unchanged):
    p = make.programme()
    with unchanged():
        expect(coord.patch(f"/v1/programmes/{p['id']}", {"name": None}), 422, "/name")
        expect(coord.patch(f"/v1/programmes/{p['id']}", {"status": None}), 422, "/status")


def test_patch_dates_checked_against_stored(coord, make, unchanged):
    p = make.programme(starts_on="2024-05-01")
    with unchanged():
        expect(coord.patch(f"/v1/programmes/{p['id']}", {"ends_on": "2024-01-01"}), 422, "/ends_on")


def test_patch_no_change_keeps_etag_and_updated_at(coord, make):
    p = make.programme(description="same")
    r0 = coord.get(f"/v1/programmes/{p['id']}")
    r = coord.patch(f"/v1/programmes/{p['id']}", {"description": "same"})
    q = expect(r, 200)
    assert q == expect(r0, 200)
    assert r.headers["ETag"] == r0.headers["ETag"]


def test_patch_wrong_content_type(coord, make, unchanged):
    p = make.programme()
    with unchanged():
        expect(coord.request("PATCH", f"/v1/programmes/{p['id']}", data=b'{"status":"running"}',
                             headers={"Content-Type": "text/plain"}), 415)


def test_patch_unknown_programme(coord):
    expect(coord.patch(f"/v1/programmes/{uuid.uuid4()}", {"status": "running"}), 404)


def test_delete(coord, make):
    p = make.programme()
    expect(coord.delete(f"/v1/programmes/{p['id']}"), 204)
    expect(coord.get(f"/v1/programmes/{p['id']}"), 404)
    expect(coord.delete(f"/v1/programmes/{p['id']}"), 404)


def test_delete_with_if_match(coord, make, unchanged):
    p = make.programme()
    etag = coord.get(f"/v1/programmes/{p['id']}").headers["ETag"]
    with unchanged():
        expect(coord.delete(f"/v1/programmes/{p['id']}", headers={"If-Match": '"0000000000000000"'}), 412)
    expect(coord.delete(f"/v1/programmes/{p['id']}", headers={"If-Match": etag}), 204)


def test_delete_takes_topics_along(coord, make, psql):
    p = make.programme()
    expect(coord.put(f"/v1/programmes/{p['id']}/topics", {"items": [{"key": "cv", "label": "CV"}]}), 200)
    expect(coord.delete(f"/v1/programmes/{p['id']}"), 204)
    assert psql("SELECT count(*) FROM programme_topics WHERE programme_id = %s", p["id"]) == [("0",)]


def test_delete_while_participant_refers_is_409(coord, make, psql, unchanged):
    p = make.programme()
    psql("INSERT INTO participants (programme_id, kind, given_name, family_name) VALUES (%s, 'mentee', 'A', 'B')",
         p["id"])
    with unchanged():
        expect(coord.delete(f"/v1/programmes/{p['id']}"), 409)
    expect(coord.get(f"/v1/programmes/{p['id']}"), 200)


def test_delete_while_staff_refers_is_409(coord, make, unchanged):
    p = make.programme()
    make.staff([p["id"]])
    with unchanged():
        expect(coord.delete(f"/v1/programmes/{p['id']}"), 409)


def test_audit_log_records_writes(coord, make, psql):
    sub = str(uuid.uuid4())
    from conftest import SECRET, claims_for, jwt_encode
    c = coord.with_token(jwt_encode(claims_for("coordinator", sub=sub, prg="*"), SECRET))
    p = expect(c.post("/v1/programmes", {"name": unique()}), 201)
    expect(c.patch(f"/v1/programmes/{p['id']}", {"status": "running"}), 200)
    rows = psql("SELECT action, actor, actor_role, array_to_string(changed_fields, ',') FROM audit_log "
                "WHERE entity = 'programmes' AND entity_id = %s ORDER BY id", p["id"])
    assert [r[0] for r in rows] == ["create", "update"]
    assert all(r[1] == sub and r[2] == "coordinator" for r in rows)
    assert rows[1][3] == "status"


# --------------------------------------------------------------------------- topics

def test_topics_empty_then_put_then_get(coord, make):
    p = make.programme()
    r = coord.get(f"/v1/programmes/{p['id']}/topics")
    assert expect(r, 200) == {"items": []}
    items = [{"key": "job_target", "label": "Job target"}, {"key": "cv", "label": "CV and cover letter"},
             {"key": "network_building", "label": "Network building"}]
    r = coord.put(f"/v1/programmes/{p['id']}/topics", {"items": items}, headers={"If-Match": r.headers["ETag"]})
    assert expect(r, 200) == {"items": items}
    g = coord.get(f"/v1/programmes/{p['id']}/topics")
    assert expect(g, 200) == {"items": items}
    assert g.headers["ETag"] == r.headers["ETag"]
    # replacing keeps the order given
    items2 = list(reversed(items[:2]))
    assert expect(coord.put(f"/v1/programmes/{p['id']}/topics", {"items": items2}), 200) == {"items": items2}


def test_topics_if_match_and_if_none_match(coord, make, unchanged):
    p = make.programme()
    r = coord.get(f"/v1/programmes/{p['id']}/topics")
    etag = r.headers["ETag"]
    expect(coord.get(f"/v1/programmes/{p['id']}/topics", headers={"If-None-Match": etag}), 304)
    expect(coord.put(f"/v1/programmes/{p['id']}/topics", {"items": [{"key": "a", "label": "A"}]}), 200)
    with unchanged():
        expect(coord.put(f"/v1/programmes/{p['id']}/topics", {"items": []}, headers={"If-Match": etag}), 412)


def test_topics_invalid(coord, make, unchanged):
    p = make.programme()
    path = f"/v1/programmes/{p['id']}/topics"
    with unchanged():
        expect(coord.put(path, {"items": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}), 422,
               "/items/1/key")
        expect(coord.put(path, {"items": [{"key": "Not A Key", "label": "A"}]}), 422, "/items/0/key")
        expect(coord.put(path, {"items": [{"key": "a", "label": ""}]}), 422, "/items/0/label")
        expect(coord.put(path, {"items": [{"key": "a"}]}), 422, "/items/0/label")
        expect(coord.put(path, {"items": [{"key": "a", "label": "A", "colour": "red"}]}), 400, "/items/0/colour")
        expect(coord.put(path, {}), 422, "/items")


def test_topics_of_unknown_programme(coord):
    expect(coord.get(f"/v1/programmes/{uuid.uuid4()}/topics"), 404)
    expect(coord.put(f"/v1/programmes/{uuid.uuid4()}/topics", {"items": []}), 404)


def test_if_none_match_on_programme(coord, make):
    p = make.programme()
    r = coord.get(f"/v1/programmes/{p['id']}")
    etag = r.headers["ETag"]
    r304 = coord.get(f"/v1/programmes/{p['id']}", headers={"If-None-Match": etag})
    expect(r304, 304)
    assert r304.headers.get("ETag") == etag
    expect(coord.get(f"/v1/programmes/{p['id']}", headers={"If-None-Match": '"something-else"'}), 200)
