#!/usr/bin/env bash
# An employer's HR system keeps its employees who mentor in step with Koppel, with curl:
#   KOPPEL_API=http://127.0.0.1:8080 KOPPEL_TOKEN=<integration token> KOPPEL_PROGRAMME=<uuid> \
#     bash examples/hr_sync.sh
# The token has role "integration", the employer's "partner" id and the programme in "prg"
# (`koppel token --role integration --sub UUID --partner UUID --programme UUID` makes one).
# KOPPEL_REF_PREFIX (default EMP-) prefixes the HR system's employee ids.
#  1. PUT /v1/participants/by-external-ref/{ref}: 201 the first time, 200 on every re-run.
#  2. POST /v1/participants/batch with an Idempotency-Key made from the body: a retry
#     (here, at once) gets the first answer back, marked Idempotent-Replayed: true.
#  3. GET /v1/participants?updated_since=...: what changed since this run started.
# Exits non-zero on any answer it did not expect, after printing the problem+json.
set -euo pipefail
API=${KOPPEL_API:-http://127.0.0.1:8080}
: "${KOPPEL_TOKEN:?set KOPPEL_TOKEN to an integration token}"
: "${KOPPEL_PROGRAMME:?set KOPPEL_PROGRAMME to the programme id the employees mentor in}"
PREFIX=${KOPPEL_REF_PREFIX:-EMP-}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)

# call METHOD PATH [BODY [EXTRA-HEADER]] -> the status in $status, the body in $tmp/body
call() {
  local args=(-sS -X "$1" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}'
              -H "Authorization: Bearer $KOPPEL_TOKEN" -H 'Accept: application/json')
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  [ $# -ge 4 ] && args+=(-H "$4")
  status=$(curl "${args[@]}" "$API$2")
}
expect() { # expect STATUS... : fails unless $status is one of them
  for s in "$@"; do [ "$status" = "$s" ] && return 0; done
  echo "unexpected $status (wanted $*):" >&2; cat "$tmp/body" >&2; echo >&2; exit 1
}
header() { sed -n "s/^$1: *//Ip" "$tmp/headers" | tr -d '\r'; }
counts() { grep -o '"\(created\|updated\|unchanged\|errors\)": *[0-9]*' "$tmp/body" | tr -d ' "' | paste -sd' ' -; }

# 1. one employee, by the HR system's id
ref="${PREFIX}0042"
call PUT "/v1/participants/by-external-ref/$ref" '{"programme_id":"'"$KOPPEL_PROGRAMME"'","kind":"mentor",
  "given_name":"Marc","family_name":"Van den Broeck","email":"marc.vandenbroeck@noordbank.example",
  "sectors":["64.19"],"languages":[{"code":"nl","level":"C2"}],"capacity":1}'
expect 201 200
case $status in
  201) echo "PUT $ref -> 201 created at $(header Location)" ;;
  200) echo "PUT $ref -> 200 (already there: updated or unchanged)" ;;
esac

# 2. a batch, safe to retry: the key is a hash of the body, so the same batch has the same key
batch='{"items":['
for i in 1 2 3; do
  [ "$i" = 1 ] || batch+=','
  batch+='{"external_ref":"'"${PREFIX}010$i"'","programme_id":"'"$KOPPEL_PROGRAMME"'","kind":"mentor",
    "given_name":"Employee","family_name":"Number '"$i"'","sectors":["64.19"],"capacity":1}'
done
batch+=']}'
key="hr-sync-$(printf '%s' "$batch" | sha256sum | cut -c1-32)"
call POST /v1/participants/batch "$batch" "Idempotency-Key: $key"
expect 200
echo "POST batch of 3 -> 200, $(counts)$( [ "$(header Idempotent-Replayed)" = true ] && echo ' (replayed: sent before)')"
call POST /v1/participants/batch "$batch" "Idempotency-Key: $key"   # a retry after, say, a timeout
expect 200
[ "$(header Idempotent-Replayed)" = true ] || { echo "the retry was not replayed" >&2; exit 1; }
echo "POST batch again, same Idempotency-Key -> 200, Idempotent-Replayed: true, $(counts)"

# 3. an incremental pull: only what changed since this run started
call GET "/v1/participants?updated_since=$since&limit=200"
expect 200
echo "GET participants updated since $since -> $(grep -o '"external_ref": *"[^"]*"' "$tmp/body" | wc -l) employee(s)"
echo "hr sync: ok"
