#!/usr/bin/env bash
# A/B measurements of the SQL behind the measured endpoints, on a data set
# that tests/bench/run.sh kept (BENCH_KEEP=1). Each variant runs as pgbench
# -c1 -M prepared for VARIANT_SECONDS (default 8), the variants alternating,
# VARIANT_ROUNDS times (default 3); printed: the median transactions/s and the
# median CPU of the whole cluster per transaction (/proc, measure.py), which a
# busy machine disturbs less than throughput.
#
#   bash tests/bench/sql_variants.sh .data/bench-<time> [single page pair]
#
# The B/C variants are proposals, defined here in a schema "bench" of the
# throwaway database; the service's own SQL (A) is copied from api/*.c and
# sql/*.sql as of this commit.
#   single A  api/participants.c SQL_VIEW: the view and participant_json (unused by GET)
#          B  the view only
#   page   A  api/participants.c list(): jsonb_agg(j ORDER BY seq)::text
#          B  '[' || string_agg(j::text, ',' ORDER BY seq) || ']' (no jsonb_agg)
#          C  B, and participant_json(p) for staff without the plpgsql participant_view call
#          D  A with plan_cache_mode=force_generic_plan and jit=off (no planning per call)
#          E  A with random_page_cost=1.1 (the (programme_id, seq) index is chosen)
#   pair   A  api/pairs.c SQL_LOAD: pair_json(x), a SQL function that is not inlined
#          B  the same body in plpgsql (its plans are cached per connection)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=$(readlink -f "${1:?usage: sql_variants.sh .data/bench-<time> [single page pair]}")
shift
WHICH=${*:-single page pair}
SECS=${VARIANT_SECONDS:-8}
ROUNDS=${VARIANT_ROUNDS:-3}
PY=/usr/bin/python3
url=$(bash tools/pg.sh start "$DIR")
PMPID=$(head -1 "$(readlink -f "$DIR/cluster")/postmaster.pid")
OUT=$DIR/variants
mkdir -p "$OUT"
TSV=$OUT/variants-$(date -u +%Y%m%dT%H%M%SZ).tsv
trap 'bash tools/pg.sh stop "$DIR" || true' EXIT
export PGOPTIONS="-c client_min_messages=warning"
PRG=$(head -1 "$DIR/programmes.txt")
MAXSEQ=$(psql "$url" -XAtc "SELECT max(seq) FROM participants")

