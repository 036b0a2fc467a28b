#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz_body, fuzz_checks, fuzz_cursor, fuzz_token,
# fuzz_query, fuzz_survey) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, straight from the service sources (no CMake),
# and runs each for $1 seconds (default 30).
#   tests/fuzz/run.sh [seconds]
# Environment: KOPPEL_FUZZ_OUT (build and work directory, default build-fuzz),
# KOPPEL_FUZZ_TARGETS (default "body checks cursor token query survey")
# KOPPEL_FUZZ_COVERAGE=1 (afterwards, line coverage of the service sources).
# The committed seeds in tests/fuzz/corpus/<name>/ are read, never written:
# new inputs go to $KOPPEL_FUZZ_OUT/corpus/<name>/, crashes to .../artifacts/.
# Exit status 1 when any target found a crash.
# Flag lists ($CFLAGS, $LIBS, $(sources ...)) are split into words on purpose.
# shellcheck disable=SC2046,SC2086
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-30}
case "$SECS" in ''|*[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2;; esac
OUT=${KOPPEL_FUZZ_OUT:-build-fuzz}
TARGETS=${KOPPEL_FUZZ_TARGETS:-body checks cursor token query survey}

if ! command -v clang >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang </dev/null
fi

PKGS="jansson libjwt libcrypto"
CFLAGS="-std=c17 -D_GNU_SOURCE -g -O1 -I. -Wall -Wextra -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined $(pkg-config --cflags $PKGS)"
LIBS=$(pkg-config --libs $PKGS)

sources() {
  case "$1" in
    body) echo api/fields.c api/survey_check.c service/jsonutil.c service/validate.c service/problem.c ;;
    checks) echo api/checks.c api/fields.c service/jsonutil.c service/validate.c service/problem.c ;;
    cursor) echo service/cursor.c service/validate.c ;;
    token) echo service/auth.c service/validate.c ;;
    query) echo service/validate.c service/cursor.c ;;
    survey) echo api/survey_check.c service/jsonutil.c service/validate.c service/problem.c ;;
    *) echo "unknown fuzz target: $1" >&2; exit 2 ;;
  esac
}
max_len() {
  case "$1" in
    body) echo 4096 ;;
    checks) echo 4096 ;;
    cursor) echo 400 ;;
    token) echo 9000 ;; # past auth_verify's 8192-byte limit
    query) echo 2048 ;;
    survey) echo 8192 ;;
  esac
}

mkdir -p "$OUT/artifacts"
for t in $TARGETS; do
  echo "== building fuzz_$t"
  clang $CFLAGS -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" $(sources "$t") $LIBS
done

export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1"

failed=0
summary=""
for t in $TARGETS; do
  mkdir -p "$OUT/corpus/$t"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log="$OUT/$t.log"
  echo "== fuzz_$t for ${SECS}s (log: $log)"
  set +e
  "$OUT/fuzz_$t" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t-" "${dict[@]}" \
    "$OUT/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
  if [ $rc -ne 0 ]; then
    failed=1
    art=$(sed -n 's/.*Test unit written to //p' "$log" | head -1)
    grep -m3 -E 'ERROR|runtime error|SUMMARY|deadly signal' "$log" | sed 's/^/   /' || true
    status="CRASH ${art:-see log}"
  else
    status="ok"
  fi
  summary+=$(printf '%-7s execs=%s exec/s=%s cov=%s ft=%s corpus=%s %s' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$status")$'\n'
done
echo "== summary (${SECS}s each)"
printf '%s' "$summary"

# Optional: line coverage of the service sources reached by the corpus.
if [ "${KOPPEL_FUZZ_COVERAGE:-0}" = 1 ]; then
  mkdir -p "$OUT/cov"
  for t in $TARGETS; do
      clang -std=c17 -D_GNU_SOURCE -O0 -I. -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
      $(pkg-config --cflags $PKGS) -o "$OUT/cov/fuzz_$t" "tests/fuzz/fuzz_$t.c" $(sources "$t") $LIBS
    LLVM_PROFILE_FILE="$OUT/cov/$t.profraw" "$OUT/cov/fuzz_$t" -runs=0 \
      "$OUT/corpus/$t" "tests/fuzz/corpus/$t" >/dev/null 2>&1 || true
    llvm-profdata merge -sparse "$OUT/cov/$t.profraw" -o "$OUT/cov/$t.profdata"
    echo "== coverage of fuzz_$t"
    llvm-cov report "$OUT/cov/fuzz_$t" -instr-profile="$OUT/cov/$t.profdata" $(sources "$t") |
      awk 'NR > 2 && !/^-/ { printf "   %-12s lines %4d/%-4d %8s   functions %s\n", $1, $8 - $9, $8, $10, $7 }'
  done
fi
exit $failed
