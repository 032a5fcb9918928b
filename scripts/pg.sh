#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for the demo, the tests and the benchmarks.
#
#   scripts/pg.sh install            private PostgreSQL tree + this build of intentlog
#   scripts/pg.sh start NAME [PORT]  initdb (if needed) and start cluster NAME
#   scripts/pg.sh stop NAME          fast shutdown
#   scripts/pg.sh crash NAME         kill -9 the postmaster (fault tests)
#   scripts/pg.sh env NAME           print PGHOST/PGPORT/PGUSER exports
#
# Nothing touches the system's PostgreSQL: the server binaries are copied into
# a private tree (PostgreSQL finds its share/ and lib/ relative to its binary),
# the extension is installed there, and every cluster lives under $RUNDIR,
# listens only on a Unix socket in its own directory, trusts local users and
# is removed by `stop --rm`. As root the server runs as the `postgres` OS user,
# since PostgreSQL refuses to run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-run.$(id -u)}
PGROOT=$RUNDIR/pgroot
PGBIN=$PGROOT/usr/lib/postgresql/15/bin
SYS_PGLIB=/usr/lib/postgresql/15
SYS_PGSHARE=/usr/share/postgresql/15

as_server() {  # run a command as the server's OS user
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_install() {
  mkdir -p "$RUNDIR"
  chmod 755 "$RUNDIR"
  rm -rf "$PGROOT.tmp"
  mkdir -p "$PGROOT.tmp/usr/lib/postgresql" "$PGROOT.tmp/usr/share/postgresql"
  cp -a "$SYS_PGLIB" "$PGROOT.tmp/usr/lib/postgresql/15"
  cp -a "$SYS_PGSHARE" "$PGROOT.tmp/usr/share/postgresql/15"
  # The system pg_config: paths inside the tree are relative to the system ones.
  make -s -C "$HERE" install DESTDIR="$PGROOT.tmp" PG_CONFIG="$SYS_PGLIB/bin/pg_config" >/dev/null
  rm -rf "$PGROOT"
  mv "$PGROOT.tmp" "$PGROOT"
  chmod -R a+rX "$PGROOT"
}

cluster_dir() { echo "$RUNDIR/clusters/$1"; }

free_port() {
  local p
  for p in $(seq 54320 54420); do
    if [ ! -e "$RUNDIR/ports/$p" ]; then mkdir -p "$RUNDIR/ports"; : > "$RUNDIR/ports/$p"; echo "$p"; return; fi
  done
  echo "no free port" >&2; exit 1
}

cmd_start() {
  local name=$1 port=${2:-} dir
  [ -x "$PGBIN/postgres" ] || cmd_install
  dir=$(cluster_dir "$name")
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    [ -n "$port" ] || port=$(free_port)
    as_server "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'intentlog'
max_connections = 200
shared_buffers = 256MB
max_wal_size = 2GB
wal_level = replica
max_wal_senders = 4
fsync = on
logging_collector = off
log_min_messages = warning
CONF
    echo "local replication all trust" >>"$dir/data/pg_hba.conf"
    echo "$port" >"$dir/port"
  fi
  as_server "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

cmd_stop() {
  local dir; dir=$(cluster_dir "$1")
  [ -f "$dir/data/postmaster.pid" ] && as_server "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  if [ "${2:-}" = "--rm" ]; then
    [ -f "$dir/port" ] && rm -f "$RUNDIR/ports/$(cat "$dir/port")"
    rm -rf "$dir"
  fi
}

cmd_crash() {
  local dir pid; dir=$(cluster_dir "$1")
  local children c alive
  pid=$(head -1 "$dir/data/postmaster.pid")
  children=$(pgrep -P "$pid" || true)
  kill -9 "$pid"
  # The postmaster is gone; its children notice and exit on their own. A new
  # postmaster refuses to start while any of them still holds shared memory.
  for _ in $(seq 200); do
    alive=0
    for c in $children; do kill -0 "$c" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.05
  done
}

cmd_env() {
  local dir; dir=$(cluster_dir "$1")
  echo "export PGHOST='$dir' PGPORT='$(cat "$dir/port")' PGUSER=postgres PGDATABASE=postgres PATH='$PGBIN':\"\$PATH\""
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  crash) shift; cmd_crash "$@" ;;
  env) shift; cmd_env "$@" ;;
  dir) cluster_dir "$2" ;;
  bindir) echo "$PGBIN" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
