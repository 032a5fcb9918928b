#!/usr/bin/env bash
# Append-side benchmark: intentlog against baselines measured in the same run.
#
#   bench/append.sh [--quick] [--rounds N] [--time S] [--settle S] [--clients "1 8"]
#                   [--shapes "single app batch"] [--out DIR] [--keep]
#
# Starts a throwaway cluster of its own (scripts/pg.sh, under a private run
# directory so that a concurrent `scripts/pg.sh install` cannot swap the
# extension mid-run), creates bench/setup.sql, then for each round, shape and
# client count runs every variant back to back with
# `pgbench -n -M prepared -c C -j 2 -T S -f bench/scripts/<shape>_<variant>.sql`,
# rotating the order of the variants from round to round, with a CHECKPOINT
# before each run so that every run starts from the same WAL state, then
# --settle seconds (default 1) of the same load, not measured: right after a
# checkpoint every page a variant touches first costs a full-page image, and
# a layout of 16 partitions touches ~16x the pages of one table. Measured in
# the 3 s right after the checkpoint, that once-per-checkpoint cost
# (checkpoint_timeout is 5 min) weighed ~100x what it does in steady load
# (381 vs 339 WAL bytes per transaction at 8 clients; 338 vs 337 after it).
# Prints a Markdown table (medians of the rounds, and per-round ratios of each
# candidate to its baseline with their median) and leaves the raw pgbench
# output and results.tsv in --out (default bench/out/<timestamp>/).
#
# Default: 5 rounds x 3 shapes x clients {1, 8} x 5 variants x (1 + 3) s (~12 min).
# --quick: 3 rounds x 3 shapes x clients {8} x 5 variants x 2 s, no warm-up (~2 min).
# Short runs, many rounds: on a shared machine a burst of someone else's load
# then hits one run of a round rather than a whole variant. The load average
# at the start of every run is recorded (results.tsv) and summarized.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

ROUNDS=5
TIME=3
CLIENTS="1 8"
SHAPES="single app batch"
VARIANTS="durable staged plain unlogged pgq"
WARMUP=1
SETTLE=1
OUT=""
KEEP=0

usage() { sed -n '2,28p' "$0"; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=3; TIME=2; CLIENTS="8"; WARMUP=0 ;;
    --rounds) ROUNDS=$2; shift ;;
    --time) TIME=$2; shift ;;
    --settle) SETTLE=$2; shift ;;
    --clients) CLIENTS=$2; shift ;;
    --shapes) SHAPES=$2; shift ;;
    --variants) VARIANTS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
  shift
done

# A private run directory: the benchmark measures the build of this tree as it
# was when the run started, whatever else happens in the shared one.
export INTENTLOG_RUNDIR=${INTENTLOG_BENCH_RUNDIR:-/tmp/intentlog-bench.$(id -u)}
PG="$ROOT/scripts/pg.sh"
CLUSTER="append-$$"
[ -n "$OUT" ] || OUT="$HERE/out/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

cleanup() {
  if [ "$KEEP" = 1 ]; then
    log "cluster kept: eval \"\$(INTENTLOG_RUNDIR=$INTENTLOG_RUNDIR $PG env $CLUSTER)\""
  else
    "$PG" stop "$CLUSTER" --rm || true
  fi
}

log "installing this build into $INTENTLOG_RUNDIR"
"$PG" install
trap cleanup EXIT
"$PG" start "$CLUSTER"
eval "$("$PG" env "$CLUSTER")"
PGBENCH=$(command -v pgbench)

psql -X -q -v ON_ERROR_STOP=1 -f "$HERE/setup.sql" >/dev/null

