#!/usr/bin/env python3
"""A researcher's pull: programmes (walking cursors), their statistics, and the
pseudonymised participants and pairs exports as NDJSON, joined by pseudonym.

    KOPPEL_API=http://127.0.0.1:8080 KOPPEL_TOKEN=<researcher token> python3 examples/researcher_pull.py

Optional: KOPPEL_OUT (folder for the .ndjson files, default ./koppel-pull),
KOPPEL_PAGE_SIZE (programmes per page, 1..200, default 50). Needs `requests`
(Debian: python3-requests). Prints what it found; exits 1 on any error, with the
problem+json detail the service sent."""
import collections
import json
import os
import sys

import requests

API = os.environ.get("KOPPEL_API", "http://127.0.0.1:8080").rstrip("/")
OUT = os.environ.get("KOPPEL_OUT", "koppel-pull")
PAGE = int(os.environ.get("KOPPEL_PAGE_SIZE", "50"))


class Failed(Exception):
    pass


def session():
    token = os.environ.get("KOPPEL_TOKEN")
    if not token:
        raise Failed("KOPPEL_TOKEN is not set (a researcher's or coordinator's token)")
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def check(r):
    """The response, or Failed with the problem the service described."""
    if r.ok:
        return r
    try:
        p = r.json()
        why = f"{p['status']} {p['title']}: {p['detail']}"
    except (ValueError, KeyError):
        why = f"{r.status_code} {r.text[:200]}"
    raise Failed(f"{r.request.method} {r.url}: {why} (request {r.headers.get('X-Request-Id')})")


def walk(s, path, **params):
    """Every item of a list: pages of PAGE items, following next_cursor until it is null."""
    params["limit"] = PAGE
    pages = 0
    while True:
        body = check(s.get(API + path, params=params, timeout=30)).json()
        pages += 1
        yield from body["items"]
        if body["next_cursor"] is None:
            print(f"{path}: {pages} page(s) of at most {PAGE}")
            return
        params["cursor"] = body["next_cursor"]


def export(s, dataset):
    """Streams one export as NDJSON to OUT/<dataset>.ndjson; returns its rows."""
    path = os.path.join(OUT, f"{dataset}.ndjson")
    with s.get(f"{API}/v1/exports/{dataset}", headers={"Accept": "application/x-ndjson"}, stream=True,
               timeout=120) as r:
        check(r)
        with open(path, "wb") as f:
            for chunk in r.iter_content(chunk_size=1 << 16):
                f.write(chunk)
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print(f"export {dataset}: {len(rows)} rows -> {path}")
    return rows


def shown(v):
    """A suppressed cell (a small group, hidden from researchers) is null, never 0."""
    return "suppressed" if v is None else v


def main():
    s = session()
    os.makedirs(OUT, exist_ok=True)
    programmes = list(walk(s, "/v1/programmes"))
    for p in programmes:
        st = check(s.get(f"{API}/v1/programmes/{p['id']}/stats", timeout=60)).json()
        people = st["participants"]
        print(f"programme {p['name']!r} ({p['status']}): "
              f"mentors {shown(people['mentor']['total'])}, mentees {shown(people['mentee']['total'])}, "
              f"pairs {shown(st['pairs']['total'])}, completion rate {shown(st['closures']['completion_rate'])}"
              f"{' (small cells suppressed)' if st['suppression']['applied'] else ''}")
    participants = export(s, "participants")
    pairs = export(s, "pairs")
    # pseudonyms are stable across datasets: pairs.mentor_id joins participants.participant_id
    known = {row["participant_id"]: row for row in participants}
    joined = [pr for pr in pairs if pr["mentor_id"] in known and pr["mentee_id"] in known]
    by_status = collections.Counter(pr["status"] for pr in pairs)
    kinds = collections.Counter(row["kind"] for row in participants)
    print(f"consenting participants: {dict(sorted(kinds.items()))}")
    print(f"pairs by status: {dict(sorted(by_status.items()))}; joined to both participants: {len(joined)}")
    print(f"researcher pull: ok ({len(programmes)} programmes)")


if __name__ == "__main__":
    try:
        main()
    except (Failed, requests.RequestException, OSError) as e:
        print(f"researcher pull failed: {e}", file=sys.stderr)
        sys.exit(1)
