#!/usr/bin/env bash
# Kafka publication against a 3-broker mock cluster, read back with clients
# nobody here wrote (confluent_kafka in Python, and kcat): every committed
# intent is a record with the intent's key, an intentlog.v1.Event value and
# the id/seq/op/... headers, in the Kafka partition of its intentlog
# partition, per key in offset order, exactly once (no failure happened);
# rolled-back intents never; the group's SQL cursors reach the end; a staged
# domain's gap becomes a gap record. A topic with another partition count is
# refused at start, unless the keys are hashed with murmur2.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/kafka.sh"

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4)" \
  -c "SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged')" \
  -c "SELECT intentlog.create_domain('users', partitions => 2)" >/dev/null
start_kafka --topic intentlog.orders:4 --topic intentlog.cache:2 --topic intentlog.users:3
start_worker w1 --kafka-brokers "$KAFKA_BROKERS" --kafka-domains orders,cache

q -c "DO \$\$ BEGIN
        FOR i IN 1..1500 LOOP
          PERFORM intentlog.intent_append('orders', 'o-' || (i % 40), CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'created' END,
                                          convert_to(i::text, 'UTF8'),
                                          expected_version => CASE WHEN i % 2 = 0 THEN i END,
                                          headers => jsonb_build_object('trace_id', 't-' || i));
          IF i % 7 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
        END LOOP;
      END \$\$"
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('cache', 'c' || i, 'drop') FROM generate_series(1, 10) i) s" >/dev/null

kafka_expect orders "$SCRATCH/expected" 30 --strict || fail "the orders topic does not hold the committed intents"
total=$(wc -l <"$SCRATCH/expected")
[ "$total" = $((1500 - 1500 / 7)) ] || fail "unexpected number of committed intents: $total"

# kcat sees the same records and headers.
kcat -C -b "$KAFKA_BROKERS" -t intentlog.orders -e -q -f '%p|%k|%h\n' >"$SCRATCH/kcat.txt" 2>"$SCRATCH/kcat.err" \
  || fail "kcat failed: $(cat "$SCRATCH/kcat.err")"
[ "$(wc -l <"$SCRATCH/kcat.txt")" = "$total" ] || fail "kcat read $(wc -l <"$SCRATCH/kcat.txt") records, expected $total"
read -r p s k <<<"$(q -F ' ' -c "SELECT partition, seq, key FROM intentlog_data.orders WHERE payload = '\\x3434'")"
line=$(grep -F "id=orders/$p/$s," "$SCRATCH/kcat.txt") || fail "kcat: no record with id orders/$p/$s"
case "$line" in
  "$p|$k|"*"op=created"*"expected_version=44"*'headers={"trace_id": "t-44"}'*) ;;
  *) fail "kcat: record of intent 44 is $line" ;;
esac

# The cursors of group kafka pass every committed intent (intentlog.lag's
# seq_lag may stay 1 where a partition's last seq was rolled back).
caught_up() {
  q -c "SELECT count(*) FROM intentlog.lag l
          JOIN (SELECT partition, max(seq) AS last FROM intentlog_data.orders GROUP BY 1) m USING (partition)
         WHERE l.group_name = 'kafka' AND l.domain = 'orders' AND l.watermark >= m.last"
}
for _ in $(seq 50); do [ "$(caught_up)" = 4 ] && break; sleep 0.1; done
[ "$(caught_up)" = 4 ] || fail "group kafka's cursors did not pass every intent: $(q -c "SELECT * FROM intentlog.lag WHERE group_name = 'kafka'")"

# A staged domain's gap becomes a gap record in its Kafka partition.
q -c "INSERT INTO intentlog.gaps (domain_id, partition, first_seq, last_seq, reason)
      SELECT domain_id, 1, 100, 120, 'test: simulated crash' FROM intentlog.domains WHERE name = 'cache'" >/dev/null
for _ in $(seq 100); do
  kcat -C -b "$KAFKA_BROKERS" -t intentlog.cache -p 1 -e -q -f '%h|%s\n' 2>/dev/null | grep -q '^id=cache/1/gap-' && break
  sleep 0.1
done
kcat -C -b "$KAFKA_BROKERS" -t intentlog.cache -p 1 -e -q -f '%h\n' 2>/dev/null \
  | grep -q '^id=cache/1/gap-[0-9]*,type=gap,first_seq=100,last_seq=120$' || fail "no gap record in intentlog.cache partition 1"
kafka_expect cache "$SCRATCH/expected-cache" 10 --strict || fail "the cache topic does not hold the committed intents"

# users has 2 partitions, its topic 3: refused with intentlog partitioning ...
"$WORKER_BIN" --db "dbname=$TEST_DB" --listen "unix:$SCRATCH/w2.sock" --kafka-brokers "$KAFKA_BROKERS" \
  --kafka-domains users >"$SCRATCH/w2.log" 2>&1 && fail "a worker started with a mismatching topic"
grep -q 'intentlog.users has 3 partitions, intentlog domain users has 2' "$SCRATCH/w2.log" \
  || fail "unclear mismatch error: $(cat "$SCRATCH/w2.log")"
# ... published with murmur2 key hashing.
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('users', 'u' || (i % 25), 'set') FROM generate_series(1, 200) i) s" >/dev/null
start_worker w3 --kafka-brokers "$KAFKA_BROKERS" --kafka-domains users --kafka-partitioning murmur2 --kafka-group kafka_users
kafka_expect users "$SCRATCH/expected-users" 20 --strict --partitioning murmur2 || fail "the users topic is wrong"
echo "PASS: $total committed intents published to Kafka once each, in order per key, with their headers; gap record; partition check"
