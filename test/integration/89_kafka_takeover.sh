#!/usr/bin/env bash
# Two publishing workers split a domain's partitions through the leases (each
# publishes only its own); kill -9 of one: the other takes its partitions over
# when the leases expire and resumes from the SQL cursors. Nothing is lost,
# first occurrences per key are in order, duplicates bounded.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/kafka.sh"

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 8)" >/dev/null
start_kafka --topic intentlog.orders:8
KAFKA=(--kafka-brokers "$KAFKA_BROKERS" --kafka-domains orders --lease-ttl-ms 1500 --buffer-events 200 --max-in-flight 100)
start_worker w1 "${KAFKA[@]}"
W1=$WORKER_PID
start_worker w2 "${KAFKA[@]}"

for _ in $(seq 100); do
  [ "$(q -c "SELECT count(DISTINCT worker_id) FROM intentlog.leases WHERE group_name = 'kafka' AND expires_at > now()")" = 2 ] \
    && [ "$(q -c "SELECT count(*) FROM intentlog.leases WHERE group_name = 'kafka' AND worker_id = 'w1' AND expires_at > now()")" = 4 ] && break
  sleep 0.1
done
[ "$(q -c "SELECT count(*) FROM intentlog.leases WHERE group_name = 'kafka' AND worker_id = 'w1' AND expires_at > now()")" = 4 ] \
  || fail "the workers did not split the partitions: $(q -c "SELECT worker_id, partition FROM intentlog.leases")"
# Appended once the split is settled: a partition handed over mid-stream is
# published again from its cursor (at least once), which --strict would count.
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'o-' || (i % 64), 'set') FROM generate_series(1, 400) i) s" >/dev/null
kafka_expect orders "$SCRATCH/expected" 20 --strict || fail "two workers did not publish everything once"

q -c "DO \$\$ BEGIN
        FOR i IN 401..2400 LOOP
          PERFORM intentlog.intent_append('orders', 'o-' || (i % 64), 'set', convert_to(i::text, 'UTF8'));
          COMMIT;
          IF i % 100 = 0 THEN PERFORM pg_sleep(0.05); END IF;
        END LOOP;
      END \$\$" &
PRODUCER=$!
PIDS+=("$PRODUCER")
sleep 0.5
kill -9 "$W1"
wait "$PRODUCER" || fail "producer failed"
kafka_expect orders "$SCRATCH/expected" 30 --max-duplicates 800 --report "$SCRATCH/report.json" \
  || fail "w2 did not take w1's partitions over without loss"
[ "$(q -c "SELECT count(*) FROM intentlog.leases WHERE group_name = 'kafka' AND worker_id = 'w2' AND expires_at > now()")" = 8 ] \
  || fail "w2 does not hold every partition: $(q -c "SELECT worker_id, partition, expires_at FROM intentlog.leases")"
echo "PASS: two publishing workers split 8 partitions; after kill -9 of one the other took over: $(cat "$SCRATCH/report.json")"
