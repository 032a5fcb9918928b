#!/usr/bin/env bash
# Records Kafka refuses for good take the group's retry / dead-letter path in
# SQL while other keys flow: an intent over message.max.bytes (refused by the
# producer) becomes a dead letter of group kafka after max_attempts while every
# other key reaches Kafka; a worker restarted with
# a higher limit delivers it after intentlog.redrive. A Produce request the
# broker refuses once (TOPIC_AUTHORIZATION_FAILED) is a failed delivery that
# retries deliver once librdkafka's metadata shows the topic writable again.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/kafka.sh"

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4, max_attempts => 2)" \
  -c "UPDATE intentlog.domains SET base_backoff = '40 ms', max_backoff = '200 ms' WHERE name = 'orders'" >/dev/null
start_kafka --topic intentlog.orders:4
start_worker w1 --kafka-brokers "$KAFKA_BROKERS" --kafka-domains orders -X message.max.bytes=4000 --retry-poll-ms 20

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'k' || (i % 10), 'set') FROM generate_series(1, 50) i) s" \
  -c "SELECT intentlog.intent_append('orders', 'big', 'set', decode(repeat('ab', 6000), 'hex'))" \
  -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'k' || (i % 10), 'set') FROM generate_series(51, 100) i) s" >/dev/null
read -r bp bs <<<"$(q -F ' ' -c "SELECT partition, seq FROM intentlog_data.orders WHERE octet_length(payload) > 1000")"

for _ in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM intentlog.dead_letters WHERE group_name = 'kafka'")" = 1 ] && break
  sleep 0.1
done
err=$(q -c "SELECT last_error FROM intentlog.dead_letters WHERE group_name = 'kafka' AND key = 'big'")
case "$err" in *MSG_SIZE_TOO_LARGE*) ;; *) fail "no dead letter for the large intent (last_error: '$err')" ;; esac
q -F ' ' -c "SELECT partition, seq, key FROM intentlog_data.orders WHERE (partition, seq) <> ($bp, $bs) ORDER BY 1, 2" >"$SCRATCH/expected"
kafka_check --topic intentlog.orders --expected "$SCRATCH/expected" --absent "$bp:$bs" --timeout 20 --strict \
  || fail "the other intents did not reach Kafka once each while the large one was a dead letter"

# A higher limit and a redrive deliver it.
kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
start_worker w1 --kafka-brokers "$KAFKA_BROKERS" --kafka-domains orders -X message.max.bytes=100000 --retry-poll-ms 20 \
  -X topic.metadata.refresh.interval.ms=500
[ "$(q -c "SELECT intentlog.redrive('orders', key => 'big')")" = 1 ] || fail "redrive found no dead letter"
kafka_expect orders "$SCRATCH/expected-all" 20 --strict || fail "the redriven intent did not reach Kafka"
[ "$(q -c "SELECT count(*) FROM intentlog.dead_letters")" = 0 ] || fail "dead letters left after the redrive"

# The broker refuses one Produce request: its records fail, and so does every
# record of the topic librdkafka is given until its next metadata refresh
# says the topic is fine again; the retries after that land.
q -c "UPDATE intentlog.domains SET max_attempts = 30, base_backoff = '100 ms', max_backoff = '300 ms' WHERE name = 'orders'"
kafka_ctl errors produce TOPIC_AUTHORIZATION_FAILED
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'r' || i, 'set') FROM generate_series(1, 20) i) s" >/dev/null
kafka_expect orders "$SCRATCH/expected-retry" 20 --strict || fail "records of the refused request were not retried"
grep -q 'event=kafka_delivery_failed.*TOPIC_AUTHORIZATION_FAILED' "$SCRATCH/worker-w1.log" \
  || fail "the broker's refusal was not a failed delivery"
echo "PASS: oversized intent dead-lettered, other keys flowed, redrive delivered it; broker refusal retried"
