#!/usr/bin/env bash
# make api-test [T="tests/api/test_pairs.py -k race"] [ASAN=1]: the API suite (or part of it)
# against a throwaway cluster, without the unit tests, fuzzing and lint of make test.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
bin="$ROOT/build/koppel"
if [ "${ASAN:-0}" = 1 ]; then
  bin="$ROOT/build-asan/koppel"
  mkdir -p .data; rm -f "$ROOT/.data/asan-dev".*
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$ROOT/.data/asan-dev"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$ROOT/.data/asan-dev"
fi
db="$ROOT/.data/apitest-$$"
trap 'bash tools/pg.sh destroy "$db" >/dev/null 2>&1 || true' EXIT
url=$(bash tools/pg.sh start "$db") || exit 1
KOPPEL_DATABASE_URL="$url" "$bin" migrate >/dev/null || exit 1
# shellcheck disable=SC2086
KOPPEL_BIN="$bin" KOPPEL_TEST_DATABASE_URL="$url" KOPPEL_SANITIZER_LOG="$ROOT/.data/asan-dev" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider ${T:-tests/api}
rc=$?
if [ "${ASAN:-0}" = 1 ] && ls "$ROOT/.data/asan-dev".* >/dev/null 2>&1; then
  cat "$ROOT/.data/asan-dev".*; rc=1
fi
exit $rc
