#!/usr/bin/env bash
# kill -9 of a publishing worker mid-stream, the mock Kafka cluster living on,
# then a restart: nothing is lost; per key the first occurrences are in seq
# order; the duplicates (records published after the last cursor commit) are
# counted, recognisable by their id header and bounded by what the worker
# may hold unacknowledged (4 partitions x --buffer-events 200 here).
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/kafka.sh"

make_db
q -c "SELECT intentlog.create_domain('payments', partitions => 4)" >/dev/null
start_kafka --topic intentlog.payments:4
KAFKA=(--kafka-brokers "$KAFKA_BROKERS" --kafka-domains payments --buffer-events 200 --max-in-flight 100)
start_worker w1 "${KAFKA[@]}"

# A steady producer: 3000 transactions, every 11th rolled back.
q -c "DO \$\$ BEGIN
        FOR i IN 1..3000 LOOP
          PERFORM intentlog.intent_append('payments', 'acct-' || (i % 50), 'debit', convert_to(i::text, 'UTF8'));
          IF i % 11 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
          IF i % 100 = 0 THEN PERFORM pg_sleep(0.05); END IF;
        END LOOP;
      END \$\$" &
PRODUCER=$!
PIDS+=("$PRODUCER")

records() { kcat -C -b "$KAFKA_BROKERS" -t intentlog.payments -e -q -f '.\n' 2>/dev/null | wc -l; }
for _ in $(seq 100); do [ "$(records)" -ge 800 ] && break; sleep 0.1; done
before=$(records)
[ "$before" -ge 800 ] || fail "only $before records in Kafka before the crash"
kill -9 "$WORKER_PID"
echo "worker killed with $before records in Kafka"

start_worker w1 "${KAFKA[@]}"
wait "$PRODUCER" || fail "producer failed"
kafka_expect payments "$SCRATCH/expected" 30 --max-duplicates 800 --report "$SCRATCH/report.json" \
  || fail "not every committed intent reached Kafka after the restart, or too many duplicates"
[ "$(wc -l <"$SCRATCH/expected")" = $((3000 - 3000 / 11)) ] || fail "unexpected number of committed intents"
echo "PASS: kill -9 and restart of the publishing worker lost nothing: $(cat "$SCRATCH/report.json")"
