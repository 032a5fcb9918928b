#!/usr/bin/env bash
# Experiment: Kafka and socket drains, worker of main (base) against the record reuse (new), alternating.
set -euo pipefail
HERE=/work/main
BACKLOG=${BACKLOG:-500000}
ROUNDS=${ROUNDS:-3}
export INTENTLOG_RUNDIR=/tmp/intentlog-bench-kafka.$(id -u)
source "$HERE/bench/lib.sh"
bench_cluster kafka 0 3000
source "$HERE/test/integration/lib/kafka.sh"
make_db
q -c "SELECT intentlog.create_domain('big', partitions => 16)" >/dev/null
start_kafka
q -c "DO \$\$ BEGIN
        FOR b IN 1..($BACKLOG / 10000) LOOP
          PERFORM intentlog.intent_append_batch('big',
            (SELECT array_agg('key-' || ((b * 10000 + i) % 5000)) FROM generate_series(1, 10000) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 10000) i),
            (SELECT array_agg(convert_to(repeat('x', 50) || i, 'UTF8')) FROM generate_series(1, 10000) i));
          COMMIT;
        END LOOP;
      END \$\$"
q -c "VACUUM ANALYZE" >/dev/null
REAL=$BUILD_DIR/intentlog-worker
cp /work/main/build/intentlog-worker "$SCRATCH/w-base"; cp /work/wt-14b/build/intentlog-worker "$SCRATCH/w-new"
drained() { [ "$(q -c "SELECT count(*) FILTER (WHERE seq_lag = 0) FROM intentlog.lag WHERE group_name = '$1' AND domain = 'big'")" = 16 ]; }
n=0
for r in $(seq "$ROUNDS"); do
  for v in base new; do
    n=$((n + 1))
    WORKER_BIN="$SCRATCH/w-$v"
    kafka_ctl topic "t$n.big" 16
    start_worker "k$n" --kafka-brokers "$KAFKA_BROKERS" --kafka-domains big --kafka-group "kg$n" --kafka-topic "t$n.<domain>"
    t0=$(date +%s%N)
    until drained "kg$n"; do sleep 0.05; done
    t1=$(date +%s%N)
    cpu=$(awk '{print $14 + $15}' "/proc/$WORKER_PID/stat")
    kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
    start_worker "s$n"
    t2=$(date +%s%N)
    "$TAIL_BIN" --connect "$(sock "s$n")" --group "sg$n" --domain big --limit "$BACKLOG" --credit 10000 >/dev/null
    t3=$(date +%s%N)
    scpu=$(awk '{print $14 + $15}' "/proc/$WORKER_PID/stat")
    kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
    echo "round $r $v: kafka $((BACKLOG * 1000000000 / (t1 - t0)))/s worker ${cpu} ticks; socket $((BACKLOG * 1000000000 / (t3 - t2)))/s worker ${scpu} ticks; load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
