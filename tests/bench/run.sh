#!/usr/bin/env bash
# make bench: Koppel under load against PostgreSQL's own limit, in one run.
# A benchmark, not a test: it asserts nothing about speed and is not part of
# make test. It prints a table and keeps it in tests/bench/results/<time>.tsv.
#
#   make bench                                  (builds build/, 100,000 participants)
#   BENCH_SCALE=1000000 make bench              a million participants
#   KOPPEL_BIN=build-x/koppel bash tests/bench/run.sh
#
# Environment (all optional):
#   BENCH_SCALE=100000     participants in the 10 measured programmes
#   BENCH_DURATION=15      seconds per measurement (after BENCH_WARMUP=5 s of warm-up)
#   BENCH_PORT=18280       where Koppel listens (127.0.0.1)
#   BENCH_QUIET_BUSY=0.25  before each measurement wait until the CPUs are less than this
#   BENCH_QUIET_MAX=120    busy (share of all CPUs over 2 s), but no longer than this (s)
#   BENCH_SOAK=0           seconds of an extra single-read run sampling Koppel's memory
#   BENCH_KEEP=0           1 keeps the cluster, logs and id files (stopped) in .data/bench-*
#   BENCH_ONLY=            space-separated labels to run (default: all; see "plan" below)
#   BENCH_SWEEP=           "THREADS:POOL ..." also measures the single read and the page
#                          with those KOPPEL_THREADS / KOPPEL_POOL_SIZE (e.g. "4:4 16:16")
#   BENCH_COMMIT           the commit to record (default: git HEAD of this checkout)
#   BENCH_SHARED_BUFFERS=2GB  the cluster's shared_buffers (the machine has 23 GiB)
#   BENCH_PGOPTIONS        pgbench's session settings (default: the service's, "-c jit=off
#                          -c random_page_cost=1.1"; "" to compare a binary from before them)
#   KOPPEL_POOL_SIZE, KOPPEL_THREADS   passed to the service unchanged (defaults: 8, 8)
#
# What it does: a throwaway PostgreSQL cluster (tools/pg.sh, .data/bench-<time>),
# koppel migrate, tests/bench/seed.sql (BENCH_SCALE participants in 10 programmes,
# pairs in every state, decisions, meetings) and tests/bench/suggestions_fixture.sql
# (one programme with 10,000 mentors), VACUUM ANALYZE, id files for the load
# scripts, then `koppel serve` with its log in a file, and per measurement: wait
# for a quiet machine, 5 s warm-up, `wrk -t2 -c64 -d15s --latency` (or pgbench
# -n -c16 -j2 -T15 -M prepared for the database's own limit). CPU per request is
# the service's plus the whole cluster's (/proc, see tests/bench/measure.py);
# "others" is the share of all CPUs that processes outside the benchmark used
# during the run (a noisy neighbour makes a run unreliable: see that column).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
BIN=$(readlink -f "${KOPPEL_BIN:-build/koppel}")
SCALE=${BENCH_SCALE:-100000}
DUR=${BENCH_DURATION:-15}
WARM=${BENCH_WARMUP:-5}
PORT=${BENCH_PORT:-18280}
QUIET_BUSY=${BENCH_QUIET_BUSY:-0.25}
QUIET_MAX=${BENCH_QUIET_MAX:-120}
SOAK=${BENCH_SOAK:-0}
ONLY=${BENCH_ONLY:-}
PGB_OPTS=${BENCH_PGOPTIONS--c jit=off -c random_page_cost=1.1}
SHARED_BUFFERS=${BENCH_SHARED_BUFFERS:-2GB}
CONNS=64
COMMIT=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
DIR=$ROOT/.data/bench-$STAMP
LUA=$ROOT/tests/bench/lua
TSV=$DIR/results.tsv
BASE=http://127.0.0.1:$PORT
SUGGEST_PRG=b0000000-0000-4000-8000-000000000001

[ -x "$BIN" ] || { echo "no koppel binary at $BIN (make build, or set KOPPEL_BIN)" >&2; exit 2; }
for tool in wrk pgbench psql openssl curl basenc; do
  command -v $tool >/dev/null || { echo "bench: $tool is needed (apt-get install wrk postgresql-client-15 openssl curl)" >&2; exit 2; }
