#!/usr/bin/env bash
# The Python client (clients/python) against the real worker:
#  - order per key: four concurrent producers on 40 shared keys, every 7th
#    transaction rolled back; one Python consumer receives every committed
#    intent exactly once, per key in seq order, none rolled back;
#  - nack: a consumer nacking each event's first two deliveries gets every
#    event a third time (attempt 3), per key in order, nothing lost or twice.
source "$(dirname "$0")/lib/common.sh"
PYC=("$PY" "$LIB_DIR/py_consumer.py")

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 8)" \
  -c "SELECT intentlog.create_domain('tasks', partitions => 4)" \
  -c "UPDATE intentlog.domains SET base_backoff = '20 ms', max_backoff = '100 ms' WHERE name = 'tasks'" >/dev/null
start_worker w1 --max-in-flight 64 --retry-poll-ms 20
"${PYC[@]}" --connect "$(sock w1)" --group billing --domain orders --credit 300 >"$SCRATCH/c1.jsonl" 2>"$SCRATCH/c1.err" &
PIDS+=($!)

N=200
for p in 1 2 3 4; do
  q -c "DO \$\$ BEGIN
          FOR i IN 1..$N LOOP
            PERFORM intentlog.intent_append('orders', 'order-' || ((i * $p) % 40), 'set', convert_to('p$p:' || i, 'UTF8'));
            IF i % 7 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
          END LOOP;
        END \$\$" &
  PIDS+=($!)
  PRODUCERS+=($!)
done
for p in "${PRODUCERS[@]}"; do wait "$p" || fail "a producer failed"; done
committed=$(q -c "SELECT count(*) FROM intentlog_data.orders")
[ "$committed" = $((4 * (N - N / 7))) ] || fail "unexpected number of committed intents: $committed"
wait_lines "$SCRATCH/c1.jsonl" "$committed" 30 || fail "Python consumer got $(wc -l <"$SCRATCH/c1.jsonl") of $committed events: $(cat "$SCRATCH/c1.err")"
sleep 0.5  # a duplicate would arrive now
expected_intents orders "$SCRATCH/expected"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/c1.jsonl" || fail "order per key or exactly-once broken"
rolled=$($PY -c "
import json, base64
print(sum(int(base64.b64decode(json.loads(l)['payload']).decode().split(':')[1]) % 7 == 0 for l in open('$SCRATCH/c1.jsonl')))")
[ "$rolled" = 0 ] || fail "$rolled rolled-back intents were delivered"
echo "order: $committed intents in order per key, exactly once"

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('tasks', 'key-' || (i % 20), 'run') FROM generate_series(1, 200) i) s" >/dev/null
expected_intents tasks "$SCRATCH/expected-tasks"
timeout 40 $PY "$LIB_DIR/py_consumer.py" --connect "$(sock w1)" --group flaky --domain tasks --fail-first 2 --limit 200 \
  >"$SCRATCH/n.jsonl" 2>"$SCRATCH/n.err" || fail "the nacking consumer did not get 200 events: $(tail -2 "$SCRATCH/n.err")"
check --expected "$SCRATCH/expected-tasks" --strict "$SCRATCH/n.jsonl" || fail "redelivery broke order or lost intents"
bad=$(grep -vc '"attempt": 3' "$SCRATCH/n.jsonl" || true)
[ "$bad" = 0 ] || fail "$bad events were not on their third attempt"
nacks=$(grep -c 'event=nack .*group=flaky ' "$SCRATCH/worker-w1.log" || true)
[ "$nacks" = 400 ] || fail "the worker logged $nacks nacks, expected 400"
echo "PASS: Python consumer: order per key under concurrent producers; 400 nacks redelivered in order on attempt 3"
