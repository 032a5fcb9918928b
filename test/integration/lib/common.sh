# Shared setup for the worker integration tests (sourced, not run).
#
# Expects PGHOST/PGPORT/PGUSER (a running throwaway cluster whose PostgreSQL
# has the intentlog extension installed) and BUILD_DIR (the CMake build dir
# with intentlog-worker and intentlog-tail). Each test gets its own database,
# its own scratch directory and a watchdog; every process it starts is killed
# on exit, whatever happens.
set -euo pipefail

: "${BUILD_DIR:?BUILD_DIR must point at the CMake build directory}"
: "${PGHOST:?PGHOST must point at a running cluster (see scripts/pg.sh env)}"
WORKER_BIN="$BUILD_DIR/intentlog-worker"
TAIL_BIN="$BUILD_DIR/intentlog-tail"
[ -x "$WORKER_BIN" ] && [ -x "$TAIL_BIN" ] || { echo "FAIL: build intentlog-worker and intentlog-tail first" >&2; exit 1; }
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=$(basename "$0" .sh)
TEST_DB="il_${TEST_NAME//[^a-z0-9_]/_}_$$"
SCRATCH=$(mktemp -d "/tmp/intentlog-${TEST_NAME}.XXXXXX")
PIDS=()
TEST_TIMEOUT=${TEST_TIMEOUT:-55}

fail() {
  echo "FAIL: $*" >&2
  for f in "$SCRATCH"/worker*.log; do
    [ -f "$f" ] && { echo "--- $(basename "$f") (last lines)" >&2; tail -15 "$f" >&2; }
  done
  exit 1
}

cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${WATCHDOG:-}" ] && kill "$WATCHDOG" 2>/dev/null || true
  psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $TEST_DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ]; then rm -rf "$SCRATCH"; else echo "(scratch files kept in $SCRATCH)" >&2; fi
  exit $rc
}
trap cleanup EXIT
trap 'echo "FAIL: $TEST_NAME exceeded ${TEST_TIMEOUT}s" >&2; exit 124' USR1
# The watchdog takes its sleep down with it, and holds none of our pipes.
(
  trap 'kill $sleeper 2>/dev/null; exit 0' TERM
  sleep "$TEST_TIMEOUT" & sleeper=$!
  wait $sleeper && kill -USR1 $$
) >/dev/null 2>&1 &
WATCHDOG=$!

export PGDATABASE=$TEST_DB
q() { psql -XAtq -v ON_ERROR_STOP=1 "$@"; }

make_db() {
  psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $TEST_DB" >/dev/null
  q -c "CREATE EXTENSION intentlog" >/dev/null
}

# start_worker NAME [worker options...]: starts a worker listening on
# $SCRATCH/NAME.sock, logging to $SCRATCH/worker-NAME.log; sets WORKER_PID.
start_worker() {
  local name=$1; shift
  local sock="$SCRATCH/$name.sock" log="$SCRATCH/worker-$name.log" before
  before=$(grep -c 'event=started' "$log" 2>/dev/null || true)
  "$WORKER_BIN" --db "dbname=$TEST_DB" --listen "unix:$sock" --worker-id "$name" "$@" >>"$log" 2>&1 &
  WORKER_PID=$!
  PIDS+=("$WORKER_PID")
  for _ in $(seq 200); do
    [ "$(grep -c 'event=started' "$log" || true)" -gt "${before:-0}" ] && return 0
    kill -0 "$WORKER_PID" 2>/dev/null || fail "worker $name exited at startup"
    sleep 0.05
  done
  fail "worker $name did not start listening on $sock"
}

sock() { echo "unix:$SCRATCH/$1.sock"; }

# start_tail OUTFILE [tail options...]: a consumer in the background; sets TAIL_PID.
start_tail() {
  local out=$1; shift
  "$TAIL_BIN" "$@" >>"$out" 2>>"$out.err" &
  TAIL_PID=$!
  PIDS+=("$TAIL_PID")
}

# wait_lines FILE N SECONDS: until FILE has at least N lines.
wait_lines() {
  local file=$1 n=$2 secs=$3 i
  for i in $(seq $((secs * 10))); do
    [ "$(wc -l <"$file" 2>/dev/null || echo 0)" -ge "$n" ] && return 0
    sleep 0.1
  done
  return 1
}

# expected_intents DOMAIN FILE: every committed intent of DOMAIN as
# "partition seq key" lines (what consumers must receive).
expected_intents() {
  q -F ' ' -c "SELECT partition, seq, key FROM intentlog_data.$1 ORDER BY partition, seq" >"$2"
}

# The system Python starts fastest (a pyenv shim can take a second under load).
PY=$(command -v /usr/bin/python3 || command -v python3)
check() { $PY "$LIB_DIR/check_events.py" "$@"; }