done
[[ $SCALE =~ ^[0-9]+$ && $SCALE -ge 1000 ]] || { echo "BENCH_SCALE must be a number >= 1000" >&2; exit 2; }
if curl -s -o /dev/null "$BASE/health" 2>/dev/null; then
  echo "bench: something already listens on port $PORT (set BENCH_PORT)" >&2; exit 2
fi
mkdir -p "$DIR" tests/bench/results

KPID=""
cleanup() {
  local rc=$?
  stop_koppel
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    bash tools/pg.sh stop "$DIR" || true
    echo "kept (stopped) in $DIR"
  else
    bash tools/pg.sh destroy "$DIR" || true
  fi
  exit $rc
}
stop_koppel() {
  if [ -n "$KPID" ]; then
    kill "$KPID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$KPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$KPID" 2>/dev/null || true
    wait "$KPID" 2>/dev/null || true
    KPID=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

say "machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/^Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
say "koppel $BIN (commit $COMMIT); $SCALE participants; ${DUR}s runs after ${WARM}s warm-up; in $DIR"

# ---------------------------------------------------------------- database
url=$(bash tools/pg.sh start "$DIR")
# tools/pg.sh's 160 MB of shared buffers is for tests; a database serving
# Koppel keeps its working set in them (100,000 participants: about 400 MB)
psql "$url" -qXc "ALTER SYSTEM SET shared_buffers = '$SHARED_BUFFERS'" >/dev/null
bash tools/pg.sh stop "$DIR"
url=$(bash tools/pg.sh start "$DIR")
PGDATA_DIR=$(readlink -f "$DIR/cluster")
PMPID=$(head -1 "$PGDATA_DIR/postmaster.pid")
export PGOPTIONS="-c client_min_messages=warning"
say "PostgreSQL $(psql "$url" -XAtc "SELECT current_setting('server_version') || ': ' || string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'max_connections', 'fsync', 'synchronous_commit', 'full_page_writes', 'jit', 'work_mem')")"
KOPPEL_DATABASE_URL="$url" "$BIN" migrate >/dev/null
say "seeding $SCALE participants ..."
t0=$(date +%s)
psql "$url" -qX -v ON_ERROR_STOP=1 -v n="$SCALE" -f tests/bench/seed.sql >/dev/null
psql "$url" -qX -v ON_ERROR_STOP=1 -v mentors=10000 -v mentees=3000 -f tests/bench/suggestions_fixture.sql >/dev/null
say "seeded in $(( $(date +%s) - t0 )) s: $(psql "$url" -XAtc "SELECT format('%s participants, %s pairs, %s meetings, database %s',
  (SELECT count(*) FROM participants), (SELECT count(*) FROM pairs), (SELECT count(*) FROM meetings),
  pg_size_pretty(pg_database_size(current_database())))")"

# Ids for the load scripts, and the same ids in tables for pgbench.
psql "$url" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TABLE bench_ids AS
  SELECT row_number() OVER () AS n, id FROM (
    SELECT id FROM participants WHERE programme_id::text LIKE 'b1000000-%' ORDER BY random() LIMIT 100000) s;
ALTER TABLE bench_ids ADD PRIMARY KEY (n);
CREATE TABLE bench_meeting_pairs AS
  SELECT row_number() OVER () AS n, id AS pair_id, mentee_id, programme_id FROM (
    SELECT id, mentee_id, programme_id FROM pairs
     WHERE status = 'active' AND programme_id::text LIKE 'b1000000-%' ORDER BY random() LIMIT 64) s;
ANALYZE bench_ids;
ANALYZE bench_meeting_pairs;
\copy (SELECT id FROM bench_ids ORDER BY n) TO '$DIR/participants.txt'
\copy (SELECT id FROM programmes WHERE id::text LIKE 'b1000000-%' ORDER BY id) TO '$DIR/programmes.txt'
\copy (SELECT id FROM pairs WHERE programme_id::text LIKE 'b1000000-%' ORDER BY random() LIMIT 10000) TO '$DIR/pairs.txt'
\copy (SELECT n, pair_id, mentee_id, programme_id FROM bench_meeting_pairs ORDER BY n) TO '$DIR/meeting_pairs.tsv'
\copy (SELECT p.id FROM participants p WHERE p.programme_id = '$SUGGEST_PRG' AND p.kind = 'mentee' AND p.status = 'waiting' AND NOT EXISTS (SELECT 1 FROM pairs x WHERE x.mentee_id = p.id AND x.status IN ('proposed', 'accepted', 'active')) ORDER BY p.seq LIMIT 200) TO '$DIR/suggest.txt'
SQL
# everything analysed and vacuumed (visibility map set) before the first measurement,
# so that autovacuum has nothing to catch up on during the reads
psql "$url" -qX -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
COUNT=$(wc -l <"$DIR/participants.txt")

