#!/usr/bin/env bash
# Lints openapi.yaml:
#  1. Spectral with .spectral.yaml (every spectral:oas rule); any error or
#     warning fails. Spectral is pinned in tools/lint/package.json and
#     package-lock.json and installed with `npm ci` into tools/lint/node_modules
#     the first time (and again whenever the lock file changes).
#  2. The `examples` of every schema under components validate against that
#     schema (Spectral checks media-type examples, but not the OpenAPI 3.1
#     `examples` keyword inside schemas), with Debian's python3-jsonschema.
# Needs node 18.18+ or 20.17+ with npm, python3-jsonschema and python3-yaml
# (tools/deps.sh installs them on Debian 12). Works as root without stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
LINT=tools/lint
SPECTRAL=$LINT/node_modules/@stoplight/spectral-cli/dist/index.js
PY=/usr/bin/python3

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 ||
   ! $PY -c 'import jsonschema, yaml' 2>/dev/null; then
  bash tools/deps.sh
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number);
              process.exit(a>20||(a===20&&b>=17)||(a===18&&b>=18)?0:1)'; then
  echo "lint: Spectral needs node 18.18+ or 20.17+, found $(node --version)" >&2
  exit 1
fi

stamp=$LINT/node_modules/.koppel-lock.sha256
want=$(sha256sum "$LINT/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$SPECTRAL" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "lint: installing the pinned linters (npm ci in $LINT)"
  # --ignore-scripts: Spectral needs no install script; the one in its tree only reports usage.
  (cd "$LINT" && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier \
     --loglevel=error </dev/null)
  echo "$want" >"$stamp"
fi

fail=0
echo "== spectral lint openapi.yaml"
DO_NOT_TRACK=1 SCARF_ANALYTICS=false \
  node "$SPECTRAL" lint --ruleset .spectral.yaml --fail-severity warn openapi.yaml </dev/null || fail=1

echo "== schema examples in openapi.yaml"
$PY - openapi.yaml <<'PYEOF' || fail=1
import re, sys, datetime, yaml
from jsonschema import Draft202012Validator, FormatChecker, RefResolver

doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
formats = FormatChecker()

@formats.checks("date-time")
def _date_time(v):
    if not isinstance(v, str):
        return True
    if not re.match(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", v):
        return False
    try:
        datetime.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True

Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
resolver = RefResolver(base_uri="", referrer=doc)
failed = checked = 0

def walk(node, where):
    """Checks the examples of node and of every schema nested in it."""
    global failed, checked
    if isinstance(node, dict):
        if isinstance(node.get("examples"), list) and ("type" in node or "$ref" in node or "enum" in node):
            v = Draft202012Validator(node, resolver=resolver, format_checker=formats)
            for i, ex in enumerate(node["examples"]):
                checked += 1
                for e in v.iter_errors(ex):
                    failed += 1
                    at = "/".join(str(p) for p in e.absolute_path)
                    print(f"{where}/examples/{i}/{at}: {e.message[:300]}")
        for k, v2 in node.items():
            if k != "examples":
                walk(v2, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v2 in enumerate(node):
            walk(v2, f"{where}/{i}")

walk(doc["components"]["schemas"], "#/components/schemas")
walk(doc.get("paths", {}), "#/paths")
print(f"{checked} schema examples checked, {failed} problems")
sys.exit(1 if failed else 0)
PYEOF
exit $fail
