#!/usr/bin/env bash
# Benchmark (not a test): GET /v1/programmes/{id}/stats on one programme of
# $PARTICIPANTS participants (default 100,000: 40 % mentors, 60 % mentees),
# loaded by SQL with pairs in every state, meetings, status history,
# outcomes and (when sql/0005 is there) surveys with responses.
# Prints, over $REQUESTS sequential requests after a warm-up, for a
# coordinator and for a researcher (small cells suppressed):
#   - server time: duration_ms of the service's JSON log line (median, p90)
#   - client time: curl's time_total (median)
# and then, with auto_explain inside one call of programme_stats (the one
# statement the handler runs), the EXPLAIN ANALYZE time of every figure
# group's statement and the plan of the slowest (VERBOSE=1: every plan).
# No timed assertions: the figures depend on the machine.
#
#   tests/bench/stats.sh                          (uses build/koppel)
#   KOPPEL_BIN=build-x/koppel PARTICIPANTS=200000 REQUESTS=30 tests/bench/stats.sh
#
# It starts its own PostgreSQL cluster in $BENCH_DIR (default .data/bench)
# unless KOPPEL_DATABASE_URL names a server (a database koppel_bench_stats is
# then created and dropped there; KEEP=1 keeps it), and its own service on
# 127.0.0.1:$BENCH_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${KOPPEL_BIN:-build/koppel}
PARTICIPANTS=${PARTICIPANTS:-100000}
REQUESTS=${REQUESTS:-20}
WARMUP=${WARMUP:-5}
PORT=${BENCH_PORT:-18191}
DIR=${BENCH_DIR:-.data/bench}
DB=koppel_bench_stats
PROGRAMME=b5000000-0000-4000-8000-000000000001
[ -x "$BIN" ] || { echo "no koppel binary at $BIN (build first or set KOPPEL_BIN)" >&2; exit 2; }
for tool in psql curl; do
  command -v $tool >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

tmp=$(mktemp -d)
server=""
own_cluster=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "${admin:-}" ] && [ -z "${KEEP:-}" ] && psql "$admin" -qXc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  [ -n "$own_cluster" ] && bash tools/pg.sh stop "$DIR" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ -n "${KOPPEL_DATABASE_URL:-}" ]; then
  admin=$KOPPEL_DATABASE_URL
else
  admin=$(bash tools/pg.sh start "$DIR")
  own_cluster=1
fi
export PGOPTIONS="-c client_min_messages=warning"
psql "$admin" -qXc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
url="$admin dbname=$DB" # a later keyword wins in libpq
KOPPEL_DATABASE_URL="$url" "$BIN" migrate >/dev/null

echo "loading $PARTICIPANTS participants with pairs, meetings, history, outcomes and surveys ..."
t0=$(date +%s)
# Triggers are off while loading (session_replication_role = replica): rows
# go in with their final statuses, and the status history is written here
# as the participants trigger would have written it.
psql "$url" -qX -v ON_ERROR_STOP=1 -v n="$PARTICIPANTS" -v programme="$PROGRAMME" >/dev/null <<'SQL'
BEGIN;
SET LOCAL session_replication_role = replica;
SELECT setseed(0.2024);
INSERT INTO programmes (id, name, status, min_meetings, min_duration_days, small_group_threshold)
VALUES (:'programme', 'Statistics benchmark', 'running', 6, 120, 5);

-- mentees: the first half paired once; the pair's status by i % 20
CREATE TEMP TABLE e AS
SELECT i, gen_random_uuid() AS id,
       CASE WHEN i <= (:n * 6 / 10) / 2 THEN (ARRAY['active', 'active', 'active', 'active', 'active', 'active',
         'active', 'completed', 'completed', 'completed', 'completed', 'completed', 'ended', 'ended', 'proposed',
         'accepted', 'declined', 'declined', 'declined', 'declined'])[1 + i % 20] END AS pair_status,
       (random() * 700)::int AS started_ago, 60 + (random() * 200)::int AS lasted
  FROM generate_series(1, :n * 6 / 10) i;