# ---------------------------------------------------------------- tokens
COORD_SUB=0c000000-0000-4000-8000-00000000bec0
TOKEN=$("$BIN" token --role coordinator --sub $COORD_SUB --programme '*' --ttl 14400)
: >"$DIR/meeting_pairs.txt"
while IFS=$'\t' read -r _n pair mentee prg; do
  printf '%s %s\n' "$pair" "$("$BIN" token --role mentee --sub "$mentee" --programme "$prg" --ttl 14400)" >>"$DIR/meeting_pairs.txt"
done <"$DIR/meeting_pairs.tsv"
HELD_ON=$(date -u -d yesterday +%F)

b64url() { basenc --base64url -w0 | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$DIR/rs256.key" 2>/dev/null
openssl pkey -in "$DIR/rs256.key" -pubout -out "$DIR/rs256.pub"
rs_head=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
rs_body=$(printf '{"sub":"%s","role":"coordinator","prg":"*","iat":%d,"exp":%d}' $COORD_SUB "$(date +%s)" \
  "$(( $(date +%s) + 14400 ))" | b64url)
rs_sig=$(printf '%s.%s' "$rs_head" "$rs_body" | openssl dgst -sha256 -sign "$DIR/rs256.key" -binary | b64url)
RS_TOKEN=$rs_head.$rs_body.$rs_sig

# ---------------------------------------------------------------- pgbench scripts
# The single read: the statement api/participants.c runs (SQL_VIEW), prepared,
# with the same parameters; the id comes from bench_ids (one more index probe
# than the service's statement, on a 100,000-row table). Before sql/0017 (an
# older KOPPEL_BIN, for comparisons) the statement was the one without documents.
if [ "$(psql "$url" -XAtc "SELECT to_regclass('participant_docs') IS NOT NULL")" = t ]; then
  cat >"$DIR/pgbench_read.sql" <<'SQL'
\set n random(1, :count)
SELECT participant_view_text(p, :role, :sub, :all_prg, :prg, NULL, d.doc) FROM participants p LEFT JOIN participant_docs d ON d.participant_id = p.id AND d.row_xmin = p.xmin AND d.row_ctid = p.ctid AND d.certs = CASE WHEN EXISTS (SELECT FROM certificates c WHERE c.participant_id = p.id) THEN (SELECT string_agg(c.xmin::text || '/' || c.ctid::text, ',' ORDER BY c.ctid) FROM certificates c WHERE c.participant_id = p.id) ELSE '' END AND EXISTS (SELECT FROM participant_docs_vetted) AND NOT EXISTS (SELECT FROM participant_docs_vetted v LEFT JOIN pg_proc f ON f.oid = v.proc WHERE f.xmin IS DISTINCT FROM v.proc_xmin) WHERE p.id = (SELECT id FROM bench_ids WHERE n = :n);
SQL
else
  cat >"$DIR/pgbench_read.sql" <<'SQL'
\set n random(1, :count)
SELECT participant_view(p, :role, :sub, :all_prg, :prg, NULL)::text, participant_json(p)::text FROM participants p WHERE p.id = (SELECT id FROM bench_ids WHERE n = :n);
SQL
fi
# The meeting write: what api/meetings.c create() sends for one meeting, in
# one transaction and with the same parameters: the audit settings (here also
# picking one of the 64 pairs from bench_meeting_pairs, so pgbench needs no
# extra round trip), the pair locked FOR SHARE in the caller's scope, the
# topics checked against the vocabulary, the INSERT (its trigger writes the
# audit row) returning the meeting's JSON.
MEETING_BODY='{"held_on":"'$HELD_ON'","duration_minutes":60,"mode":"video","place":"online","topics":["cv","network"],"initiated_by":"mentee","summary":"Went through two job advertisements and the letter for the first one.","next_steps":"Mentee sends both applications before Friday."}'
cat >"$DIR/pgbench_write.sql" <<'SQL'
\set k random(1, 64)
BEGIN;
SELECT set_config('koppel.actor', mentee_id::text, true), set_config('koppel.role', :role, true), set_config('koppel.request_id', 'pgbench', true), pair_id AS pair, mentee_id AS sub FROM bench_meeting_pairs WHERE n = :k \gset
SELECT x.status, to_char(x.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), x.programme_id::text FROM pairs x WHERE x.id = :pair AND CASE :role WHEN 'coordinator' THEN :all_prg::boolean OR x.programme_id = ANY(:prg::uuid[]) WHEN 'coach' THEN x.coach_id = :sub::uuid AND (:all_prg::boolean OR x.programme_id = ANY(:prg::uuid[])) WHEN 'mentor' THEN x.mentor_id = :sub::uuid WHEN 'mentee' THEN x.mentee_id = :sub::uuid ELSE false END FOR SHARE OF x \gset pair_
SELECT (t.o - 1)::text, t.k FROM jsonb_array_elements_text(:topics::jsonb) WITH ORDINALITY AS t(k, o) WHERE NOT EXISTS (SELECT 1 FROM programme_topics v WHERE v.programme_id = :pair_programme_id::uuid AND v.key = t.k) ORDER BY t.o;
INSERT INTO meetings (pair_id, reported_by, held_on, duration_minutes, mode, place, topics, initiated_by, summary, next_steps) SELECT :pair, :sub, (j->>'held_on')::date, (j->>'duration_minutes')::int, j->>'mode', j->>'place', ARRAY(SELECT t FROM jsonb_array_elements_text(coalesce(j->'topics', '[]')) WITH ORDINALITY AS a(t, o) ORDER BY o), j->>'initiated_by', j->>'summary', j->>'next_steps' FROM (SELECT :body::jsonb AS j) s RETURNING id::text, meeting_json(meetings)::text;
COMMIT;
SQL
PGB_WRITE=(-f "$DIR/pgbench_write.sql" -D role=mentee -D all_prg=f -D prg='{}' -D topics='["cv","network"]'
           -D body="$MEETING_BODY")

# ---------------------------------------------------------------- service
start_koppel() { # extra VAR=value settings for the service
  : >"$DIR/koppel.log"
  env "$@" KOPPEL_DATABASE_URL="$url" KOPPEL_LISTEN=127.0.0.1:$PORT "$BIN" serve \
    >>"$DIR/koppel.log" 2>>"$DIR/koppel.err" &
  KPID=$!
  for _ in $(seq 100); do
    curl -sf "$BASE/ready" >/dev/null 2>&1 && break
    kill -0 "$KPID" 2>/dev/null || { cat "$DIR/koppel.err" >&2; exit 1; }
    sleep 0.1
  done
  say "$(grep -o 'listening on[^"]*' "$DIR/koppel.log" | head -1) (pid $KPID)"
}