# The machine and the settings that matter, for the report.
{
  echo "build=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src sql Makefile 2>/dev/null || echo ' + uncommitted changes in src/sql')"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem=$(free -h | awk '/^Mem:/ {print $2}')"
  echo "server=$(psql -XAtc 'SHOW server_version')"
  psql -XAtc "SELECT name || '=' || current_setting(name) FROM pg_settings
              WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_level', 'full_page_writes',
                             'max_wal_size', 'checkpoint_timeout', 'commit_delay', 'wal_buffers',
                             'intentlog.maintenance', 'intentlog.maintenance_naptime')
              ORDER BY name"
  echo "domains=$(psql -XAtc "SELECT string_agg(format('%s(%s, %s partitions)', name, durability, partitions), ', ' ORDER BY name) FROM intentlog.domains")"
  echo "pgbench=pgbench -n -M prepared -j 2 -T $TIME after CHECKPOINT + ${SETTLE}s unmeasured, clients {$CLIENTS}, $ROUNDS rounds"
  echo "loadavg at start=$(cut -d' ' -f1-3 /proc/loadavg) (this run adds up to ~2 on its own at 8 clients)"
} >"$OUT/machine.txt"

intents_per_txn() { if [ "$1" = batch ]; then echo 100; else echo 1; fi; }

# run SHAPE VARIANT CLIENTS SECONDS LOGFILE -> prints tps
run_one() {
  local shape=$1 variant=$2 c=$3 t=$4 logf=$5 tps
  psql -XAtqc 'CHECKPOINT' >/dev/null
  if [ "$SETTLE" -gt 0 ]; then
    "$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$SETTLE" -f "$HERE/scripts/${shape}_${variant}.sql" >/dev/null 2>&1 || true
  fi
  "$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$t" -f "$HERE/scripts/${shape}_${variant}.sql" >"$logf" 2>&1 || {
    echo "pgbench failed ($shape $variant c=$c), see $logf:" >&2; tail -5 "$logf" >&2; exit 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$logf")
  if grep -q '^number of failed transactions: [1-9]' "$logf"; then
    echo "pgbench reported failed transactions ($shape $variant c=$c), see $logf" >&2; exit 1
  fi
  [ -n "$tps" ] || { echo "no tps in $logf" >&2; exit 1; }
  echo "$tps"
}

read -r -a V <<<"$VARIANTS"
nv=${#V[@]}
maxc=$(printf '%s\n' $CLIENTS | sort -n | tail -1)
total=$(( ROUNDS * $(wc -w <<<"$SHAPES") * $(wc -w <<<"$CLIENTS") * nv ))
log "cluster $CLUSTER up; $total runs of ${TIME}s (+ warm-up), raw output in $OUT"

if [ "$WARMUP" -gt 0 ]; then
  for shape in $SHAPES; do for v in "${V[@]}"; do
    run_one "$shape" "$v" "$maxc" "$WARMUP" "$OUT/warmup_${shape}_${v}.log" >/dev/null
  done; done
fi

printf 'round\tshape\tclients\tvariant\ttps\tintents_per_txn\tloadavg1\n' >"$OUT/results.tsv"
n=0
for r in $(seq 1 "$ROUNDS"); do
  for shape in $SHAPES; do
    for c in $CLIENTS; do
      # Alternate: every variant of this cell back to back, starting from a
      # different one each round.
      for i in $(seq 0 $((nv - 1))); do
        v=${V[$(( (i + r - 1) % nv ))]}
        n=$((n + 1))
        load=$(cut -d' ' -f1 /proc/loadavg)
        tps=$(run_one "$shape" "$v" "$c" "$TIME" "$OUT/r${r}_${shape}_c${c}_${v}.log")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$shape" "$c" "$v" "$tps" "$(intents_per_txn "$shape")" "$load" >>"$OUT/results.tsv"
        log "[$n/$total] round $r $shape c=$c $v: $tps tps"
      done
    done
  done
done

# Sanity: what the candidates appended is really there (and staged rows get promoted).
psql -XAtc "SELECT 'rows: durable=' || (SELECT count(*) FROM intentlog_data.bench_durable)
            || ' staged=' || (SELECT count(*) FROM intentlog_data.bench_staged)
            || ' outbox=' || (SELECT count(*) FROM outbox)
            || ' outbox_unlogged=' || (SELECT count(*) FROM outbox_unlogged)" >>"$OUT/machine.txt"

python3 "$HERE/report.py" "$OUT/results.tsv" "$OUT/machine.txt" | tee "$OUT/report.md"
