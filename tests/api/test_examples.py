"""The example clients in examples/ run against the suite's server, so they never rot
(issue 5, part 8): the researcher pull (Python, requests), the HR sync (bash, curl,
Idempotency-Key) and the TypeScript client typed from openapi.yaml (openapi-typescript,
checked and compiled by tsc, run by node). Each must exit 0 and print what it did."""
import hashlib
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, expect, unique

EXAMPLES = os.path.join(ROOT, "examples")
TS = os.path.join(EXAMPLES, "ts")


def run(argv, env, cwd=ROOT, timeout=300):
    full = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    full.update(env)
    r = subprocess.run(argv, env=full, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def programme(make, coord):
    """A programme with consenting participants, one pair and a coach, so every figure is there."""
    prog = make.programme(status="running")["id"]
    research = {"data_processing": True, "research": True}
    mentors = [make.participant(prog, "mentor", status="waiting", consent=research) for _ in range(2)]
    mentees = [make.participant(prog, "mentee", status="waiting", consent=research) for _ in range(3)]
    expect(coord.post("/v1/pairs", {"mentor_id": mentors[0]["id"], "mentee_id": mentees[0]["id"]}), 201)
    return prog


def test_researcher_pull(koppel, tokens, programme, tmp_path, make):
    other = make.programme()["id"]   # a second programme: two pages of one programme each
    token = tokens("researcher", prg=[programme, other])
    out = run(["/usr/bin/python3", os.path.join(EXAMPLES, "researcher_pull.py")],
              {"KOPPEL_API": koppel.base, "KOPPEL_TOKEN": token, "KOPPEL_OUT": str(tmp_path),
               "KOPPEL_PAGE_SIZE": "1"})
    assert "/v1/programmes: 2 page(s) of at most 1" in out, out
    assert "export participants: 5 rows" in out and "export pairs: 1 rows" in out, out
    assert "consenting participants: {'mentee': 3, 'mentor': 2}" in out, out
    assert "pairs by status: {'proposed': 1}; joined to both participants: 1" in out, out
    assert "(small cells suppressed)" in out, "a researcher sees small groups suppressed"
    assert out.rstrip().endswith("researcher pull: ok (2 programmes)"), out
    assert os.path.getsize(tmp_path / "participants.ndjson") > 0


def test_researcher_pull_fails_loudly(koppel, tokens):
    full = {k: v for k, v in os.environ.items() if not k.startswith("KOPPEL_")}
    full.update(KOPPEL_API=koppel.base, KOPPEL_TOKEN="not-a-token")
    r = subprocess.run(["/usr/bin/python3", os.path.join(EXAMPLES, "researcher_pull.py")], env=full,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "401 Unauthorized" in r.stderr, (r.stdout, r.stderr)


def test_hr_sync(koppel, tokens, make, programme, psql):
    employer = make.partner(kind="employer")["id"]
    env = {"KOPPEL_API": koppel.base, "KOPPEL_PROGRAMME": programme, "KOPPEL_REF_PREFIX": unique("EMP")[:40] + "-",
           "KOPPEL_TOKEN": tokens("integration", partner=employer, prg=[programme])}
    first = run(["bash", os.path.join(EXAMPLES, "hr_sync.sh")], env)
    assert "-> 201 created at /v1/participants/" in first, first
    assert "POST batch of 3 -> 200, created:3 updated:0 unchanged:0 errors:0\n" in first, first
    assert "same Idempotency-Key -> 200, Idempotent-Replayed: true, created:3" in first, first
    assert "-> 4 employee(s)" in first and first.rstrip().endswith("hr sync: ok"), first
    again = run(["bash", os.path.join(EXAMPLES, "hr_sync.sh")], env)
    assert "-> 200 (already there" in again, again
    assert "created:3 updated:0 unchanged:0 errors:0 (replayed: sent before)" in again, again
    assert "-> 0 employee(s)" in again, "a re-run changes nothing"
    assert psql("SELECT count(*) FROM participants WHERE employer_partner_id = %s", employer) == [("4",)]


def npm_ci():
    """npm ci in examples/ts when its lock file changed (stamp as tools/lint.sh does)."""
    want = hashlib.sha256(open(os.path.join(TS, "package-lock.json"), "rb").read()).hexdigest()
    stamp = os.path.join(TS, "node_modules", ".koppel-lock.sha256")
    tsc = os.path.join(TS, "node_modules", "typescript", "bin", "tsc")
    if os.path.exists(tsc) and os.path.exists(stamp) and open(stamp).read().strip() == want:
        return
    subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier",
                    "--loglevel=error"], cwd=TS, check=True, stdin=subprocess.DEVNULL, timeout=600)
    with open(stamp, "w") as f:
        f.write(want + "\n")


@pytest.mark.skipif(not shutil.which("npm"), reason="npm is installed by tools/deps.sh (make test)")
def test_typescript_client(koppel, tokens):
    npm_ci()
    # types from openapi.yaml as it is now, then type-check and compile: a contract change breaks here
    run(["npm", "run", "--silent", "gen"], {}, cwd=TS)
    run(["npm", "run", "--silent", "build"], {}, cwd=TS)
    out = run(["node", "dist/src/main.js"],
              {"KOPPEL_API": koppel.base, "KOPPEL_TOKEN": tokens("coordinator", prg="*")}, cwd=TS)
    assert "retry replayed: true" in out and "walked 3 participants" in out, out
    assert "applied -> screened" in out and "stale ETag refused: 412" in out, out
    assert "bad query refused: 400" in out and out.rstrip().endswith("typescript example: ok"), out
