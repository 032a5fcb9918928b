#!/usr/bin/env bash
# Nack: a consumer that fails each event twice gets it a third time (attempt
# 3); meanwhile later intents of the same key wait behind it (order per key
# holds) while other keys flow; nothing is lost or printed twice. Each nack
# goes through SQL (intentlog.retries, later intents parked), with the
# domain's backoff shortened to keep the test quick.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('tasks', partitions => 4)" >/dev/null
q -c "UPDATE intentlog.domains SET base_backoff = '20 ms', max_backoff = '100 ms' WHERE name = 'tasks'"
start_worker w1 --retry-poll-ms 20
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('tasks', 'key-' || (i % 20), 'run') FROM generate_series(1, 300) i) s" >/dev/null
expected_intents tasks "$SCRATCH/expected"
timeout 40 "$TAIL_BIN" --connect "$(sock w1)" --group flaky --domain tasks --fail-first 2 --limit 300 \
  >"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" || fail "the consumer did not get 300 events: $(tail -2 "$SCRATCH/c.err")"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/c.jsonl" || fail "redelivery broke order or lost intents"
bad=$(grep -vc '"attempt":3}' "$SCRATCH/c.jsonl" || true)
[ "$bad" = 0 ] || fail "$bad events were not on their third attempt"
nacks=$(grep -c 'event=nack ' "$SCRATCH/worker-w1.log" || true)
[ "$nacks" = 600 ] || fail "the worker logged $nacks nacks, expected 600"
for _ in $(seq 50); do
  left=$(q -c "SELECT (SELECT count(*) FROM intentlog.retries) + (SELECT count(*) FROM intentlog.parked) + (SELECT count(*) FROM intentlog.dead_letters)")
  [ "$left" = 0 ] && break
  sleep 0.1
done
[ "$left" = 0 ] || fail "$left retries, parked intents or dead letters left behind"
echo "PASS: 600 nacks, every event redelivered in order per key on attempt 3"
