# Shared by the lifecycle tests (92 upgrade, 93 dump/restore; sourced after
# common.sh): a database in use, its catalog as text, what a worker owes.
REPO=$(cd "$LIB_DIR/../../.." && pwd)

# For a test's EXIT trap: its workers and consumers go before its extra
# databases are dropped (DROP DATABASE ... WITH (FORCE) would otherwise race
# a worker reconnecting), then common.sh's cleanup.
stop_processes() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}

DOMAINS="SELECT intentlog.create_domain('orders', partitions => 4, max_attempts => 2);
         SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged');"

append() {  # append DOMAIN FROM TO: intents of keys k0..k5, r1 and d1 in $PGDATABASE
  q -c "DO \$\$ BEGIN FOR i IN $2..$3 LOOP
          PERFORM intentlog.intent_append('$1', CASE WHEN i % 10 = 7 THEN 'r1' WHEN i = 1 THEN 'd1'
                                                     ELSE 'k' || (i % 6) END, 'set', convert_to(i::text, 'UTF8'));
        END LOOP; END \$\$"
}

# use_it: in $PGDATABASE (intentlog installed), a durable domain orders and a
# staged domain cache with intents; consumer group billing read everything
# once, then part of what came after; a retry of key r1 with its three later
# intents parked behind it; a dead letter of key d1; a registered schema.
use_it() {
  q -c "$DOMAINS" >/dev/null
  q -c "UPDATE intentlog.domains SET base_backoff = '50 ms', max_backoff = '100 ms'"
  q -c "SELECT intentlog.register_schema('orders', decode('$("$REPO/test/fixtures/schemas/set.sh" v1)', 'base64'),
                                         'shop.v1.Order')" >/dev/null
  append orders 1 40
  append cache 1 20
  q -c "SELECT intentlog.maintain()" >/dev/null       # promotes the staged intents so far
  q -c "SELECT count(*) FROM generate_series(0, 3) p, intentlog.consume('billing', 'orders', p, 1000)
        UNION ALL SELECT count(*) FROM generate_series(0, 1) p, intentlog.consume('billing', 'cache', p, 1000)" >/dev/null
  q -c "WITH r AS (SELECT partition, array_agg(seq ORDER BY seq) s FROM intentlog_data.orders WHERE key = 'r1' GROUP BY 1)
        SELECT (intentlog.record_failure('billing', 'orders', partition, s[1], 'consumer said no', 1, s[2:])).outcome FROM r" >/dev/null
  q -c "SELECT (intentlog.record_failure('billing', 'orders', partition, seq, 'poison', 1)).outcome,
               (intentlog.record_failure('billing', 'orders', partition, seq, 'poison', 2)).outcome
          FROM intentlog_data.orders WHERE key = 'd1'" >/dev/null
  append orders 41 80
  append cache 21 40
  q -c "SELECT count(*) FROM generate_series(0, 3) p, intentlog.consume('billing', 'orders', p, 3)
        UNION ALL SELECT count(*) FROM generate_series(0, 1) p, intentlog.consume('billing', 'cache', p, 3)" >/dev/null
  [ "$(q -c "SELECT (SELECT count(*) FROM intentlog.retries) || ' ' || (SELECT count(*) FROM intentlog.parked) || ' ' ||
                (SELECT count(*) FROM intentlog.dead_letters)")" = "1 3 1" ] \
    || fail "expected 1 retry, 2 parked, 1 dead letter: $(q -c "SELECT * FROM intentlog.delivery_backlog")"
}

