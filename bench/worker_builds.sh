#!/usr/bin/env bash
# Worker drain rate and CPU of two builds of intentlog-worker/intentlog-tail,
# same run, same cluster, same backlog, alternating (order swapped every
# round), several short rounds; medians. Not part of CI.
#   BASE=/path/to/base/build NEW=build ROUNDS=5 BACKLOG=300000 bench/worker_builds.sh
# Same environment as the integration tests (PGHOST..., a cluster with this
# tree's extension installed). Each round drains the whole backlog with a
# fresh consumer group (one intentlog-tail, JSON to /dev/null) through a
# freshly started worker of the build, and reads the CPU time (utime+stime,
# /proc/PID/stat) of the worker and of the cluster's backends over the drain
# ("fetch CPU": almost all of it is intentlog.fetch and commit_cursor).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
: "${BASE:?BASE must be the CMake build dir of the baseline}"
NEW=${NEW:-$HERE/build}
ROUNDS=${ROUNDS:-5}
BACKLOG=${BACKLOG:-300000}
export BUILD_DIR=$NEW TEST_TIMEOUT=${TEST_TIMEOUT:-1800}
source "$HERE/test/integration/lib/common.sh"
TCK=$(getconf CLK_TCK)

cpu_ms() {  # cpu_ms PID...: utime+stime summed, in ms (gone processes count 0)
  local t=0 p v
  for p in "$@"; do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    t=$((t + v))
  done
  echo $((t * 1000 / TCK))
}
backends() { pgrep -P "$(head -1 "$(q -c 'SHOW data_directory')/postmaster.pid")" | tr '\n' ' '; }

make_db
q -c "SELECT intentlog.create_domain('big', partitions => 16)" >/dev/null
q -c "DO \$\$ BEGIN
        FOR b IN 1..($BACKLOG / 10000) LOOP
          PERFORM intentlog.intent_append_batch('big',
            (SELECT array_agg('key-' || ((b * 10000 + i) % 5000)) FROM generate_series(1, 10000) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 10000) i),
            (SELECT array_agg(convert_to(repeat('x', 50) || i, 'UTF8')) FROM generate_series(1, 10000) i));
          COMMIT;
        END LOOP;
      END \$\$"
echo "backlog: $BACKLOG intents; base=$BASE new=$NEW; $(nproc) cores"

results=$SCRATCH/results
: >"$results"
drain() {  # drain LABEL BUILD ROUND
  local label=$1 build=$2 round=$3
  WORKER_BIN="$build/intentlog-worker" start_worker "w-$label-$round"
  local w=$WORKER_PID
  sleep 0.5
  local bs; bs=$(backends)
  local w0 b0 t0 t1 w1 b1
  w0=$(cpu_ms "$w"); b0=$(cpu_ms $bs); t0=$(date +%s%N)
  "$build/intentlog-tail" --connect "$(sock "w-$label-$round")" --group "drain_${label}_$round" --domain big \
    --from earliest --limit "$BACKLOG" --credit 10000 >/dev/null 2>&1 || fail "tail of $label failed"
  t1=$(date +%s%N); w1=$(cpu_ms "$w"); b1=$(cpu_ms $(backends))
  kill "$w"; wait "$w" 2>/dev/null || true
  local ms=$(( (t1 - t0) / 1000000 ))
  printf '%s\t%d\t%d\t%d\t%d\t%s\n' "$label" "$round" $((BACKLOG * 1000 / ms)) $((w1 - w0)) $((b1 - b0)) \
    "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$results"
}
printf 'build\tround\tevents/s\tworker_cpu_ms\tbackend_cpu_ms\tload1\n'
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then drain base "$BASE" "$r"; drain new "$NEW" "$r"
  else drain new "$NEW" "$r"; drain base "$BASE" "$r"; fi
done
$PY - "$results" <<'PY'
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().splitlines()]
med = {}
for b in ('base', 'new'):
    r = [x for x in rows if x[0] == b]
    med[b] = [statistics.median(float(x[i]) for x in r) for i in (2, 3, 4)]
    print(f"median {b}: {med[b][0]:.0f} events/s, worker cpu {med[b][1]:.0f} ms, backend cpu {med[b][2]:.0f} ms")
print("new/base: drain rate %.3f, worker cpu %.3f, backend cpu %.3f" %
      tuple(med['new'][i] / med['base'][i] for i in range(3)))
print("load1 median %.2f" % statistics.median(float(x[5]) for x in rows))
PY