CREATE TEMP TABLE m AS SELECT i, gen_random_uuid() AS id FROM generate_series(1, :n - :n * 6 / 10) i;
CREATE TEMP TABLE x AS
SELECT gen_random_uuid() AS id, e.id AS mentee_id, m.id AS mentor_id, e.pair_status AS status,
       CASE WHEN e.pair_status IN ('active', 'completed', 'ended') THEN current_date - e.started_ago END AS started_on,
       CASE WHEN e.pair_status IN ('completed', 'ended')
            THEN least(current_date, current_date - e.started_ago + e.lasted) END AS closed_on,
       CASE WHEN e.pair_status = 'completed' THEN 'goal_reached'
            WHEN e.pair_status = 'ended' THEN (ARRAY['no_click', 'mentee_stopped', 'mentor_stopped', 'moved',
              'other'])[1 + e.i % 5] END AS end_reason
  FROM e JOIN m ON m.i = 1 + e.i % (SELECT count(*) FROM m)
 WHERE e.pair_status IS NOT NULL;

INSERT INTO participants (id, programme_id, kind, given_name, family_name, status, waiting_since)
SELECT e.id, :'programme', 'mentee', 'Mentee', 'E' || e.i,
       coalesce(CASE e.pair_status WHEN 'active' THEN 'active' WHEN 'completed' THEN 'completed'
                  WHEN 'ended' THEN (CASE WHEN e.i % 2 = 0 THEN 'waiting' ELSE 'withdrawn' END)
                  WHEN 'proposed' THEN 'matched' WHEN 'accepted' THEN 'matched' WHEN 'declined' THEN 'waiting' END,
                (ARRAY['applied', 'screened', 'waiting', 'waiting', 'rejected'])[1 + e.i % 5]),
       NULL
  FROM e;
INSERT INTO participants (id, programme_id, kind, given_name, family_name, status)
SELECT m.id, :'programme', 'mentor', 'Mentor', 'M' || m.i,
       CASE WHEN EXISTS (SELECT 1 FROM x WHERE x.mentor_id = m.id AND x.status = 'active') THEN 'active'
            WHEN EXISTS (SELECT 1 FROM x WHERE x.mentor_id = m.id AND x.status IN ('proposed', 'accepted'))
              THEN 'matched'
            ELSE 'waiting' END
  FROM m;
UPDATE participants SET waiting_since = now() - (random() * 90) * interval '1 day'
 WHERE programme_id = :'programme' AND status = 'waiting';

INSERT INTO pairs (id, programme_id, mentor_id, mentee_id, status, started_on, closed_on, end_reason,
                   mentor_accepted_at, mentee_accepted_at, created_at)
SELECT id, :'programme', mentor_id, mentee_id, status, started_on, closed_on, end_reason,
       CASE WHEN status <> 'proposed' AND status <> 'declined' THEN coalesce(started_on, current_date) - 3 END,
       CASE WHEN status <> 'proposed' AND status <> 'declined' THEN coalesce(started_on, current_date) - 2 END,
       coalesce(started_on, current_date) - 10
  FROM x;

-- meetings: 0..10 per pair that met, between its start and its close (or today)
INSERT INTO meetings (pair_id, held_on, duration_minutes, mode, reported_by)
SELECT x.id, x.started_on + (random() * (coalesce(x.closed_on, current_date) - x.started_on))::int,
       30 + (random() * 90)::int, 'video', x.mentee_id
  FROM x CROSS JOIN LATERAL generate_series(1, 1 + (random() * 9)::int) k
 WHERE x.started_on IS NOT NULL;

-- history: everyone's first status; the wait that ended in each proposal
INSERT INTO participant_status_history (participant_id, programme_id, kind, from_status, to_status, at)
SELECT id, programme_id, kind, NULL, 'waiting', created_at - interval '200 days'
  FROM participants WHERE programme_id = :'programme';
