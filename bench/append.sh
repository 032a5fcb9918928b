#!/usr/bin/env bash
# Append-side benchmark: intentlog against baselines measured in the same run.
#
#   bench/append.sh [--quick | --limits] [--rounds N] [--time S] [--settle S] [--clients "1 8"]
#                   [--shapes "single app batch"] [--variants "..."] [--out DIR] [--keep]
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
# --limits: the goals of issue 19 (bench/README.md): 4 rounds, clients {8},
#   3 s, each shape with the variants its goals compare (16 runs a round, ~7 min):
#   single: durable durable_async staged unlogged emit plain
#   app:    durable staged unlogged none plain
#   batch:  durable staged unlogged emit plain
# A variant without a script for a shape is skipped in that shape (emit has no
# app script, none only an app one). Per run: TPS, WAL bytes (LSN before and
# after the measured run), heap and index bytes of the variant's tables.
# staged: the rows left in the hot tables when pgbench ends are promoted right
# away (bench_promote_all) and that time is added to the run's, so its TPS
# includes the promotion of everything it appended (and its WAL bytes too).
# Short runs, many rounds: on a shared machine a burst of someone else's load
# then hits one run of a round rather than a whole variant. The load average
# at the start of every run is recorded (results.tsv) and summarized.
set -euo pipefail
shopt -s inherit_errexit  # a failing psql inside $(...) stops the run too

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

ROUNDS=5
TIME=3
CLIENTS="1 8"
SHAPES="single app batch"
VARIANTS="durable staged plain unlogged pgq"
LIMITS=0
WARMUP=1
SETTLE=1
OUT=""
KEEP=0

usage() { sed -n '2,39p' "$0"; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=3; TIME=2; CLIENTS="8"; WARMUP=0 ;;
    --limits) LIMITS=1; ROUNDS=4; CLIENTS="8"; VARIANTS="durable durable_async staged unlogged emit none plain" ;;
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

# The script of a variant in a shape; durable_async is durable's script run
# with synchronous_commit = off (the knob a user would turn instead).
script_for() {
  local v=$2
  [ "$v" = durable_async ] && v=durable
  echo "$HERE/scripts/${1}_${v}.sql"
}
pgoptions_for() { if [ "$1" = durable_async ]; then echo "-c synchronous_commit=off"; fi; }

# The variants of a shape: with --limits the ones its goals compare, otherwise
# --variants minus those without a script for the shape.
variants_for() {
  local shape=$1 list v out=""
  if [ "$LIMITS" = 1 ]; then
    case $shape in
      single) list="durable durable_async staged unlogged emit plain" ;;
      app) list="durable staged unlogged none plain" ;;
      batch) list="durable staged unlogged emit plain" ;;
      *) list=$VARIANTS ;;
    esac
    # Keep only those also in --variants (so --variants can narrow a --limits run).
    local keep=""
    for v in $list; do case " $VARIANTS " in *" $v "*) keep="$keep $v" ;; esac; done
    list=$keep
  else
    list=$VARIANTS
  fi
  for v in $list; do [ -f "$(script_for "$shape" "$v")" ] && out="$out $v"; done
  echo "${out# }"
}

sql() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1" || { echo "psql failed: $1" >&2; exit 1; }; }

# run SHAPE VARIANT CLIENTS SECONDS LOGFILE -> prints "tps txns wal heap idx idx_xid promote_s pgbench_tps promote_rows"
run_one() {
  local shape=$1 variant=$2 c=$3 t=$4 logf=$5 script tps txns lsn0 wal h0 i0 x0 h1 i1 x1 t0 t1 promote_s=0 promote_rows=0 eff
  script=$(script_for "$shape" "$variant")
  export PGOPTIONS
  PGOPTIONS=$(pgoptions_for "$variant")
  sql 'CHECKPOINT' >/dev/null
  if [ "$SETTLE" -gt 0 ]; then
    "$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$SETTLE" -f "$script" >"$logf.settle" 2>&1 || {
      echo "pgbench failed in the settle run ($shape $variant c=$c), see $logf.settle:" >&2; tail -5 "$logf.settle" >&2; exit 1; }
  fi
  # A staged run starts with nothing left to promote from the settle load.
  if [ "$variant" = staged ]; then sql "SELECT bench_promote_all('bench_staged')" >/dev/null; fi
  read -r lsn0 h0 i0 x0 <<<"$(sql "SELECT pg_current_wal_lsn() || ' ' || heap || ' ' || idx || ' ' || idx_xid FROM bench_sizes('$variant')")"
  "$PGBENCH" -n -M prepared -c "$c" -j 2 -T "$t" -f "$script" >"$logf" 2>&1 || {
    echo "pgbench failed ($shape $variant c=$c), see $logf:" >&2; tail -5 "$logf" >&2; exit 1; }
  if [ "$variant" = staged ]; then
    # What the run appended and the maintenance worker has not promoted yet is
    # promoted now, timed: the run's throughput includes all its promotion.
    t0=$(date +%s.%N)
    promote_rows=$(sql "SELECT bench_promote_all('bench_staged')")
    t1=$(date +%s.%N)
    promote_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    local left
    left=$(sql "SELECT bench_hot_rows('bench_staged')")
    [ "$left" = 0 ] || { echo "staged: $left rows still in the hot tables after promotion" >&2; exit 1; }
  fi
  read -r wal h1 i1 x1 <<<"$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')::bigint || ' ' || heap || ' ' || idx || ' ' || idx_xid FROM bench_sizes('$variant')")"
  PGOPTIONS=""
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$logf")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$logf")
  if grep -q '^number of failed transactions: [1-9]' "$logf"; then
    echo "pgbench reported failed transactions ($shape $variant c=$c), see $logf" >&2; exit 1
  fi
  if grep -qi 'error' "$logf"; then
    echo "pgbench output has errors ($shape $variant c=$c), see $logf:" >&2; grep -i -m3 error "$logf" >&2; exit 1
  fi
  [ -n "$tps" ] && [ -n "$txns" ] && [ "$txns" -gt 0 ] || { echo "no tps/transactions in $logf" >&2; exit 1; }
  # TPS over the run plus the promotion of its tail (staged; 0 s otherwise).
  eff=$(awk -v n="$txns" -v tps="$tps" -v p="$promote_s" 'BEGIN { printf "%.6f", n / (n / tps + p) }')
  echo "$eff $txns $wal $((h1 - h0)) $((i1 - i0)) $((x1 - x0)) $promote_s $tps $promote_rows"
}

