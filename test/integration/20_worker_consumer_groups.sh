#!/usr/bin/env bash
# Consumer groups: two consumers of group "search" share the partitions (each
# partition goes to exactly one of them, together they get everything once);
# group "audit", read by a third consumer, gets everything too, with its own
# cursors.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('items', partitions => 6)" >/dev/null
start_worker w1
start_tail "$SCRATCH/search1.jsonl" --connect "$(sock w1)" --group search --domain items --client-name search1
start_tail "$SCRATCH/search2.jsonl" --connect "$(sock w1)" --group search --domain items --client-name search2
SEARCH2_PID=$TAIL_PID
start_tail "$SCRATCH/audit.jsonl" --connect "$(sock w1)" --group audit --domain items --client-name audit
# Both search consumers must be assigned before anything is delivered.
for _ in $(seq 100); do
  [ "$(grep -c 'event=assigned' "$SCRATCH/worker-w1.log" || true)" -ge 3 ] && break
  sleep 0.1
done
sleep 0.3

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('items', 'item-' || (i % 97), 'index')
                            FROM generate_series(1, 1500) i) s" >/dev/null
q -c "BEGIN; SELECT intentlog.intent_append('items', 'item-x', 'index'); ROLLBACK;" >/dev/null
expected_intents items "$SCRATCH/expected"
total=$(wc -l <"$SCRATCH/expected")

wait_lines "$SCRATCH/audit.jsonl" "$total" 20 || fail "audit got $(wc -l <"$SCRATCH/audit.jsonl") of $total"
for _ in $(seq 200); do
  got=$(( $(wc -l <"$SCRATCH/search1.jsonl") + $(wc -l <"$SCRATCH/search2.jsonl") ))
  [ "$got" -ge "$total" ] && break
  sleep 0.1
done
sleep 0.5
[ -s "$SCRATCH/search1.jsonl" ] && [ -s "$SCRATCH/search2.jsonl" ] || fail "one search consumer got nothing: partitions not shared"
echo "group search:"
check --expected "$SCRATCH/expected" --strict --disjoint "$SCRATCH/search1.jsonl" "$SCRATCH/search2.jsonl" \
  || fail "group search did not share the partitions cleanly"
echo "group audit:"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/audit.jsonl" || fail "group audit did not get everything"

# A consumer leaving hands its partitions to the one that stays.
kill "$SEARCH2_PID"
wait "$SEARCH2_PID" 2>/dev/null || true
before=$(wc -l <"$SCRATCH/search1.jsonl")
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('items', 'late-' || i, 'index')
                            FROM generate_series(1, 300) i) s" >/dev/null
wait_lines "$SCRATCH/search1.jsonl" $((before + 300)) 20 \
  || fail "after search2 left, search1 got $(( $(wc -l <"$SCRATCH/search1.jsonl") - before )) of 300 new events"
expected_intents items "$SCRATCH/expected"
check --expected "$SCRATCH/expected" "$SCRATCH/search1.jsonl" "$SCRATCH/search2.jsonl" \
  || fail "group search lost intents when a consumer left"
echo "PASS: one group shares partitions, another group gets everything, a leaving consumer's partitions move"