# One request, to fail early (and say why) rather than measure error pages.
check() { # expected-status method path token [body]
  local code
  code=$(curl -s -o "$DIR/check.body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $4" \
    ${5:+-H "Content-Type: application/json" --data "$5"} "$BASE$3")
  if [ "$code" != "$1" ]; then
    echo "bench: $2 $3 answered $code, expected $1:" >&2
    head -c 600 "$DIR/check.body" >&2; echo >&2
    exit 1
  fi
}

quiet() {
  local share
  share=$($PY tests/bench/measure.py quiet --max "$QUIET_MAX" --busy "$QUIET_BUSY")
  if awk "BEGIN{exit !($share > $QUIET_BUSY)}"; then
    say "  the machine is still ${share} busy after ${QUIET_MAX}s of waiting: measuring anyway (see 'others')"
  fi
}

measure() { # label endpoint ref tool conns -- command...
  local label=$1 endpoint=$2 ref=$3 tool=$4 conns=$5
  shift 6
  local k=$KPID
  [ "$tool" = pgbench ] && k=0
  $PY tests/bench/measure.py run --label "$label" --endpoint "$endpoint" --ref "$ref" --tool "$tool" \
    --conns "$conns" --koppel "${k:-0}" --postmaster "$PMPID" --pglog "$DIR/pgblog_$label" \
    --scale "$SCALE" --commit "$COMMIT" --dburl "$url" --out "$TSV" -- "$@"
}

