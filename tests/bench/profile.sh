#!/usr/bin/env bash
# Profiles Koppel (and its PostgreSQL backends) on the single read and the
# 50-row page, on a data set that tests/bench/run.sh left behind:
#
#   BENCH_KEEP=1 BENCH_ONLY=none bash tests/bench/run.sh    (seeds, keeps .data/bench-<time>)
#   bash tests/bench/profile.sh .data/bench-<time> [perf|callgrind|both]
#
# perf: `perf record -e cpu-clock` (a software clock: hardware counters are not
# available in this VM) with DWARF call graphs, on the koppel process and the
# pool's backends only, for PROFILE_SECONDS (default 10) under wrk -t2 -c64.
# callgrind: koppel under valgrind --tool=callgrind (the same -O2 -g binary),
# wrk -t1 -c4 for PROFILE_CG_SECONDS (default 30); exact instruction counts,
# self and inclusive. Reports land in DIR/profile/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DIR=$(readlink -f "${1:?usage: profile.sh .data/bench-<time> [perf|callgrind|both]}")
WHAT=${2:-both}
BIN=$(readlink -f "${KOPPEL_BIN:-build/koppel}")
PORT=${BENCH_PORT:-18280}
SECS=${PROFILE_SECONDS:-10}
CG_SECS=${PROFILE_CG_SECONDS:-30}
LUA=$ROOT/tests/bench/lua
BASE=http://127.0.0.1:$PORT
OUT=$DIR/profile
mkdir -p "$OUT"
[ -f "$DIR/participants.txt" ] || { echo "$DIR has no participants.txt: run run.sh with BENCH_KEEP=1" >&2; exit 2; }

url=$(bash tools/pg.sh start "$DIR")
TOKEN=$("$BIN" token --role coordinator --sub 0c000000-0000-4000-8000-00000000bec0 --programme '*' --ttl 7200)
KPID=""
cleanup() {
  [ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null || true
  bash tools/pg.sh stop "$DIR" || true
}
trap cleanup EXIT

start() { # command prefix...
  env KOPPEL_DATABASE_URL="$url" KOPPEL_LISTEN=127.0.0.1:$PORT "$@" "$BIN" serve >"$OUT/koppel.log" 2>"$OUT/koppel.err" &
  KPID=$!
  for _ in $(seq 600); do curl -sf "$BASE/ready" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "koppel did not start" >&2; cat "$OUT/koppel.err" >&2; exit 1
}
stop() {
  kill "$KPID" 2>/dev/null || true
  wait "$KPID" 2>/dev/null || true
  KPID=""
}
load() { # name conns threads seconds
  case $1 in
  single) BENCH_LUA=$LUA wrk -t"$3" -c"$2" -d"$4s" --timeout 30s -s "$LUA/by_id.lua" "$BASE" -- \
            "$DIR/participants.txt" "$TOKEN" /v1/participants/ ;;
  page) BENCH_LUA=$LUA wrk -t"$3" -c"$2" -d"$4s" --timeout 30s -s "$LUA/pages.lua" "$BASE" -- \
          "$DIR/programmes.txt" "$TOKEN" ;;
  esac
}

if [ "$WHAT" = perf ] || [ "$WHAT" = both ]; then
  start
  for name in single page; do
    load $name 64 2 5 >/dev/null # warm-up: the pool's connections exist and have prepared
    pids=$(psql "$url" -XAtc "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE application_name = 'koppel'")
    load $name 64 2 $((SECS + 2)) >"$OUT/perf-$name.wrk" &
    lp=$!
    sleep 1
    perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$KPID,$pids" -o "$OUT/perf-$name.data" \
      -- sleep "$SECS" 2>/dev/null
    wait $lp
    perf report -i "$OUT/perf-$name.data" --no-children --sort comm,dso,symbol --stdio -g none \
      --percent-limit 0.7 2>/dev/null | grep -v '^$' >"$OUT/perf-$name-self.txt"
    perf report -i "$OUT/perf-$name.data" --children --sort comm,symbol --stdio -g none \
      --percent-limit 2 2>/dev/null | grep -v '^$' >"$OUT/perf-$name-inclusive.txt"
    echo "perf $name: $OUT/perf-$name-self.txt, $OUT/perf-$name-inclusive.txt"
  done
  stop
fi

if [ "$WHAT" = callgrind ] || [ "$WHAT" = both ]; then
  for name in single page; do
    start valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind-$name.out" --separate-threads=no
    load $name 4 1 "$CG_SECS" >"$OUT/callgrind-$name.wrk"
    stop
    callgrind_annotate --inclusive=no "$OUT/callgrind-$name.out" >"$OUT/callgrind-$name-self.txt" 2>&1 || true
    callgrind_annotate --inclusive=yes "$OUT/callgrind-$name.out" >"$OUT/callgrind-$name-inclusive.txt" 2>&1 || true
    echo "callgrind $name: $(grep -o '[0-9,]* requests' "$OUT/callgrind-$name.wrk" || true); $OUT/callgrind-$name-*.txt"
  done
fi
