#!/usr/bin/env bash
# Python consumer throughput (issue 15): events/s one Python consumer
# (clients/python, bench/py_drain.py: read every event, ack each, acks batched
# by the client; its process start included) drains from a backlog, next to
# intentlog-tail (JSON lines to /dev/null, acks per Batch) on the same backlog,
# same worker, same run. Each round drains the whole backlog once with each
# client, as a new consumer group (so each reads it from the start), in
# alternating order; reports each run's events/s and the client's own CPU
# time per event (user + sys, /usr/bin/time: Debian package `time`), the
# medians and the ratios python / tail, with the load average.
#
#   bench/python_consumer.sh [--rounds N] [--backlog N] [--credit N] [--no-build]
#
# Starts a throwaway cluster of its own (scripts/pg.sh under
# /tmp/intentlog-bench-py.$UID), needs intentlog-worker and intentlog-tail in
# $BUILD_DIR (default build/, `make programs`); --no-build: use the extension
# already installed under $INTENTLOG_RUNDIR.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 BACKLOG=1000000 CREDIT=10000 BUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --backlog) BACKLOG=$2; shift 2 ;;
    --credit) CREDIT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
  esac
done
export INTENTLOG_RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-bench-py.$(id -u)}
source "$HERE/bench/lib.sh"
bench_cluster pybench "$BUILD" $((900 + ROUNDS * 300))

make_db
q -c "SELECT intentlog.create_domain('big', partitions => 16)" >/dev/null
start=$(date +%s%N)
q -c "DO \$\$ BEGIN
        FOR b IN 1..($BACKLOG / 10000) LOOP
          PERFORM intentlog.intent_append_batch('big',
            (SELECT array_agg('key-' || ((b * 10000 + i) % 5000)) FROM generate_series(1, 10000) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 10000) i),
            (SELECT array_agg(convert_to(repeat('x', 50) || i, 'UTF8')) FROM generate_series(1, 10000) i));
          COMMIT;
        END LOOP;
      END \$\$"
echo "backlog: $BACKLOG intents (5000 keys, 16 partitions, ~55-byte payloads) appended in $(( ($(date +%s%N) - start) / 1000000 )) ms"
q -c "VACUUM ANALYZE" >/dev/null
start_worker w1
echo "worker: $(git -C "$HERE" rev-parse --short HEAD), python: $($PY --version 2>&1), protobuf $($PY -c 'import google.protobuf as p; from google.protobuf.internal import api_implementation as a; print(p.__version__, a.Type())')"

# run LOGFILE COMMAND...: prints "events/s cpu_us_per_event" of one drain;
# stops the benchmark if the client failed (a drain cut short is no figure).
run() {
  local log=$1 t0 t1; shift
  t0=$(date +%s%N)
  if ! /usr/bin/time -o "$SCRATCH/time" -f "%U %S" "$@" >"${OUT:-/dev/null}" 2>"$log"; then
    echo "FAILED: $* (see $log)" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  echo "$(( BACKLOG * 1000000000 / (t1 - t0) )) $(awk -v n="$BACKLOG" '{printf "%.1f", ($1 + $2) * 1e6 / n}' "$SCRATCH/time")"
}
run_tail() { run "$SCRATCH/tail.err" "$TAIL_BIN" --connect "$(sock w1)" --group "$1" --domain big --limit "$BACKLOG" --credit "$CREDIT"; }
run_py() {
  OUT="$SCRATCH/py.out" run "$SCRATCH/py.err" "$PY" "$HERE/bench/py_drain.py" "$(sock w1)" "$1" big "$BACKLOG" "$CREDIT"
  read -r got _ <"$SCRATCH/py.out"
  [ "$got" = "$BACKLOG" ] || { echo "FAILED: the Python consumer read $got of $BACKLOG events" >&2; exit 1; }
}
TAILS=() PYS=() TCPU=() PCPU=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    t=$(run_tail "tail$r"); p=$(run_py "py$r")
  else
    p=$(run_py "py$r"); t=$(run_tail "tail$r")
  fi
  [ -n "$t" ] && [ -n "$p" ] || exit 1  # a drain failed (said above)
  TAILS+=("${t% *}") PYS+=("${p% *}") TCPU+=("${t#* }") PCPU+=("${p#* }")
  echo "round $r: intentlog-tail ${t% *} events/s (${t#* } us CPU/event), python ${p% *} events/s (${p#* } us CPU/event)," \
    "ratio $(awk -v a="${p% *}" -v b="${t% *}" 'BEGIN{printf "%.2f", a/b}'), load $(cut -d' ' -f1-3 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mt=$(median "${TAILS[@]}") mp=$(median "${PYS[@]}") ct=$(median "${TCPU[@]}") cp=$(median "${PCPU[@]}")
echo "median of $ROUNDS rounds: intentlog-tail $mt events/s ($ct us CPU/event), python $mp events/s ($cp us CPU/event);" \
  "python / tail: $(awk -v a="$mp" -v b="$mt" 'BEGIN{printf "%.2f", a/b}') in events/s, $(awk -v a="$cp" -v b="$ct" 'BEGIN{printf "%.1f", a/b}')x the CPU per event"
echo "python client CPU alone would allow $(awk -v c="$cp" 'BEGIN{printf "%.0f", 1e6/c}') events per CPU-second"
