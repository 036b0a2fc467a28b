#!/usr/bin/env bash
# Soak: 5 minutes of mixed load on one server (programme, participant, pair and
# meeting writes with Idempotency-Key, lists, reads, merge patches, 4xx of every
# kind, /metrics), then checks that VmRSS at the end is within 5 % of its value
# after the warm-up and that the server exits 0. It is tests/api/test_soak.py
# run long, in a throwaway cluster; not part of `make test`.
#   tests/bench/soak.sh [seconds [warm-up seconds]]     (default 300 and 60)
# Environment: KOPPEL_BIN (default build/koppel), KOPPEL_SOAK_THREADS (default 4).
# With an ASan build (KOPPEL_BIN=build-asan/koppel) the RSS bound is not
# asserted (quarantine) and LeakSanitizer's report at exit is the check.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SECS=${1:-300}
WARM=${2:-60}
case "$SECS$WARM" in ''|*[!0-9]*) echo "usage: $0 [seconds [warm-up seconds]]" >&2; exit 2;; esac
BIN=${KOPPEL_BIN:-$ROOT/build/koppel}
[ -x "$BIN" ] || { echo "no binary at $BIN (make build, or set KOPPEL_BIN)" >&2; exit 2; }
db="$ROOT/.data/soak-$$"
trap 'bash tools/pg.sh destroy "$db" >/dev/null 2>&1 || true' EXIT
url=$(bash tools/pg.sh start "$db")
KOPPEL_DATABASE_URL="$url" "$BIN" migrate >/dev/null
echo "== soak: ${SECS}s (${WARM}s warm-up), $BIN"
KOPPEL_BIN="$BIN" KOPPEL_TEST_DATABASE_URL="$url" KOPPEL_SOAK_SECONDS="$SECS" KOPPEL_SOAK_WARMUP="$WARM" \
  KOPPEL_SOAK_TRACE=1 /usr/bin/python3 -m pytest -q -s -p no:cacheprovider tests/api/test_soak.py
