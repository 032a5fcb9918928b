#!/usr/bin/env bash
# What a late committer costs the read path. A transaction appends one intent
# and stays open while others append ROWS intents to the same partition; a
# reader fetches past all of them (the open transaction becomes a pending xid
# of its cursor), then the transaction commits and the next fetch delivers
# its intent. Printed per round, in ms (psql's \timing of the statement):
#
#   open     a fetch from the reader's cursor while the transaction is open
#            (the cost every fetch pays while it stays open)
#   late     the fetch that finds the late intent after the commit
#
#   bench/late_committer.sh [--rows 200000] [--rounds 3]
#
# Runs against the server of the environment (PGHOST, PGPORT, PGUSER): for an
# A/B, run it against clusters of two builds (scripts/pg.sh with two
# INTENTLOG_RUNDIRs), alternating. Creates and drops its own database.
set -euo pipefail

ROWS=200000
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
  shift
done

DB=late_committer_$$
SCRATCH=$(mktemp -d)
OPEN_PID=""
cleanup() {
  [ -n "$OPEN_PID" ] && kill "$OPEN_PID" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  dropdb --if-exists "$DB" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
timed() {  # timed SQL: the statement's time in ms, from psql's \timing
  psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 1
}

createdb "$DB"
q -c "CREATE EXTENSION intentlog" -c "SELECT intentlog.create_domain('late', partitions => 1)" >/dev/null
echo "rows appended while the transaction is open: $ROWS, rounds: $ROUNDS, loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "round open_ms late_ms late_rows"
for round in $(seq "$ROUNDS"); do
  cursor=$(q -c "SELECT intentlog.latest_cursor('late', 0)")
  mkfifo "$SCRATCH/in"
  psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" <"$SCRATCH/in" >"$SCRATCH/out" 2>&1 &
  OPEN_PID=$!
  exec 3>"$SCRATCH/in"
  echo "BEGIN; SELECT count(*) FROM intentlog.intent_append('late', 'late-$round', 'late'); SELECT 'ready';" >&3
  for _ in $(seq 100); do grep -q ready "$SCRATCH/out" && break; sleep 0.1; done
  grep -q ready "$SCRATCH/out" || { cat "$SCRATCH/out" >&2; exit 1; }
  # ROWS intents after it, in transactions of 10,000.
  left=$ROWS
  while [ "$left" -gt 0 ]; do
    n=$(( left < 10000 ? left : 10000 ))
    q -c "SELECT count(*) FROM (SELECT array_agg('k' || i) AS k, array_agg('upsert'::text) AS o
                                  FROM generate_series(1, $n) i) a, intentlog.intent_append_batch('late', a.k, a.o)" >/dev/null
    left=$(( left - n ))
  done
  # The reader passes them all: the open transaction becomes pending.
  while :; do
    next=$(q -c "SELECT next_cursor FROM intentlog.fetch('g', 'late', 0, 100000, '$cursor') LIMIT 1")
    [ -n "$next" ] || break
    cursor=$next
  done
  case "$cursor" in *";"*) ;; *) echo "the open transaction is not pending in $cursor" >&2; exit 1 ;; esac
  open_ms=$(timed "SELECT count(*) FROM intentlog.fetch('g', 'late', 0, 1000, '$cursor')")
  echo "COMMIT;" >&3
  exec 3>&-
  wait "$OPEN_PID"
  OPEN_PID=""
  rm -f "$SCRATCH/in"
  late_ms=$(timed "SELECT count(*) FROM intentlog.fetch('g', 'late', 0, 1000, '$cursor')")
  late_rows=$(q -c "SELECT count(*) FROM intentlog.fetch('g', 'late', 0, 1000, '$cursor') WHERE key = 'late-$round'")
  [ "$late_rows" = 1 ] || { echo "round $round: the late intent was not delivered ($late_rows rows)" >&2; exit 1; }
  echo "$round $open_ms $late_ms $late_rows"
done