INSERT INTO participant_status_history (participant_id, programme_id, kind, from_status, to_status, at,
                                        waiting_since)
SELECT p.id, :'programme', p.kind, 'waiting', 'matched', x.created_at,
       x.created_at - (1 + random() * 60) * interval '1 day'
  FROM pairs x JOIN participants p ON p.id IN (x.mentor_id, x.mentee_id)
 WHERE x.programme_id = :'programme';

-- outcomes 3, 6 and 12 months after the end, where that day has come
INSERT INTO outcomes (participant_id, measured_on, months_after_end, status)
SELECT x.mentee_id, (x.closed_on + k * interval '1 month')::date, k,
       (ARRAY['job_at_level', 'job_below_level', 'training', 'internship', 'seeking', 'other'])[1 + (random() * 5)::int]
  FROM x CROSS JOIN unnest(ARRAY[3, 6, 12]) k
 WHERE x.closed_on IS NOT NULL AND x.closed_on + k * interval '1 month' <= current_date;

-- surveys (sql/0005) when there are: a pre and a post survey, a third of the people answered each
DO $$
BEGIN
  IF to_regclass('surveys') IS NULL THEN
    RETURN;
  END IF;
  EXECUTE $q$
    WITH s AS (
      INSERT INTO surveys (programme_id, title, phase, audience, opens_on, closes_on, questions, frozen_at)
      SELECT 'b5000000-0000-4000-8000-000000000001', t, ph, 'both', current_date - 100, current_date + 10,
             '[{"key": "overall", "text": "Overall", "type": "scale10", "options": null, "max_choices": null,
                "allow_not_used": false, "required": true}]', now()
        FROM (VALUES ('Before', 'pre'), ('After', 'post')) v(t, ph) RETURNING id)
    INSERT INTO survey_responses (survey_id, respondent_id, answers)
    SELECT s.id, p.id, jsonb_build_object('overall', 1 + (random() * 9)::int)
      FROM s CROSS JOIN participants p
     WHERE p.programme_id = 'b5000000-0000-4000-8000-000000000001' AND random() < 0.33$q$;
END $$;
COMMIT;
ANALYZE;
SQL
echo "loaded in $(( $(date +%s) - t0 )) s: $(psql "$url" -qXAtc "SELECT format('%s participants, %s pairs, %s meetings, %s history rows, %s outcomes',
  (SELECT count(*) FROM participants), (SELECT count(*) FROM pairs), (SELECT count(*) FROM meetings),
  (SELECT count(*) FROM participant_status_history), (SELECT count(*) FROM outcomes))")"

KOPPEL_DATABASE_URL="$url" KOPPEL_LISTEN=127.0.0.1:$PORT "$BIN" serve >"$tmp/server.log" 2>"$tmp/server.err" &
server=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
target="http://127.0.0.1:$PORT/v1/programmes/$PROGRAMME/stats"

for role in coordinator researcher; do
  token=$("$BIN" token --role $role --sub 0c000000-0000-4000-8000-0000000000be --programme '*')
  for i in $(seq "$WARMUP"); do
    curl -s -o /dev/null -H "Authorization: Bearer $token" -H "X-Request-Id: warm-$role-$i" "$target"
  done
  : >"$tmp/curl-$role"
  for i in $(seq "$REQUESTS"); do
    curl -s -o "$tmp/body-$role" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $token" \
      -H "X-Request-Id: bench-$role-$i" "$target" >>"$tmp/curl-$role"
  done
  if grep -vq '^200 ' "$tmp/curl-$role"; then
    echo "some requests failed:" >&2; sort "$tmp/curl-$role" | uniq -c | head >&2; head -c 500 "$tmp/body-$role" >&2
    exit 1
  fi
done

