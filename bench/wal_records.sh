#!/usr/bin/env bash
# What an intent writes to WAL, record by record: pg_waldump --stats=record over
# a fixed number of transactions of each bench/scripts variant, after a
# CHECKPOINT and a settle run of the same script (so that full-page images of
# the first touch of each page are mostly behind), one client.
#
#   bench/wal_records.sh [--txns N] [--scripts "single_durable single_emit batch_durable batch_emit ..."]
#
# Prints, per script, WAL bytes per intent and the records that make them up
# (count and bytes per intent, full-page images separately). Deterministic up
# to full-page images and sequence logging (1 record per 32 nextvals).
set -euo pipefail
shopt -s inherit_errexit
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TXNS=2000
SCRIPTS="single_durable single_staged single_plain single_emit batch_durable batch_staged batch_plain batch_emit app_durable app_none"
while [ $# -gt 0 ]; do
  case "$1" in
    --txns) TXNS=$2; shift ;;
    --scripts) SCRIPTS=$2; shift ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
  esac
  shift
done
export INTENTLOG_RUNDIR=${INTENTLOG_BENCH_RUNDIR:-/tmp/intentlog-bench.$(id -u)}
PG="$ROOT/scripts/pg.sh"
CLUSTER="walrec-$$"
"$PG" install >/dev/null
trap '"$PG" stop "$CLUSTER" --rm >/dev/null 2>&1 || true' EXIT
"$PG" start "$CLUSTER" >/dev/null
eval "$("$PG" env "$CLUSTER")"
psql -X -q -v ON_ERROR_STOP=1 -f "$HERE/setup.sql" >/dev/null
DATA=$("$PG" dir "$CLUSTER")/data
BIN=$("$PG" bindir)
sql() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
echo "build $(git -C "$ROOT" rev-parse --short HEAD), $TXNS transactions per script, 1 client, after CHECKPOINT + $TXNS unmeasured"
for s in $SCRIPTS; do
  per=1; case $s in batch_*) per=100 ;; esac
  n=$TXNS; [ "$per" = 100 ] && n=$((TXNS / 10))
  sql CHECKPOINT
  pgbench -n -M prepared -c 1 -t "$n" -f "$HERE/scripts/$s.sql" >/dev/null
  [ "$s" = single_staged ] || [ "$s" = batch_staged ] && sql "SELECT bench_promote_all('bench_staged')" >/dev/null
  a=$(sql "SELECT pg_current_wal_lsn()")
  pgbench -n -M prepared -c 1 -t "$n" -f "$HERE/scripts/$s.sql" >/dev/null
  # staged: the promotion of what it appended is part of its WAL
  [ "$s" = single_staged ] || [ "$s" = batch_staged ] && sql "SELECT bench_promote_all('bench_staged')" >/dev/null
  b=$(sql "SELECT pg_current_wal_lsn()")
  sql "SELECT pg_switch_wal()" >/dev/null  # the segment is complete for pg_waldump
  intents=$((n * per)); [ "$s" = app_none ] && intents=$n
  echo
  echo "### $s: $(sql "SELECT pg_wal_lsn_diff('$b', '$a')::bigint / $intents") WAL bytes per $( [ "$s" = app_none ] && echo transaction || echo intent) ($intents)"
  echo
  echo "| record | count per intent | bytes per intent (record) | bytes per intent (FPI) |"
  echo "|---|---:|---:|---:|"
  "$BIN/pg_waldump" -p "$DATA/pg_wal" -s "$a" -e "$b" --stats=record 2>/dev/null |
    awk -v n="$intents" '{ gsub(/\([^)]*\)/, "") } $1 ~ /\// && $2 ~ /^[0-9]+$/ && $2 > 0 {
        printf "| %s | %.3f | %.1f | %.1f |\n", $1, $2 / n, $3 / n, $4 / n }'
done