# catalog: what must survive, as text (not the promoter's progress, which
# maintenance moves on by itself).
catalog() {
  q -c "SELECT 'domains', d.* FROM intentlog.domains d ORDER BY domain_id" \
    -c "SELECT 'partitions', domain_id, partition, parent_rel, seq_rel, hot_rel, durable_rel, next_segment
          FROM intentlog.partitions ORDER BY 2, 3" \
    -c "SELECT 'segments', s.* FROM intentlog.segments s ORDER BY 2, 3, 4" \
    -c "SELECT 'cursors', c.* FROM intentlog.cursors c ORDER BY 2, 3, 4" \
    -c "SELECT 'schemas', s.* FROM intentlog.schemas s ORDER BY 2, 3" \
    -c "SELECT 'retries', r.* FROM intentlog.retries r ORDER BY 2, 3, 4, 5" \
    -c "SELECT 'parked', r.* FROM intentlog.parked r ORDER BY 2, 3, 4, 5" \
    -c "SELECT 'dead_letters', r.* FROM intentlog.dead_letters r ORDER BY 2" \
    -c "SELECT 'orders', partition, seq, key FROM intentlog_data.orders ORDER BY 2, 3" \
    -c "SELECT 'cache', partition, seq, key FROM intentlog_data.cache ORDER BY 2, 3"
}

# owed DIR: what a worker owes group billing, as "partition seq key" lines
# (DIR/expected.orders, DIR/expected.cache): every intent past its cursors,
# the retry and the intents parked behind it (not the dead letter).
owed() {
  q -F ' ' -c "SELECT i.partition, i.seq, i.key FROM intentlog_data.orders i
                 JOIN intentlog.cursors c ON c.group_name = 'billing' AND c.partition = i.partition
                  AND c.domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'orders')
                WHERE i.seq > c.watermark
               UNION SELECT partition, seq, key FROM intentlog.retries
               UNION SELECT partition, seq, key FROM intentlog.parked ORDER BY 1, 2" >"$1/expected.orders"
  q -F ' ' -c "SELECT i.partition, i.seq, i.key FROM intentlog_data.cache i
                 JOIN intentlog.cursors c ON c.group_name = 'billing' AND c.partition = i.partition
                  AND c.domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'cache')
                WHERE i.seq > c.watermark ORDER BY 1, 2" >"$1/expected.cache"
}

# drain DIR: a worker and a consumer per domain receive what owed DIR listed
# (in order per key, nothing lost or invented), the retry and the parked
# intents are cleared, the dead letter stays.
drain() {
  start_worker w1 --retry-poll-ms 20
  start_tail "$1/orders.jsonl" --connect "$(sock w1)" --group billing --domain orders --from committed
  start_tail "$1/cache.jsonl" --connect "$(sock w1)" --group billing --domain cache --from committed
  wait_lines "$1/orders.jsonl" "$(wc -l <"$1/expected.orders")" 20 \
    || fail "orders: got $(wc -l <"$1/orders.jsonl") of $(wc -l <"$1/expected.orders") intents"
  wait_lines "$1/cache.jsonl" "$(wc -l <"$1/expected.cache")" 20 \
    || fail "cache: got $(wc -l <"$1/cache.jsonl") of $(wc -l <"$1/expected.cache") intents"
  check --expected "$1/expected.orders" "$1/orders.jsonl" || fail "orders: intents lost, invented or out of order"
  check --expected "$1/expected.cache" --strict "$1/cache.jsonl" || fail "cache: intents lost, repeated or out of order"
  for _ in $(seq 100); do
    [ "$(q -c "SELECT count(*) FROM intentlog.retries") $(q -c "SELECT count(*) FROM intentlog.parked")" = "0 0" ] && break
    sleep 0.1
  done
  [ "$(q -c "SELECT count(*) FROM intentlog.retries") $(q -c "SELECT count(*) FROM intentlog.parked")" = "0 0" ] \
    || fail "the retry or parked intents were not delivered: $(q -c "SELECT 'retry', partition, seq, key, attempt, next_attempt_at, delivering_until FROM intentlog.retries
                                                                     UNION ALL SELECT 'parked', partition, seq, key, NULL, parked_at, delivering_until FROM intentlog.parked")"
  [ "$(q -c "SELECT key FROM intentlog.dead_letters")" = d1 ] || fail "the dead letter is gone"
}