python3 - "$tmp" "$REQUESTS" <<'PY'
import json, statistics, sys
tmp, n = sys.argv[1], int(sys.argv[2])
def med(x): return statistics.median(x) if x else float("nan")
def p90(x): return sorted(x)[max(0, int(len(x) * 0.9) - 1)] if x else float("nan")
log = []
for line in open(f"{tmp}/server.log"):
    try:
        log.append(json.loads(line))
    except ValueError:
        pass
for role in ("coordinator", "researcher"):
    server = [j["duration_ms"] for j in log if j.get("request_id", "").startswith(f"bench-{role}-")]
    client = [float(l.split()[1]) * 1000 for l in open(f"{tmp}/curl-{role}")]
    body = json.load(open(f"{tmp}/body-{role}"))
    print(f"GET /v1/programmes/{{id}}/stats as {role} ({n} requests)")
    print(f"  server  duration_ms  median {med(server):8.2f} ms   p90 {p90(server):8.2f} ms   (n={len(server)})")
    print(f"  client  time_total   median {med(client):8.2f} ms   p90 {p90(client):8.2f} ms")
    if role == "coordinator":
        print("  figures:", json.dumps({"participants": {k: body["participants"][k]["total"] for k in ("mentor", "mentee")},
                                        "pairs": body["pairs"]["total"], "waiting": body["waiting"]["mentee"],
                                        "meetings": body["meetings"], "on_track": body["on_track"]["share"],
                                        "completion_rate": body["closures"]["completion_rate"],
                                        "surveys": [s["response_rate"] for s in body["surveys"]["items"]],
                                        "outcomes_12m": body["outcomes"]["at_12_months"]["participants"]}))
PY

# how busy the machine is, to read the figures above by
ref=$(psql "$url" -qXAt -c "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM meetings" |
      python3 -c 'import json,sys; print(round(json.load(sys.stdin)[0]["Execution Time"], 2))')
echo "reference: a plain count(*) over the $(psql "$url" -qXAtc "SELECT count(*) FROM meetings") meetings took $ref ms;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

# EXPLAIN ANALYZE of every statement inside programme_stats, through auto_explain
echo "EXPLAIN ANALYZE inside programme_stats (coordinator view), per statement:"
psql "$url" -qX >"$tmp/explain" 2>&1 <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = on;
SET auto_explain.log_nested_statements = on;
SET client_min_messages = log;
SELECT length(programme_stats('$PROGRAMME', false)::text);
SQL
python3 - "$tmp/explain" ${VERBOSE:+-v} <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# each auto_explain message: "LOG:  duration: X ms  plan:\nQuery Text: ...\n<plan>"
blocks = re.split(r"^LOG:\s+", text, flags=re.M)[1:]
rows = []
for b in blocks:
    m = re.match(r"duration: ([\d.]+) ms\s+plan:\s*\nQuery Text: (.*?)\n(.*)", b, re.S)
    if not m:
        continue
    ms, query, plan = float(m.group(1)), " ".join(m.group(2).split()), m.group(3)
    rows.append((ms, query, plan))
outer = max(rows, key=lambda r: r[0]) if rows else None
small = 0.0
for ms, query, plan in rows:
    if query.startswith("SELECT length(programme_stats"):
        continue
    if ms < 1 and "-v" not in sys.argv[2:]:
        small += ms
        continue
    print(f"  {ms:9.2f} ms  {query[:110] or '(inside a SQL function)'}")
print(f"  {small:9.2f} ms  in all the statements under 1 ms")
if outer:
    print(f"  {outer[0]:9.2f} ms  in all (the whole call)")
inner = [r for r in rows if not r[1].startswith("SELECT length(programme_stats")]
if inner:
    slow = max(inner, key=lambda r: r[0])
    print(f"the slowest statement's plan ({slow[0]:.2f} ms):")
    for line in slow[2].splitlines()[:60]:
        print("   ", line)
if "-v" in sys.argv[2:]:
    for ms, query, plan in inner:
        print(f"--- {ms:.2f} ms: {query}\n{plan}")
PY
