#!/usr/bin/env bash
# make run: private database, migrations, demo data, tokens, then the service.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/koppel
url=$(bash tools/pg.sh start .data/pg)
export KOPPEL_DATABASE_URL="$url"
export KOPPEL_LISTEN="${KOPPEL_LISTEN:-127.0.0.1:8080}"
$BIN migrate
$BIN seed-demo
cleanup() { bash tools/pg.sh stop .data/pg; echo "koppel: database stopped"; }
trap cleanup EXIT
base="http://$KOPPEL_LISTEN"
PRG=11111111-1111-4111-8111-111111111111
echo
echo "Koppel demo: the teaching pilot ($PRG)"
echo "Tokens (valid 12 hours; signed with the development secret):"
tok() { $BIN token --ttl 43200 "$@"; }
for spec in \
  "coordinator 0c000000-0000-4000-8000-000000000001 *" \
  "coach 0c000000-0000-4000-8000-000000000002 $PRG" \
  "mentor 20000000-0000-4000-8000-000000000001 $PRG" \
  "mentee 30000000-0000-4000-8000-000000000001 $PRG" \
  "researcher 0c000000-0000-4000-8000-000000000003 $PRG"; do
  set -f; set -- $spec; set +f
  t=$(tok --role "$1" --sub "$2" --programme "$3")
  printf '\n%s:\n  TOKEN=%s\n  curl -s -H "Authorization: Bearer $TOKEN" "%s/v1/participants?limit=3"\n' "$1" "$t" "$base"
done
t=$(tok --role integration --sub 0c000000-0000-4000-8000-000000000004 --programme "$PRG" --partner 40000000-0000-4000-8000-000000000003)
printf '\nintegration (employer partner):\n  TOKEN=%s\n  curl -s -H "Authorization: Bearer $TOKEN" %s/v1/participants\n' "$t" "$base"
echo
echo "Serving on $base (Ctrl-C stops the service and the database)"
$BIN serve