read -r -a SH <<<"$SHAPES"
maxc=$(printf '%s\n' $CLIENTS | sort -n | tail -1)
total=0
for shape in "${SH[@]}"; do
  nv=$(wc -w <<<"$(variants_for "$shape")")
  [ "$nv" -gt 0 ] || { echo "no variant has a script for shape $shape" >&2; exit 1; }
  total=$(( total + ROUNDS * $(wc -w <<<"$CLIENTS") * nv ))
  echo "variants[$shape]=$(variants_for "$shape")" >>"$OUT/machine.txt"
done
log "cluster $CLUSTER up; $total runs of ${TIME}s (+ ${SETTLE}s settle each, + warm-up), raw output in $OUT"

if [ "$WARMUP" -gt 0 ]; then
  for shape in "${SH[@]}"; do for v in $(variants_for "$shape"); do
    PGOPTIONS=$(pgoptions_for "$v") "$PGBENCH" -n -M prepared -c "$maxc" -j 2 -T "$WARMUP" \
      -f "$(script_for "$shape" "$v")" >"$OUT/warmup_${shape}_${v}.log" 2>&1 || {
      echo "pgbench failed in the warm-up ($shape $v), see $OUT/warmup_${shape}_${v}.log" >&2; exit 1; }
  done; done
fi

printf 'round\tshape\tclients\tvariant\ttps\tintents_per_txn\tloadavg1\ttxns\twal_bytes\theap_bytes\tindex_bytes\txid_index_bytes\tpromote_s\tpgbench_tps\tpromote_rows\n' >"$OUT/results.tsv"
n=0
for r in $(seq 1 "$ROUNDS"); do
  for shape in "${SH[@]}"; do
    read -r -a V <<<"$(variants_for "$shape")"
    nv=${#V[@]}
    for c in $CLIENTS; do
      # Alternate: every variant of this cell back to back, starting from a
      # different one each round.
      for i in $(seq 0 $((nv - 1))); do
        v=${V[$(( (i + r - 1) % nv ))]}
        n=$((n + 1))
        load=$(cut -d' ' -f1 /proc/loadavg)
        read -r tps txns wal heap idx idx_xid promote_s ptps prows <<<"$(run_one "$shape" "$v" "$c" "$TIME" "$OUT/r${r}_${shape}_c${c}_${v}.log")"
        [ -n "$ptps" ] || exit 1
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$shape" "$c" "$v" "$tps" \
          "$(intents_per_txn "$shape")" "$load" "$txns" "$wal" "$heap" "$idx" "$idx_xid" "$promote_s" "$ptps" "$prows" >>"$OUT/results.tsv"
        ipt=$(intents_per_txn "$shape")
        log "[$n/$total] round $r $shape c=$c $v: $tps tps, $(( wal / (txns * ipt) )) WAL B/intent$( [ "$v" = staged ] && echo ", tail of $prows rows promoted in ${promote_s}s (pgbench $ptps tps)")"
      done
    done
  done
done

# Sanity: what the candidates appended is really there (and staged rows get promoted).
psql -XAtc "SELECT 'rows: durable=' || (SELECT count(*) FROM intentlog_data.bench_durable)
            || ' staged=' || (SELECT count(*) FROM intentlog_data.bench_staged)
            || ' staged_unpromoted=' || bench_hot_rows('bench_staged')
            || ' outbox=' || (SELECT count(*) FROM outbox)
            || ' outbox_unlogged=' || (SELECT count(*) FROM outbox_unlogged)" >>"$OUT/machine.txt"
# Bytes per row over everything the run wrote (the per-run growth in the
# report is lumpy: under contention PostgreSQL extends a heap by many pages).
psql -XAtc "SELECT 'bytes per row at the end (heap / all indexes / xid index): ' || string_agg(format('%s %s / %s / %s', v,
                   round(heap::numeric / nullif(rows, 0)), round(idx::numeric / nullif(rows, 0)),
                   round(idx_xid::numeric / nullif(rows, 0))), ', ')
              FROM (VALUES ('durable', (SELECT count(*) FROM intentlog_data.bench_durable)),
                           ('staged', (SELECT count(*) FROM intentlog_data.bench_staged)),
                           ('plain', (SELECT count(*) FROM outbox)),
                           ('unlogged', (SELECT count(*) FROM outbox_unlogged))) AS t(v, rows),
                   LATERAL bench_sizes(v) WHERE rows > 0" >>"$OUT/machine.txt"

echo "elapsed=$((SECONDS / 60)) min $((SECONDS % 60)) s" >>"$OUT/machine.txt"
python3 "$HERE/report.py" "$OUT/results.tsv" "$OUT/machine.txt" | tee "$OUT/report.md"
