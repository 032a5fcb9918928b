#!/usr/bin/env bash
# Append throughput of this tree's extension against a base commit's, same
# run, alternating (the order swaps every round), several short rounds; the
# medians of the per-round ratios new/base. For changes on the append path
# (the shared-memory append counters of intentlog.metrics()).
#
#   bench/append_ab.sh [--base REV] [--rounds N] [--secs S] [--clients "1 8"] [--async]
#
# Each measurement: a throwaway cluster of the build (intentlog in
# shared_preload_libraries, as scripts/pg.sh starts it), a 16-partition
# domain, 1 s of unmeasured load, then pgbench -n -M prepared -T S of
# single-intent appends with random keys, C clients; transactions per second.
# --async: the clients commit with synchronous_commit = off, so the figure is
# the append path's CPU rather than the WAL flush (on a shared machine the
# flush varies several-fold from round to round).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BASE=main ROUNDS=5 SECS=5 CLIENTS="1 8" SYNC=on
while [ $# -gt 0 ]; do
  case $1 in
    --base) BASE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --async) SYNC=off; shift ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
PY=$(command -v /usr/bin/python3 || command -v python3)
WORK=$(mktemp -d /tmp/intentlog-append-ab.XXXXXX)
RUN=${INTENTLOG_RUNDIR:-/tmp/intentlog-run}
RUN_NEW=$RUN-append-ab-new
RUN_BASE=$RUN-append-ab-base
trap 'rm -rf "$WORK"' EXIT

echo "== building $(git -C "$HERE" rev-parse --short HEAD) and $BASE ($(git -C "$HERE" rev-parse --short "$BASE"))" >&2
(cd "$HERE" && make -s >/dev/null && INTENTLOG_RUNDIR=$RUN_NEW scripts/pg.sh install >/dev/null)
mkdir "$WORK/base"
git -C "$HERE" archive "$BASE" | tar -x -C "$WORK/base"
(cd "$WORK/base" && make -s >/dev/null 2>&1 && INTENTLOG_RUNDIR=$RUN_BASE scripts/pg.sh install >/dev/null)
echo "SELECT intentlog.intent_append('d', 'k' || (random() * 100000)::int, 'op', '\x0102'::bytea);" >"$WORK/append.sql"

# tps BUILD CLIENTS
tps() {
  local cl=appendab-$$
  export INTENTLOG_RUNDIR
  if [ "$1" = new ]; then INTENTLOG_RUNDIR=$RUN_NEW; else INTENTLOG_RUNDIR=$RUN_BASE; fi
  "$HERE/scripts/pg.sh" start "$cl" >/dev/null
  (
    eval "$("$HERE/scripts/pg.sh" env "$cl")"
    psql -XAtq -c "CREATE EXTENSION intentlog" -c "SELECT intentlog.create_domain('d', partitions => 16)" >/dev/null
    export PGOPTIONS="-c synchronous_commit=$SYNC"
    pgbench -n -M prepared -c "$2" -j 2 -T 1 -f "$WORK/append.sql" >/dev/null 2>&1
    pgbench -n -M prepared -c "$2" -j 2 -T "$SECS" -f "$WORK/append.sql" 2>/dev/null |
      sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1
  ) >"$WORK/tps"
  "$HERE/scripts/pg.sh" stop "$cl" --rm >/dev/null 2>&1 || true
  cat "$WORK/tps"
}

echo "synchronous_commit=$SYNC, $SECS s per run, $(nproc) cores" >&2
printf 'round\tbuild\tclients\ttps\tload1\n' | tee "$WORK/all.tsv"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="base new"; else order="new base"; fi
  for c in $CLIENTS; do
    for build in $order; do
      t=$(tps "$build" "$c")
      printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$build" "$c" "$t" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$WORK/all.tsv"
    done
  done
done

$PY - "$WORK/all.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {(r["round"], r["build"], r["clients"]): float(r["tps"]) for r in rows}
rounds = sorted({r["round"] for r in rows}, key=int)
print("\n| clients | tps base (median) | tps new (median) | new/base, median of per-round ratios | per-round ratios |")
print("|---|---|---|---|---|")
for c in sorted({r["clients"] for r in rows}, key=int):
    ratios = [by[(r, "new", c)] / by[(r, "base", c)] for r in rounds]
    print(f"| {c} | {statistics.median(by[(r, 'base', c)] for r in rounds):.0f} | "
          f"{statistics.median(by[(r, 'new', c)] for r in rounds):.0f} | {statistics.median(ratios):.3f} | "
          + " ".join(f"{x:.3f}" for x in ratios) + " |")
loads = [float(r["load1"]) for r in rows]
print(f"load average (1 min): median {statistics.median(loads):.2f}, max {max(loads):.2f}")
PY
