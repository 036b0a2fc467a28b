#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for development and tests.
#   tools/pg.sh start DIR   create (if needed) and start a cluster in DIR; prints its conninfo
#   tools/pg.sh stop DIR    stop it
# The server listens on a unix socket only (no TCP port, no clash). PostgreSQL
# refuses to run as root, so as root the cluster belongs to the system user
# "koppel"; if that user cannot reach DIR (a checkout under /root), the data
# lives under /var/tmp and DIR holds a symlink to it.
set -euo pipefail
cmd=$1; dir=$(mkdir -p "$2" && cd "$2" && pwd)
BIN=/usr/lib/postgresql/15/bin
run_as() { if [ "$(id -u)" = 0 ]; then runuser -u koppel -- "$@"; else "$@"; fi; }

case "$cmd" in
start)
  if [ "$(id -u)" = 0 ] && ! id koppel >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin koppel
  fi
  if [ ! -e "$dir/cluster" ]; then
    target="$dir/cluster"
    if [ "$(id -u)" = 0 ] && ! runuser -u koppel -- test -x "$dir" 2>/dev/null; then
      target=$(mktemp -d /var/tmp/koppel-pg.XXXXXX)
      ln -s "$target" "$dir/cluster"
    fi
    mkdir -p "$target"
    [ "$(id -u)" = 0 ] && chown koppel "$target"
    run_as "$BIN/initdb" -D "$target" -U koppel -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  sock=$(readlink -f "$dir/cluster")
  if ! run_as "$BIN/pg_ctl" -D "$sock" status >/dev/null 2>&1; then
    run_as "$BIN/pg_ctl" -D "$sock" -w -t 60 -l "$sock/server.log" \
      -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { tail -20 "$sock/server.log" >&2; exit 1; }
  fi
  if ! "$BIN/psql" -h "$sock" -U koppel -d koppel -Atc 'select 1' >/dev/null 2>&1; then
    "$BIN/createdb" -h "$sock" -U koppel koppel
  fi
  echo "host=$sock dbname=koppel user=koppel"
  ;;
stop)
  [ -e "$dir/cluster" ] || exit 0
  sock=$(readlink -f "$dir/cluster")
  run_as "$BIN/pg_ctl" -D "$sock" -m fast -w stop >/dev/null 2>&1 || true
  ;;
destroy)
  [ -e "$dir/cluster" ] || exit 0
  sock=$(readlink -f "$dir/cluster")
  run_as "$BIN/pg_ctl" -D "$sock" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$sock" "$dir"
  ;;
*) echo "usage: $0 start|stop|destroy DIR" >&2; exit 2 ;;
esac
