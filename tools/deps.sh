#!/usr/bin/env bash
# Installs the Debian packages Koppel needs, only those that are missing.
set -euo pipefail
# libcurl (webhook delivery) is the GnuTLS flavour: libulfius-dev depends on it, and
# libcurl4-openssl-dev conflicts with it.
PKGS="cmake make gcc pkg-config libulfius-dev libjansson-dev libpq-dev libjwt-dev libssl-dev libcurl4-gnutls-dev
postgresql-15 postgresql-client-15 libcmocka-dev python3-pytest python3-requests
python3-jsonschema python3-yaml python3-cryptography curl ca-certificates clang libclang-rt-14-dev
nginx pgbouncer"
# make bench also needs the load generator (tests/bench/run.sh).
[ "${1:-}" = bench ] && PKGS="$PKGS wrk openssl"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm (for the contract linter) may come from elsewhere than Debian: any npm will do.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  echo "koppel: installing$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  # nginx and pgbouncer are for tests/api/test_deploy.py, which runs its own: their
  # packages must not start system services (policy-rc.d 101 = "do not start").
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing </dev/null
fi