psql "$url" -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench_pairs (n bigint PRIMARY KEY, id uuid);
-- the current bodies of pair_progress and pair_json (sql/*.sql), as plpgsql
DO $d$
DECLARE b text;
BEGIN
  SELECT rtrim(prosrc, E' \n\t;') INTO b FROM pg_proc WHERE oid = 'pair_progress(pairs)'::regprocedure;
  EXECUTE format('CREATE OR REPLACE FUNCTION bench.pair_progress(p pairs) RETURNS jsonb LANGUAGE plpgsql STABLE AS %L',
                 'BEGIN RETURN (' || b || '); END');
  SELECT rtrim(prosrc, E' \n\t;') INTO b FROM pg_proc WHERE oid = 'pair_json(pairs)'::regprocedure;
  EXECUTE format('CREATE OR REPLACE FUNCTION bench.pair_json(p pairs) RETURNS jsonb LANGUAGE plpgsql STABLE AS %L',
                 'BEGIN RETURN (' || replace(b, 'pair_progress(p)', 'bench.pair_progress(p)') || '); END');
END $d$;
SQL
if [ "$(psql "$url" -XAtc "SELECT count(*) FROM bench_pairs")" = 0 ]; then
  psql "$url" -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TEMP TABLE t (id uuid);
\\copy t FROM '$DIR/pairs.txt'
DELETE FROM bench_pairs;
INSERT INTO bench_pairs SELECT row_number() OVER (), id FROM t;
ANALYZE bench_pairs;
SQL
fi
NPAIRS=$(psql "$url" -XAtc "SELECT count(*) FROM bench_pairs")
same=$(psql "$url" -XAtc "SELECT bool_and(pair_json(x) = bench.pair_json(x)) FROM pairs x JOIN bench_pairs b ON b.id = x.id WHERE b.n <= 200")
[ "$same" = t ] || { echo "bench.pair_json differs from pair_json" >&2; exit 1; }
NIDS=$(psql "$url" -XAtc "SELECT count(*) FROM bench_ids")

# the participants list statement of api/participants.c, parameters as pgbench variables
page_sql() {
  /usr/bin/python3 - <<'PY'
import re
src = open("api/participants.c").read()
i = src.index('"WITH page AS')
body = src[i:src.index(";", i)]
sql = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)).replace("\\\\", "\\")
names = {1: ":role", 2: ":sub", 3: ":all_prg", 4: ":prg", 5: "NULL", 6: ":after", 7: ":pid", 16: ":lim"}
sql = re.sub(r"\$(\d+)\b", lambda m: names.get(int(m.group(1)), "NULL"), sql)
print(sql + ";")
PY
}
V=$OUT/sql
mkdir -p "$V"
printf '%s\n' '\set n random(1, :count)' \
  "SELECT participant_view(p, :role, :sub, :all_prg, :prg, NULL)::text, participant_json(p)::text FROM participants p WHERE p.id = (SELECT id FROM bench_ids WHERE n = :n);" >"$V/single_A.sql"
printf '%s\n' '\set n random(1, :count)' \
  "SELECT participant_view(p, :role, :sub, :all_prg, :prg, NULL)::text FROM participants p WHERE p.id = (SELECT id FROM bench_ids WHERE n = :n);" >"$V/single_B.sql"
{ echo "\\set after random(0, $MAXSEQ)"; page_sql; } >"$V/page_A.sql"
sed -e "s/coalesce((SELECT jsonb_agg(j ORDER BY seq) FROM shown), '\[\]')::text/'[' || coalesce((SELECT string_agg(j::text, ',' ORDER BY seq) FROM shown), '') || ']'/" \
  "$V/page_A.sql" >"$V/page_B.sql"
sed -e "s/participant_view(p, :role, :sub, :all_prg, :prg, NULL) AS j/participant_json(p) AS j/" "$V/page_B.sql" >"$V/page_C.sql"
printf '%s\n' '\set n random(1, :npairs)' \
  "SELECT pair_json(x)::text, x.status FROM pairs x WHERE x.id = (SELECT id FROM bench_pairs WHERE n = :n) AND pair_visible(x, :role, :sub, :all_prg, :prg);" >"$V/pair_A.sql"
sed -e 's/SELECT pair_json(x)/SELECT bench.pair_json(x)/' "$V/pair_A.sql" >"$V/pair_B.sql"
# settings, not SQL: the service's own statement with other planner settings
cp "$V/page_A.sql" "$V/page_D.sql"
echo "-c plan_cache_mode=force_generic_plan -c jit=off" >"$V/page_D.opts"
cp "$V/page_A.sql" "$V/page_E.sql"
echo "-c random_page_cost=1.1" >"$V/page_E.opts"
for f in "$V"/page_B.sql "$V"/page_C.sql "$V"/pair_B.sql; do # D, E are A with settings
  cmp -s "$f" "${f%_?.sql}_A.sql" && { echo "variant $f did not change (the service's SQL moved?)" >&2; exit 1; }
done

vars=(-D count="$NIDS" -D npairs="$NPAIRS" -D role=coordinator -D sub=0c000000-0000-4000-8000-00000000bec0
      -D all_prg=t -D prg='{}' -D pid="$PRG" -D lim=50)
for exp in $WHICH; do
  variants=$(cd "$V" && ls ${exp}_?.sql | sed 's/.*_\(.\)\.sql/\1/')
  for r in $(seq "$ROUNDS"); do
    for v in $variants; do
      opts="-c client_min_messages=warning"
      [ -f "$V/${exp}_$v.opts" ] && opts="$opts $(cat "$V/${exp}_$v.opts")"
      PGOPTIONS=$opts pgbench -n -c1 -T2 -M prepared "${vars[@]}" -f "$V/${exp}_$v.sql" "$url" >/dev/null 2>&1
      PGOPTIONS=$opts $PY tests/bench/measure.py run --label "${exp}_${v}_$r" --endpoint "$exp $v" --tool pgbench --conns 1 \
        --postmaster "$PMPID" --pglog "$OUT/pgblog" --out "$TSV" -- \
        pgbench -n -c1 -T"$SECS" -M prepared -l --log-prefix="$OUT/pgblog" "${vars[@]}" -f "$V/${exp}_$v.sql" "$url" \
        >/dev/null
    done
  done
done
$PY - "$TSV" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
head, rows = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
by = collections.OrderedDict()
for r in rows:
    by.setdefault(r["endpoint"], []).append(r)
print(f"{'variant':10} {'tx/s':>8} {'p50 ms':>8} {'DB CPU µs/tx':>13}  (medians of {len(next(iter(by.values())))} runs, pgbench -c1)")
for k, rs in by.items():
    med = lambda f: statistics.median(float(r[f]) for r in rs)
    print(f"{k:10} {med('rps'):8.0f} {med('p50_ms'):8.2f} {med('pg_us_per_req'):13.0f}")
PY
echo "rows: $TSV"
