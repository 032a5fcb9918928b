#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for the demo, the tests and the benchmarks.
#
#   scripts/pg.sh install            private PostgreSQL tree + this build of intentlog
#   scripts/pg.sh start NAME [PORT]  initdb (if needed) and start cluster NAME
#   scripts/pg.sh stop NAME          fast shutdown
#   scripts/pg.sh crash NAME         kill -9 the postmaster (fault tests)
#   scripts/pg.sh env NAME           print PGHOST/PGPORT/PGUSER exports
#   scripts/pg.sh replica NAME PRIMARY   streaming standby of cluster PRIMARY
#                                    (pg_basebackup -R over the primary's socket), started
#   scripts/pg.sh pause-replay NAME  a standby stops applying WAL (it lags from then on)
#   scripts/pg.sh resume-replay NAME and applies it again
#   scripts/pg.sh catch-up NAME PRIMARY  wait until standby NAME has replayed PRIMARY's WAL
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
# One intentlog maintenance worker per database that has the extension, plus
# its launcher: the tests create many databases.
max_worker_processes = 32
# Two-phase commit is off by default; the tests cover staged appends in it.
max_prepared_transactions = 16
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

# A hot standby of PRIMARY: a base backup streamed over the primary's Unix
# socket (its pg_hba trusts local replication), recovery settings written by
# -R, its own port and socket directory. `stop NAME --rm` removes it.
cmd_replica() {
  local name=$1 primary=$2 dir pdir port
  dir=$(cluster_dir "$name")
  pdir=$(cluster_dir "$primary")
  [ -f "$pdir/port" ] || { echo "no cluster $primary" >&2; exit 1; }
  [ ! -e "$dir/data" ] || { echo "cluster $name exists" >&2; exit 1; }
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
  port=$(free_port)
  echo "$port" >"$dir/port"
  as_server "$PGBIN/pg_basebackup" -h "$pdir" -p "$(cat "$pdir/port")" -U postgres -D "$dir/data" \
    -R -X stream -c fast >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
  # Later settings win: the copied postgresql.conf still names the primary's.
  cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
hot_standby = on
hot_standby_feedback = on
CONF
  as_server "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

psql_on() {  # psql_on NAME SQL: one value from cluster NAME
  local dir; dir=$(cluster_dir "$1")
  "$PGBIN/psql" -h "$dir" -p "$(cat "$dir/port")" -U postgres -d postgres -X -A -t -q -c "$2"
}

cmd_pause_replay() {
  psql_on "$1" "SELECT pg_wal_replay_pause()" >/dev/null
  for _ in $(seq 200); do
    [ "$(psql_on "$1" "SELECT pg_get_wal_replay_pause_state()")" = paused ] && return
    sleep 0.05
  done
  echo "replay of $1 did not pause" >&2; exit 1
}

cmd_resume_replay() { psql_on "$1" "SELECT pg_wal_replay_resume()" >/dev/null; }

cmd_catch_up() {
  local lsn
  lsn=$(psql_on "$2" "SELECT pg_current_wal_lsn()")
  for _ in $(seq 600); do
    [ "$(psql_on "$1" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return
    sleep 0.05
  done
  echo "standby $1 did not reach $lsn" >&2; exit 1
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
  replica) shift; cmd_replica "$@" ;;
  pause-replay) shift; cmd_pause_replay "$@" ;;
  resume-replay) shift; cmd_resume_replay "$@" ;;
  catch-up) shift; cmd_catch_up "$@" ;;
  dir) cluster_dir "$2" ;;
  bindir) echo "$PGBIN" ;;
  *) sed -n '2,21p' "$0"; exit 2 ;;
esac