wrk_run() { # label endpoint ref conns script args...
  local label=$1 endpoint=$2 ref=$3 conns=$4 script=$5
  shift 5
  wanted "$label" || return 0
  local threads=2
  [ "$conns" -lt 2 ] && threads=1
  quiet
  say "$label: $endpoint, wrk -t$threads -c$conns, ${WARM}s warm-up + ${DUR}s"
  BENCH_LUA=$LUA wrk -t$threads -c"$conns" -d"${WARM}s" --timeout 10s -s "$LUA/$script" "$BASE" -- "$@" >/dev/null
  BENCH_LUA=$LUA measure "$label" "$endpoint" "$ref" wrk "$conns" -- \
    wrk -t$threads -c"$conns" -d"${DUR}s" --timeout 10s --latency -s "$LUA/$script" "$BASE" -- "$@"
}

pgbench_run() { # label endpoint args...
  local label=$1 endpoint=$2
  shift 2
  wanted "$label" || return 0
  quiet
  say "$label: $endpoint, pgbench -n -c16 -j2 -M prepared, ${WARM}s warm-up + ${DUR}s"
  # the session settings the service's own connections have (service/db.c;
  # BENCH_PGOPTIONS="" for a KOPPEL_BIN from before they were set)
  PGOPTIONS="$PGOPTIONS $PGB_OPTS" pgbench -n -c16 -j2 -T"$WARM" -M prepared "$@" "$url" >/dev/null 2>&1
  PGOPTIONS="$PGOPTIONS $PGB_OPTS" measure "$label" "$endpoint" "" pgbench 16 -- \
    pgbench -n -c16 -j2 -T"$DUR" -M prepared -l --log-prefix="$DIR/pgblog_$label" "$@" "$url"
}

# ---------------------------------------------------------------- plan
start_koppel
read -r first_id <"$DIR/participants.txt"
read -r first_prg <"$DIR/programmes.txt"
read -r first_pair <"$DIR/pairs.txt"
read -r first_mentee <"$DIR/suggest.txt"
check 200 GET "/v1/participants/$first_id" "$TOKEN"
check 200 GET "/v1/participants?programme_id=$first_prg&limit=50" "$TOKEN"
check 200 GET "/v1/pairs/$first_pair" "$TOKEN"
check 200 GET "/v1/participants/$first_mentee/suggestions?limit=10" "$TOKEN"
read -r mpair mtoken <"$DIR/meeting_pairs.txt"

pgbench_run pgbench_read "pgbench: the single read's SELECT" -f "$DIR/pgbench_read.sql" \
  -D count="$COUNT" -D role=coordinator -D sub=$COORD_SUB -D all_prg=t -D prg='{}'
wrk_run single "GET /v1/participants/{id}" pgbench_read $CONNS by_id.lua \
  "$DIR/participants.txt" "$TOKEN" /v1/participants/
wrk_run page "GET /v1/participants?programme_id&limit=50" pgbench_read $CONNS pages.lua \
  "$DIR/programmes.txt" "$TOKEN"
wrk_run pair "GET /v1/pairs/{id}" pgbench_read $CONNS by_id.lua "$DIR/pairs.txt" "$TOKEN" /v1/pairs/
wrk_run suggest "GET /v1/participants/{id}/suggestions" "" $CONNS by_id.lua \
  "$DIR/suggest.txt" "$TOKEN" /v1/participants/ "/suggestions?limit=10"
wrk_run suggest_c1 "GET /v1/participants/{id}/suggestions" "" 1 by_id.lua \
  "$DIR/suggest.txt" "$TOKEN" /v1/participants/ "/suggestions?limit=10"
if wanted meeting; then
  check 201 POST "/v1/pairs/$mpair/meetings" "$mtoken" \
    "{\"held_on\":\"$HELD_ON\",\"duration_minutes\":30,\"mode\":\"phone\",\"topics\":[\"cv\"]}"
