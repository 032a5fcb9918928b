#!/usr/bin/env bash
# Poison key benchmark (issue 4): what one key nacked forever costs the other
# keys. Each round measures, back to back on the same cluster, with and
# without a poison key:
#   latency  commit -> receipt p50/p99 of 50 keys' intents at a steady offered
#            rate (pgbench -R), the consumer acking everything except, in the
#            "poison" run, the key `poison` (2% of the intents), which it nacks
#            forever (max_attempts is set high enough that it never dies);
#   drain    events/s at which one consumer drains a backlog of 50 keys'
#            intents, the poison run's backlog with 2% poison intents among them.
# Reports each round's figures and the ratios poison / clean (goal of the
# issue: within 10%, i.e. throughput ratio >= 0.9, p99 ratio <= 1.1).
#
#   bench/poison_key.sh [--rounds N] [--secs S] [--rate R] [--backlog N] [--no-build]
#
# Starts a throwaway cluster of its own (scripts/pg.sh under
# /tmp/intentlog-bench-poison.$UID, this tree's extension installed), needs
# intentlog-worker and intentlog-tail in $BUILD_DIR (default build/, `make
# programs`), and removes the cluster on exit. --no-build: use the extension
# already installed under $INTENTLOG_RUNDIR (no make, no pg.sh install).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 SECS=10 RATE=1000 BACKLOG=100000 BUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --backlog) BACKLOG=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
export INTENTLOG_RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-bench-poison.$(id -u)}
source "$HERE/bench/lib.sh"
bench_cluster poison "$BUILD" $((600 + ROUNDS * (4 * SECS + 120)))

make_db
q -c "SELECT intentlog.create_domain('lat', partitions => 16, max_attempts => 1000)" \
  -c "SELECT intentlog.create_domain('drain', partitions => 16, max_attempts => 1000)" \
  -c "UPDATE intentlog.domains SET base_backoff = '100 ms', max_backoff = '1 second'" >/dev/null
start_worker w1
echo "build $(cd "$HERE" && git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Producers: the clock inside the appending transaction is the payload.
clock="convert_to((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 'UTF8')"
cat >"$SCRATCH/clean.sql" <<SQL
\\set k random(1, 50)
SELECT intentlog.intent_append('lat', 'k' || :k, 'set', $clock);
SQL
cat >"$SCRATCH/poison.sql" <<SQL
\\set k random(1, 50)
\\set p random(1, 50)
SELECT intentlog.intent_append('lat', CASE WHEN :p = 1 THEN 'poison' ELSE 'k' || :k END, 'set', $clock);
SQL

latency_run() {  # latency_run VARIANT ROUND -> "p50 p99 rate"
  local v=$1 r=$2 fail=() reader
  [ "$v" = poison ] && fail=(--fail-key poison)
  # The reader is stopped by hand: with a poison key it is never idle.
  "$TAIL_BIN" --connect "$(sock w1)" --group "lat-$v-$r" --domain lat --from latest --credit 10000 "${fail[@]}" \
    2>/dev/null > >($PY "$LIB_DIR/latency.py" 1 $((SECS - 2)) >"$SCRATCH/lat-$v-$r") &
  reader=$!
  sleep 1
  pgbench -n -c 4 -j 2 -T "$SECS" -R "$RATE" -f "$SCRATCH/$v.sql" >"$SCRATCH/pgbench-$v-$r" 2>&1 \
    || fail "pgbench: $(tail -3 "$SCRATCH/pgbench-$v-$r")"
  sleep 2
  kill "$reader" 2>/dev/null || true
  wait "$reader" 2>/dev/null || true
  for _ in $(seq 100); do [ -s "$SCRATCH/lat-$v-$r" ] && break; sleep 0.1; done
  sed -E 's/.*p50=([0-9.]+)ms p99=([0-9.]+)ms.*rate=([0-9]+).*/\1 \2 \3/' "$SCRATCH/lat-$v-$r"
}

# A backlog per variant: BACKLOG intents of 50 keys (+2% poison in the poison one).
q -c "DO \$\$ BEGIN
        FOR b IN 1..greatest(1, $BACKLOG / 10000) LOOP
          PERFORM intentlog.intent_append_batch('drain',
            (SELECT array_agg('k' || (i % 50)) FROM generate_series(1, 10000) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 10000) i),
            (SELECT array_agg(convert_to(repeat('x', 40) || i, 'UTF8')) FROM generate_series(1, 10000) i));
          PERFORM intentlog.intent_append_batch('drain',
            (SELECT array_agg('poison'::text) FROM generate_series(1, 200) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 200) i));
          COMMIT;
        END LOOP;
      END \$\$"
OTHERS=$(q -c "SELECT count(*) FROM intentlog_data.drain WHERE key <> 'poison'")
ALL=$(q -c "SELECT count(*) FROM intentlog_data.drain")
drain_run() {  # drain_run VARIANT ROUND -> events/s of the other keys
  local v=$1 r=$2 args=(--limit "$ALL")
  [ "$v" = poison ] && args=(--limit "$OTHERS" --fail-key poison)  # poison intents are nacked, not printed
  "$TAIL_BIN" --connect "$(sock w1)" --group "drain-$v-$r" --domain drain --from earliest --credit 10000 \
    "${args[@]}" 2>/dev/null | $PY -c "
import sys, time
n, t0, t1 = 0, None, None
for line in sys.stdin:
    t1 = time.time()
    t0 = t0 or t1
    if '\"key\":\"poison\"' not in line: n += 1
print('%.0f' % (n / max(1e-9, t1 - t0)))"
}

printf "%-6s %-7s %10s %10s %12s %14s\n" round variant "p50 ms" "p99 ms" "recv/s" "drain ev/s"
declare -a P99R DRAINR
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="clean poison"; else order="poison clean"; fi
  declare -A lat drain
  for v in $order; do
    lat[$v]=$(latency_run $v $r)
    drain[$v]=$(drain_run $v $r)
    read -r p50 p99 rate <<<"${lat[$v]}"
    printf "%-6s %-7s %10s %10s %12s %14s\n" "$r" "$v" "$p50" "$p99" "$rate" "${drain[$v]}"
  done
  read -r _ p99c _ <<<"${lat[clean]}"
  read -r _ p99p _ <<<"${lat[poison]}"
  P99R+=("$($PY -c "print('%.3f' % ($p99p / $p99c))")")
  DRAINR+=("$($PY -c "print('%.3f' % (${drain[poison]} / ${drain[clean]}))")")
  unset lat drain
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
echo "p99 latency ratio poison/clean per round: ${P99R[*]}  median $(med "${P99R[@]}")  (goal <= 1.10)"
echo "drain throughput ratio poison/clean per round: ${DRAINR[*]}  median $(med "${DRAINR[@]}")  (goal >= 0.90)"
q -c "SELECT group_name, retries, parked, dead_letters FROM intentlog.delivery_backlog ORDER BY 1" | sed 's/^/  backlog left: /'
