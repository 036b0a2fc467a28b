#!/usr/bin/env bash
# make test: unit tests, contract lint, then the API suite against the real
# binary and a throwaway PostgreSQL cluster, once with the release build and
# once with the ASan+UBSan build (any sanitizer report fails the run).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
fail=0
run_id=$$
tmpdb="$ROOT/.data/test-$run_id"
cleanup() { bash tools/pg.sh destroy "$tmpdb" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== unit tests (cmocka, ctest)"
(cd build && ctest --output-on-failure) || fail=1

echo "== fuzzing (libFuzzer, ASan+UBSan, ${KOPPEL_FUZZ_SECONDS:-10}s per target)"
KOPPEL_FUZZ_OUT="$ROOT/build-fuzz" bash tests/fuzz/run.sh "${KOPPEL_FUZZ_SECONDS:-10}" || fail=1

echo "== openapi.yaml lint"
bash tools/lint.sh || fail=1

api_suite() { # $1 = binary, $2 = label
  local bin=$1 label=$2 url
  bash tools/pg.sh destroy "$tmpdb" >/dev/null 2>&1 || true
  url=$(bash tools/pg.sh start "$tmpdb") || return 1
  KOPPEL_DATABASE_URL="$url" "$bin" migrate >/dev/null || return 1
  echo "== API tests ($label)"
  KOPPEL_BIN="$bin" KOPPEL_TEST_DATABASE_URL="$url" KOPPEL_SANITIZER_LOG="$ROOT/.data/asan-$run_id" \
    $PY -m pytest -q -p no:cacheprovider tests/api "${PYTEST_ARGS[@]}"
}

PYTEST_ARGS=()
api_suite "$ROOT/build/koppel" "release build" || fail=1

mkdir -p "$ROOT/.data"
rm -f "$ROOT/.data/asan-$run_id".*
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$ROOT/.data/asan-$run_id"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$ROOT/.data/asan-$run_id"
api_suite "$ROOT/build-asan/koppel" "ASan+UBSan build" || fail=1
unset ASAN_OPTIONS UBSAN_OPTIONS
if ls "$ROOT/.data/asan-$run_id".* >/dev/null 2>&1; then
  echo "== sanitizer reports:"
  cat "$ROOT/.data/asan-$run_id".*
  fail=1
else
  echo "== sanitizers: no reports"
fi

if [ $fail -ne 0 ]; then echo "make test: FAILED"; exit 1; fi
echo "make test: all passed"
