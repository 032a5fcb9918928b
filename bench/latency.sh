#!/usr/bin/env bash
# End-to-end latency across offered rates (issue 6): commit -> consumer receipt
# percentiles of a durable domain, one intent per transaction, 4 pgbench
# clients, one intentlog-worker and one intentlog-tail consumer.
#   1. the highest sustained rate: unthrottled pgbench for --max-secs, the
#      consumer reading along; sustained = min(append rate, receipt rate);
#   2. pgbench -R at each offered rate (--percents of that maximum, or
#      absolute --rates) for --secs: achieved rate and p50, p90, p99, p99.9,
#      max of the latency, the first second of events discarded (warm-up).
# Prints a Markdown table and the verdicts of the goals (p99 < 50 ms at 50% of
# the highest sustained rate, < 1 s at 100%), writes OUT/STAMP-latency.tsv,
# .md (the printed report) and .png (gnuplot; skipped if gnuplot is missing).
#
#   bench/latency.sh [--quick] [--secs S] [--max-secs S] [--percents "10 25 50 75 90 100"]
#                    [--rates "R1 R2 ..."] [--max R] [--clients C] [--out DIR] [--no-build] [--async]
#
# --quick: --secs 5 --max-secs 4 --percents "25 50 100", output to bench/out/.
# --max R: skip step 1 and take R as the highest sustained rate.
# Starts a throwaway cluster of its own (scripts/pg.sh under
# $INTENTLOG_RUNDIR, default /tmp/intentlog-bench-latency.$UID, this tree's
# extension installed) and removes it on exit; needs intentlog-worker and
# intentlog-tail in $BUILD_DIR (default build/, `make programs`). --no-build:
# use what is already built and installed under $INTENTLOG_RUNDIR. --async: the
# producers commit with synchronous_commit = off (the worker then waits for
# the WAL flush of what it fetches: README, "Only what a crash cannot erase").
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*"
SECS=20 MAX_SECS=8 PERCENTS="10 25 50 75 90 100" RATES="" MAX="" CLIENTS=4 OUT="" BUILD=1 QUICK=0 COMMIT=synchronous
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; SECS=5; MAX_SECS=4; PERCENTS="25 50 100"; shift ;;
    --secs) SECS=$2; shift 2 ;;
    --max-secs) MAX_SECS=$2; shift 2 ;;
    --percents) PERCENTS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --max) MAX=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --async) COMMIT=asynchronous; shift ;;
    *) sed -n '2,27p' "$0"; exit 2 ;;
  esac
done
[ "$SECS" -ge 3 ] && [ "$MAX_SECS" -ge 3 ] || { echo "--secs and --max-secs must be >= 3" >&2; exit 2; }
if [ -z "$OUT" ]; then
  if [ $QUICK = 1 ]; then OUT=$HERE/bench/out; else OUT=$HERE/bench/results; fi
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M)
TSV=$OUT/$STAMP-latency.tsv MD=$OUT/$STAMP-latency.md PNG=$OUT/$STAMP-latency.png

export INTENTLOG_RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-bench-latency.$(id -u)}
NRUNS=$(( $(wc -w <<<"${RATES:-$PERCENTS}") ))
source "$HERE/bench/lib.sh"
bench_cluster latency "$BUILD" $((300 + MAX_SECS + 60 + NRUNS * (SECS + 60)))
STATS="$PY $HERE/bench/latency_stats.py"

make_db
q -c "SELECT intentlog.create_domain('lat', partitions => 16)" >/dev/null  # durable
start_worker w1
# safe.directory: only reading the commit of a tree another user may own.
git_here() { git -C "$HERE" -c safe.directory="$HERE" "$@" 2>/dev/null; }
BUILD_ID=$(git_here rev-parse --short HEAD) || BUILD_ID=unknown
[ -z "$(git_here status --porcelain -- src sql proto)" ] || BUILD_ID="$BUILD_ID+uncommitted"

