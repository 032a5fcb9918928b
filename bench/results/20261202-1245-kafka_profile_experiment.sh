#!/usr/bin/env bash
# Experiment: where the Kafka publisher's CPU goes while it drains a backlog
# (perf record attached to the worker), next to the socket worker's.
set -euo pipefail
HERE=/work/main
BACKLOG=${BACKLOG:-1000000}
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
kafka_ctl topic p.big 16
start_worker k --kafka-brokers "$KAFKA_BROKERS" --kafka-domains big --kafka-group kp --kafka-topic "p.<domain>" ${EXTRA:-}
perf record -F 1999 -g -p "$WORKER_PID" -o /tmp/kprof/kafka.data -- sleep 6 2>/dev/null
ps -L -o tid,comm,time -p "$WORKER_PID"
ps -o pid,comm,time -p "$KAFKA_PID"
kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
start_worker s
"$TAIL_BIN" --connect "$(sock s)" --group sp --domain big --limit "$BACKLOG" --credit 10000 >/dev/null 2>&1 &
sleep 0.5
perf record -F 1999 -g -p "$WORKER_PID" -o /tmp/kprof/socket.data -- sleep 3 2>/dev/null
ps -L -o tid,comm,time -p "$WORKER_PID"
