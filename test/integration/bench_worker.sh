#!/usr/bin/env bash
# Worker figures (not part of CI: run by hand, on an otherwise idle machine).
#   1. commit -> consumer receipt latency (p50/p99/p999) at a steady offered
#      rate, and at the highest rate the producers sustain;
#   2. drain rate of a 1M-intent backlog by one consumer, vs the rate at which
#      the same backlog was appended;
#   3. worker peak RSS while a slow consumer works through that backlog.
# Same environment as the integration tests (PGHOST..., BUILD_DIR).
#   RATE=2000 SECS=10 BACKLOG=1000000 test/integration/bench_worker.sh
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
source "$(dirname "$0")/lib/common.sh"
RATE=${RATE:-2000}
SECS=${SECS:-10}
BACKLOG=${BACKLOG:-1000000}
CLIENTS=${CLIENTS:-4}

make_db
q -c "SELECT intentlog.create_domain('lat', partitions => 16)" \
  -c "SELECT intentlog.create_domain('big', partitions => 16)" >/dev/null
start_worker w1
W=$WORKER_PID
cat >"$SCRATCH/append.sql" <<'SQL'
\set k random(1, 10000)
SELECT intentlog.intent_append('lat', 'k' || :k, 'set', convert_to((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 'UTF8'));
SQL

latency_run() {  # latency_run LABEL [pgbench rate options]
  local label=$1; shift
  "$TAIL_BIN" --connect "$(sock w1)" --group "lat$label" --domain lat --from latest --credit 10000 --idle-exit-ms 5000 2>/dev/null \
    | $PY "$LIB_DIR/latency.py" 1 $((SECS - 2)) >"$SCRATCH/lat-$label" &
  local reader=$!
  sleep 1
  pgbench -n -c "$CLIENTS" -j 2 -T "$SECS" "$@" -f "$SCRATCH/append.sql" >"$SCRATCH/pgbench-$label" 2>&1 \
    || fail "pgbench: $(tail -3 "$SCRATCH/pgbench-$label")"
  wait "$reader" 2>/dev/null || true
  echo "  $label: $(cat "$SCRATCH/lat-$label")   (pgbench: $(grep -o 'tps = [0-9.]*' "$SCRATCH/pgbench-$label" | head -1))"
}
echo "== commit -> receipt latency ($CLIENTS producer connections, one consumer)"
latency_run "steady${RATE}" -R "$RATE"
latency_run "max"

echo "== backlog of $BACKLOG intents"
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
append_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  appended in $append_ms ms: $(( BACKLOG * 1000 / append_ms )) intents/s (intent_append_batch, 10000 per call)"

rss() { awk '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {print "rss=" r "kB peak=" h "kB"}' "/proc/$W/status"; }
echo "  worker before draining: $(rss)"
start=$(date +%s%N)
"$TAIL_BIN" --connect "$(sock w1)" --group drain --domain big --limit "$BACKLOG" --credit 10000 >/dev/null 2>&1
drain_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "  drained by one consumer (intentlog-tail, JSON to /dev/null) in $drain_ms ms: $(( BACKLOG * 1000 / drain_ms )) events/s"
echo "  worker after the drain: $(rss)"

echo "== slow consumer (1 ms per event) on the same backlog for 20 s"
start_tail /dev/null --connect "$(sock w1)" --group slow --domain big --credit 10000 --slow-ms 1
for i in 1 2 3 4; do sleep 5; echo "  after $((i * 5)) s: $(rss)"; done