# The producer's clock inside the appending statement is the payload.
cat >"$SCRATCH/append.sql" <<'SQL'
\set k random(1, 10000)
SELECT intentlog.intent_append('lat', 'k' || :k, 'set', convert_to((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 'UTF8'));
SQL

printf 'kind\toffered_pct\toffered\tachieved\treceived\tn\tp50_ms\tp90_ms\tp99_ms\tp999_ms\tmax_ms\tsched_lag_avg_ms\tsched_lag_max_ms\tlost\tload1\n' >"$TSV"

# measure LABEL [pgbench rate options]: one pgbench run with a fresh consumer
# group reading along from the latest position; sets M_* from its figures.
measure() {
  local label=$1; shift
  local raw="$SCRATCH/raw-$label" fifo="$SCRATCH/fifo-$label" log="$SCRATCH/pgbench-$label" tail_pid stamp_pid appended
  mkfifo "$fifo"
  $STATS stamp <"$fifo" >"$raw" &
  stamp_pid=$!
  PIDS+=("$stamp_pid")
  "$TAIL_BIN" --connect "$(sock w1)" --group "lat-$label" --domain lat --from latest --credit 10000 \
    >"$fifo" 2>"$SCRATCH/tail-$label.err" &
  tail_pid=$!
  PIDS+=("$tail_pid")
  for _ in $(seq 100); do grep -qs connected "$SCRATCH/tail-$label.err" && break; sleep 0.1; done
  q -c "CHECKPOINT"  # every run starts from the same WAL state (full-page writes included)
  sleep 1            # the group's position is taken before the first append
  M_LOAD=$(cut -d' ' -f1 /proc/loadavg)
  PGOPTIONS="-c synchronous_commit=$([ $COMMIT = asynchronous ] && echo off || echo on)" \
    pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS_RUN" "$@" -f "$SCRATCH/append.sql" >"$log" 2>&1 \
    || fail "pgbench: $(tail -3 "$log")"
  appended=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
  # Until the consumer has printed every intent the run appended (or 60 s).
  for _ in $(seq 600); do [ "$(wc -l <"$raw")" -ge "$appended" ] && break; sleep 0.1; done
  kill "$tail_pid" 2>/dev/null || true
  wait "$tail_pid" 2>/dev/null || true
  wait "$stamp_pid" 2>/dev/null || true
  read -r M_TOTAL M_N M_P50 M_P90 M_P99 M_P999 M_MAX _ M_RECV <<<"$($STATS summary "$raw" 1)"
  M_TPS=$(sed -n 's/^tps = \([0-9]*\)\..*/\1/p' "$log" | head -1)
  M_LAG_AVG=$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) .*/\1/p' "$log")
  M_LAG_MAX=$(sed -n 's/^rate limit schedule lag: .*(max \([0-9.]*\)).*/\1/p' "$log")
  M_LOST=$((appended - M_TOTAL))
  [ "$M_LOST" -ge 0 ] || M_LOST=0  # redelivered duplicates are not losses
}

row() {  # row KIND PCT OFFERED
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$M_TPS" "$M_RECV" "$M_N" \
    "$M_P50" "$M_P90" "$M_P99" "$M_P999" "$M_MAX" "${M_LAG_AVG:--}" "${M_LAG_MAX:--}" "$M_LOST" "$M_LOAD" >>"$TSV"
}

{
  echo "bench/latency.sh $ARGS"
  echo "build $BUILD_ID, $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB, load $(cut -d' ' -f1-3 /proc/loadavg) at start;" \
    "durable domain, 16 partitions, pgbench -M prepared -c $CLIENTS -j 2, one intent_append per transaction ($COMMIT commit)," \
    "one intentlog-worker, one intentlog-tail (JSON) consumer; warm-up second discarded"
} >"$MD.tmp"

if [ -z "$MAX" ]; then
  echo "== highest sustained rate: unthrottled for ${MAX_SECS}s" >&2
  SECS_RUN=$MAX_SECS
  measure max
  row unthrottled - -
  MAX=$(( M_TPS < M_RECV ? M_TPS : M_RECV ))
  echo "   appended $M_TPS/s, received $M_RECV/s (p99 $M_P99 ms, $M_LOST not received): highest sustained rate $MAX/s" >&2
  [ "$M_RECV" -ge $((M_TPS * 95 / 100)) ] || echo "   the consumer did not keep up: the maximum is its receipt rate" >&2
fi
[ "$MAX" -gt 0 ] || fail "highest sustained rate is 0"

SECS_RUN=$SECS
if [ -n "$RATES" ]; then
  runs=$RATES
else
  runs=$(for p in $PERCENTS; do echo $(( (MAX * p + 50) / 100 )); done)
fi
for r in $runs; do
  pct=$(( (r * 100 + MAX / 2) / MAX ))
  echo "== offered $r/s ($pct% of $MAX/s) for ${SECS}s" >&2
  measure "r$r" -R "$r"
  row rate "$pct" "$r"
  echo "   achieved $M_TPS/s, p50 $M_P50 p99 $M_P99 p99.9 $M_P999 max $M_MAX ms (n=$M_N, lost $M_LOST, load $M_LOAD)" >&2
done

LOADS="load $(cut -d' ' -f1-3 /proc/loadavg) at end"
{
  cat "$MD.tmp"
  echo "highest sustained rate: $MAX/s; $LOADS"
  echo
  $STATS report "$TSV" "$MAX"
} >"$MD"
rm -f "$MD.tmp"
cat "$MD"
echo
echo "data: $TSV"
echo "report: $MD"
if command -v gnuplot >/dev/null; then
  sub="build $BUILD_ID · $(nproc) cores · durable domain · pgbench -c $CLIENTS · ${SECS}s per rate · max sustained $MAX/s · $LOADS"
  if gnuplot -e "data='$TSV'; out='$PNG'; maxrate=$MAX; subtitle='$sub'" "$HERE/bench/latency.gp" 2>"$SCRATCH/gnuplot.err"; then
    echo "plot: $PNG"
  else
    echo "plot skipped: gnuplot failed: $(head -3 "$SCRATCH/gnuplot.err")"
  fi
else
  echo "plot skipped: gnuplot is not installed (Debian package gnuplot-nox, scripts/install-deps.sh)"
fi