fi
# both writes start from freshly vacuumed and analysed tables (the "autovac" column
# counts autovacuum/autoanalyze runs that still fell into a measurement)
fresh_tables() { psql "$url" -qX -c "VACUUM ANALYZE meetings, audit_log, pairs" >/dev/null; }
wanted meeting && fresh_tables
wrk_run meeting "POST /v1/pairs/{id}/meetings" pgbench_write $CONNS meetings.lua \
  "$DIR/meeting_pairs.txt" "$HELD_ON"
wanted pgbench_write && fresh_tables
pgbench_run pgbench_write "pgbench: meeting INSERT transaction" "${PGB_WRITE[@]}"

if [ "$SOAK" -gt 0 ] && wanted soak; then
  quiet
  say "soak: GET /v1/participants/{id} for ${SOAK}s, Koppel's memory every 30 s"
  printf 'seconds\trss_kib\thwm_kib\n' >"$DIR/soak_memory.tsv"
  ( BENCH_LUA=$LUA measure soak "GET /v1/participants/{id} (soak ${SOAK}s)" pgbench_read wrk $CONNS -- \
      wrk -t2 -c$CONNS -d"${SOAK}s" --timeout 10s --latency -s "$LUA/by_id.lua" "$BASE" -- \
      "$DIR/participants.txt" "$TOKEN" /v1/participants/ ) &
  soak_pid=$!
  s=0
  while kill -0 $soak_pid 2>/dev/null; do
    printf '%s\t%s\t%s\n' $s "$(awk '/^VmRSS/{print $2}' /proc/$KPID/status)" \
      "$(awk '/^VmHWM/{print $2}' /proc/$KPID/status)" >>"$DIR/soak_memory.tsv"
    for _ in $(seq 30); do kill -0 $soak_pid 2>/dev/null || break; sleep 1; done
    s=$((s + 30))
  done
  wait $soak_pid
  say "soak memory (s, VmRSS KiB, VmHWM KiB): $(tail -n +2 "$DIR/soak_memory.tsv" | tr '\t\n' ' ,')"
  cp "$DIR/soak_memory.tsv" "tests/bench/results/$STAMP-soak-memory.tsv"
fi
stop_koppel

# Optional: the single read and the page again with other thread/pool sizes,
# BENCH_SWEEP="THREADS:POOL ..." (e.g. "4:4 16:16 8:16").
for tp in ${BENCH_SWEEP:-}; do
  threads=${tp%%:*} pool=${tp##*:}
  start_koppel KOPPEL_THREADS="$threads" KOPPEL_POOL_SIZE="$pool"
  wrk_run "single_t${threads}p${pool}" "GET /v1/participants/{id} threads=$threads pool=$pool" pgbench_read $CONNS \
    by_id.lua "$DIR/participants.txt" "$TOKEN" /v1/participants/
  wrk_run "page_t${threads}p${pool}" "GET /v1/participants?programme_id&limit=50 threads=$threads pool=$pool" \
    pgbench_read $CONNS pages.lua "$DIR/programmes.txt" "$TOKEN"
  stop_koppel
done

if wanted single_rs256; then
  start_koppel KOPPEL_JWT_ALG=RS256 KOPPEL_JWT_PUBLIC_KEY_FILE="$DIR/rs256.pub"
  check 200 GET "/v1/participants/$first_id" "$RS_TOKEN"
  wrk_run single_rs256 "GET /v1/participants/{id} RS256" pgbench_read $CONNS by_id.lua \
    "$DIR/participants.txt" "$RS_TOKEN" /v1/participants/
  stop_koppel
fi

# ---------------------------------------------------------------- report
[ -f "$TSV" ] || { say "nothing measured (BENCH_ONLY=$ONLY)"; exit 0; }
cp "$TSV" "tests/bench/results/$STAMP.tsv"
echo
echo "Koppel $COMMIT, $SCALE participants, $(nproc) CPUs; wrk -t2 -c$CONNS -d${DUR}s, pgbench -c16 -j2 -T${DUR}"
$PY tests/bench/measure.py table "$TSV"
echo
echo "× pgbench: req/s over the pgbench row it compares with (reads: the single-row SELECT; the meeting:"
echo "the same INSERT transaction). CPU µs/req: service + all PostgreSQL processes (pgbench rows: the"
echo "database only). others: share of all CPUs used outside the benchmark during the run."
echo "results: tests/bench/results/$STAMP.tsv"
