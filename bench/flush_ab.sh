#!/usr/bin/env bash
# What flushed delivery costs (README, "Only what a crash cannot erase"):
# this tree's extension against a base commit's (default v0.1, before fetch
# flushed the WAL), the same worker and consumer, alternating, in one run.
#
#   bench/flush_ab.sh [--base REV] [--rounds N] [--rate R] [--secs S]
#
# Per round, for each build (the order alternates) and each producer commit
# mode (synchronous, asynchronous):
#   - fetch cost: pgbench -T S of intentlog.fetch(500 rows from a fixed
#     cursor) on a 16-partition domain while 2 other clients append with that
#     commit mode; fetches per second;
#   - end-to-end latency: bench/latency.sh --rates R --secs S (4 producers,
#     one worker, one intentlog-tail): p50 and p99 commit -> receipt.
# Prints per-round figures, the medians of the per-round ratios new/base and
# the load average. Each measurement runs in a throwaway cluster of its own.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=v0.1 ROUNDS=3 RATE=1000 SECS=5
while [ $# -gt 0 ]; do
  case $1 in
    --base) BASE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
PY=$(command -v /usr/bin/python3 || command -v python3)
WORK=$(mktemp -d /tmp/intentlog-flush-ab.XXXXXX)
RUN_NEW=/tmp/intentlog-bench-flush-new.$(id -u)
RUN_BASE=/tmp/intentlog-bench-flush-base.$(id -u)
cleanup() {
  git -C "$HERE" worktree remove --force "$WORK/base" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building $(git -C "$HERE" rev-parse --short HEAD) and $BASE" >&2
(cd "$HERE" && make -s >/dev/null && make -s programs >/dev/null && INTENTLOG_RUNDIR=$RUN_NEW scripts/pg.sh install)
git -C "$HERE" worktree add -q --detach "$WORK/base" "$BASE"
(cd "$WORK/base" && make -s >/dev/null 2>&1 && INTENTLOG_RUNDIR=$RUN_BASE scripts/pg.sh install)
export BUILD_DIR=$HERE/build

rundir() { if [ "$1" = new ]; then echo "$RUN_NEW"; else echo "$RUN_BASE"; fi; }

# fetch_rate BUILD MODE: fetches/s while 2 clients append with MODE commits.
fetch_rate() {
  local build=$1 mode=$2 cl=flushab-$$ rate
  export INTENTLOG_RUNDIR; INTENTLOG_RUNDIR=$(rundir "$build")
  "$HERE/scripts/pg.sh" start "$cl" >/dev/null
  (
    eval "$("$HERE/scripts/pg.sh" env "$cl")"
    psql -XAtq -c "CREATE EXTENSION intentlog" -c "SELECT intentlog.create_domain('d', partitions => 16)" \
      -c "SELECT count(*) FROM (SELECT array_agg('k' || i) AS k, array_agg('op'::text) AS o,
                 array_agg('\x0102'::bytea) AS p FROM generate_series(1, 10000) i) s,
                 intentlog.intent_append_batch('d', s.k, s.o, s.p)" >/dev/null
    echo "SELECT count(*) FROM intentlog.fetch('g', 'd', 0, 500, '0');" >"$WORK/fetch.sql"
    echo "SELECT intentlog.intent_append('d', 'k' || random(), 'op', '\x0102'::bytea);" >"$WORK/append.sql"
    sync_opt=$([ "$mode" = async ] && echo off || echo on)
    PGOPTIONS="-c synchronous_commit=$sync_opt" pgbench -n -M prepared -c 2 -j 1 -T "$((SECS + 2))" \
      -f "$WORK/append.sql" >/dev/null 2>&1 &
    sleep 1
    pgbench -n -M prepared -c 1 -j 1 -T "$SECS" -f "$WORK/fetch.sql" 2>/dev/null \
      | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1
    wait
  ) >"$WORK/rate"
  "$HERE/scripts/pg.sh" stop "$cl" --rm >/dev/null 2>&1 || true
  cat "$WORK/rate"
}

# latency BUILD MODE: "p50 p99" in ms at RATE commits/s.
latency() {
  local build=$1 mode=$2 out=$WORK/lat-$1-$2 tsv
  rm -rf "$out"
  INTENTLOG_RUNDIR=$(rundir "$build") "$HERE/bench/latency.sh" --no-build --rates "$RATE" --secs "$SECS" \
    --out "$out" $([ "$mode" = async ] && echo --async) >"$out.log" 2>&1 || { tail -5 "$out.log" >&2; return 1; }
  tsv=$(ls "$out"/*-latency.tsv)
  awk -F'\t' 'NR == 2 { print $7, $9 }' "$tsv"
}

printf 'round\tbuild\tcommit\tfetch_per_s\tp50_ms\tp99_ms\tload1\n' >"$WORK/all.tsv"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for build in $order; do
    for mode in sync async; do
      f=$(fetch_rate "$build" "$mode")
      read -r p50 p99 <<<"$(latency "$build" "$mode")"
      load=$(cut -d' ' -f1 /proc/loadavg)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$build" "$mode" "$f" "$p50" "$p99" "$load" | tee -a "$WORK/all.tsv"
    done
  done
done

$PY - "$WORK/all.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {(r["round"], r["build"], r["commit"]): r for r in rows}
rounds = sorted({r["round"] for r in rows}, key=int)
print("\nmedians of per-round ratios new/base (fetch: higher is better; latency: lower is better)")
print("| commit | fetch/s new/base | p50 new/base | p99 new/base | p50 ms base -> new | p99 ms base -> new |")
print("|---|---|---|---|---|---|")
for mode in ("sync", "async"):
    def ratio(col):
        return statistics.median(float(by[(r, "new", mode)][col]) / float(by[(r, "base", mode)][col]) for r in rounds)
    def med(build, col):
        return statistics.median(float(by[(r, build, mode)][col]) for r in rounds)
    print(f"| {mode} | {ratio('fetch_per_s'):.3f} | {ratio('p50_ms'):.3f} | {ratio('p99_ms'):.3f} | "
          f"{med('base', 'p50_ms'):.1f} -> {med('new', 'p50_ms'):.1f} | {med('base', 'p99_ms'):.1f} -> {med('new', 'p99_ms'):.1f} |")
loads = [float(r["load1"]) for r in rows]
print(f"load average (1 min) during the run: median {statistics.median(loads):.1f}, max {max(loads):.1f}")
PY
