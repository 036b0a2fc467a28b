#!/usr/bin/env bash
# Benchmark (not a test): GET /v1/participants/{id}/suggestions for one
# waiting mentee among $MENTORS mentors (default 10,000) of one programme.
# Prints, over $REQUESTS sequential requests after a warm-up:
#   - server time: duration_ms of the service's JSON log line (median, p90)
#   - client time: curl's time_total (median)
#   - database time: pgbench running the very statement the handler runs,
#     prepared, with the same parameters (median per-transaction latency)
#   - the ratio server / pgbench (what HTTP, auth and JSON add on top)
# No timed assertions: the figures depend on the machine. The aim is a server
# median under 50 ms.
#
#   tests/bench/suggestions.sh                 (uses build/koppel)
#   KOPPEL_BIN=build-x/koppel MENTORS=20000 REQUESTS=100 tests/bench/suggestions.sh
#
# It starts its own PostgreSQL cluster in $BENCH_DIR (default .data/bench)
# unless KOPPEL_DATABASE_URL names a server (a database koppel_bench is then
# created and dropped there), and its own service on 127.0.0.1:$BENCH_PORT.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${KOPPEL_BIN:-build/koppel}
MENTORS=${MENTORS:-10000}
MENTEES=${MENTEES:-3000}
REQUESTS=${REQUESTS:-50}
WARMUP=${WARMUP:-40}
PORT=${BENCH_PORT:-18190}
DIR=${BENCH_DIR:-.data/bench}
MENTEE=b0000000-0000-4000-8000-00000000beef
[ -x "$BIN" ] || { echo "no koppel binary at $BIN (build first or set KOPPEL_BIN)" >&2; exit 2; }
for tool in psql pgbench curl; do
  command -v $tool >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done

tmp=$(mktemp -d)
server=""
own_cluster=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  [ -n "${admin:-}" ] && psql "$admin" -qXc "DROP DATABASE IF EXISTS koppel_bench" >/dev/null 2>&1 || true
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
psql "$admin" -qXc "DROP DATABASE IF EXISTS koppel_bench" -c "CREATE DATABASE koppel_bench" >/dev/null
# the same conninfo with dbname=koppel_bench (a later keyword wins in libpq)
url="$admin dbname=koppel_bench"
KOPPEL_DATABASE_URL="$url" "$BIN" migrate >/dev/null
echo "loading $MENTORS mentors and $MENTEES mentees ..."
t0=$(date +%s)
psql "$url" -qX -v ON_ERROR_STOP=1 -v mentors="$MENTORS" -v mentees="$MENTEES" \
  -f tests/bench/suggestions_fixture.sql >/dev/null
echo "loaded in $(( $(date +%s) - t0 )) s"

KOPPEL_DATABASE_URL="$url" KOPPEL_LISTEN=127.0.0.1:$PORT "$BIN" serve >"$tmp/server.log" 2>"$tmp/server.err" &
server=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
token=$("$BIN" token --role coordinator --sub 0c000000-0000-4000-8000-0000000000be --programme '*')
target="http://127.0.0.1:$PORT/v1/participants/$MENTEE/suggestions?limit=10"

call() { # $1 request id; prints curl's time_total in seconds
  curl -s -o "$tmp/body" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $token" \
    -H "X-Request-Id: $1" "$target"
}
for i in $(seq "$WARMUP"); do call "warm-$i" >/dev/null; done
: >"$tmp/curl"
for i in $(seq "$REQUESTS"); do call "bench-$i" >>"$tmp/curl"; done
if grep -vq '^200 ' "$tmp/curl"; then
  echo "some requests failed:" >&2; sort "$tmp/curl" | uniq -c | head >&2; head -c 500 "$tmp/body" >&2; exit 1
fi
items=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["items"]), d["items"][0]["score"])' "$tmp/body")

# the handler's statement (api/suggestions.c SQL_SUGGEST), prepared, same parameters
cat >"$tmp/suggest.sql" <<'SQL'
SELECT s.blocker, s.body::text FROM participants p CROSS JOIN LATERAL match_suggestions(p, :lim::int) s WHERE p.id = :pid AND (:all_prg::boolean OR p.programme_id = ANY(:prg::uuid[]));
SQL
(cd "$tmp" && pgbench "$url" -n -M prepared -c 1 -t "$WARMUP" -D lim=10 -D pid=$MENTEE -D all_prg=t \
   -D prg='{}' -f suggest.sql >/dev/null 2>&1 &&
 pgbench "$url" -n -M prepared -c 1 -t "$REQUESTS" -D lim=10 -D pid=$MENTEE -D all_prg=t -D prg='{}' \
   -l --log-prefix=pgb -f suggest.sql >/dev/null 2>"$tmp/pgbench.err") ||
  { cat "$tmp/pgbench.err" >&2; exit 1; }

python3 - "$tmp" "$MENTORS" "$REQUESTS" "$items" ${VERBOSE:+-v} <<'PY'
import glob, json, statistics, sys
tmp, mentors, n, items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
server = []
for line in open(f"{tmp}/server.log"):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if j.get("request_id", "").startswith("bench-") and j.get("route", "").endswith("/suggestions"):
        server.append(j["duration_ms"])
client = [float(l.split()[1]) * 1000 for l in open(f"{tmp}/curl")]
db = []
for f in glob.glob(f"{tmp}/pgb*"):
    db += [int(l.split()[2]) / 1000 for l in open(f) if l.strip()]
def med(x): return statistics.median(x) if x else float("nan")
def p90(x): return sorted(x)[max(0, int(len(x) * 0.9) - 1)] if x else float("nan")
print(f"suggestions for one mentee among {mentors} mentors, limit=10 ({items.split()[0]} items, top score {items.split()[1]})")
print(f"  server  duration_ms  median {med(server):8.2f} ms   p90 {p90(server):8.2f} ms   (n={len(server)})")
print(f"  client  time_total   median {med(client):8.2f} ms   p90 {p90(client):8.2f} ms")
print(f"  pgbench same SQL     median {med(db):8.2f} ms   p90 {p90(db):8.2f} ms   (n={len(db)})")
if "-v" in sys.argv[5:]:
    print("  server ms, sorted:", " ".join(f"{x:.1f}" for x in sorted(server)))
    print("  pgbench ms, sorted:", " ".join(f"{x:.1f}" for x in sorted(db)))
print(f"  ratio server/pgbench {med(server) / med(db):.2f}   (aim: server median under 50 ms)")
PY
