#!/usr/bin/env bash
# Two Python consumers of one group split the partitions (disjoint
# Assignments covering all 8, each receiving only its own); when one leaves
# (kill -9, no goodbye) the other is assigned all 8 and receives everything
# appended afterwards; across both, every committed intent is delivered.
source "$(dirname "$0")/lib/common.sh"
PYC=("$PY" "$LIB_DIR/py_consumer.py")

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 8)" >/dev/null
start_worker w1
"${PYC[@]}" --connect "$(sock w1)" --group billing --domain orders >"$SCRATCH/a.jsonl" 2>"$SCRATCH/a.err" &
A=$!; PIDS+=($A)
"${PYC[@]}" --connect "$(sock w1)" --group billing --domain orders >"$SCRATCH/b.jsonl" 2>"$SCRATCH/b.err" &
B=$!; PIDS+=($B)
assigned() { tail -1 "$1" 2>/dev/null | grep -o '^assignment [0-9]*' | cut -d' ' -f2; }
for _ in $(seq 100); do
  [ "$(assigned "$SCRATCH/a.err")" = 4 ] && [ "$(assigned "$SCRATCH/b.err")" = 4 ] && break
  sleep 0.1
done
[ "$(assigned "$SCRATCH/a.err")" = 4 ] && [ "$(assigned "$SCRATCH/b.err")" = 4 ] \
  || fail "partitions not split 4/4: a: $(tail -1 "$SCRATCH/a.err"), b: $(tail -1 "$SCRATCH/b.err")"
all=$( (tail -1 "$SCRATCH/a.err" | cut -d' ' -f3-; tail -1 "$SCRATCH/b.err" | cut -d' ' -f3-) | tr ' ' '\n' | sort -u | wc -l)
[ "$all" = 8 ] || fail "the two assignments cover $all partitions, not 8"

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'k' || i, 'set') FROM generate_series(1, 200) i) s" >/dev/null
for _ in $(seq 100); do
  [ $(( $(wc -l <"$SCRATCH/a.jsonl") + $(wc -l <"$SCRATCH/b.jsonl") )) -ge 200 ] && break
  sleep 0.1
done
expected_intents orders "$SCRATCH/expected"
check --expected "$SCRATCH/expected" --strict --disjoint "$SCRATCH/a.jsonl" "$SCRATCH/b.jsonl" \
  || fail "the two consumers did not split the 200 events by partition"
[ "$(wc -l <"$SCRATCH/a.jsonl")" -gt 0 ] && [ "$(wc -l <"$SCRATCH/b.jsonl")" -gt 0 ] || fail "one consumer got nothing"
echo "split: a got $(wc -l <"$SCRATCH/a.jsonl"), b got $(wc -l <"$SCRATCH/b.jsonl") events, partitions disjoint"

kill -9 "$B"; wait "$B" 2>/dev/null || true
for _ in $(seq 100); do [ "$(assigned "$SCRATCH/a.err")" = 8 ] && break; sleep 0.1; done
[ "$(assigned "$SCRATCH/a.err")" = 8 ] || fail "the remaining consumer did not take over: $(tail -1 "$SCRATCH/a.err")"
before=$(wc -l <"$SCRATCH/a.jsonl")
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'k' || i, 'set') FROM generate_series(1, 200) i) s" >/dev/null
wait_lines "$SCRATCH/a.jsonl" $((before + 200)) 20 || fail "the remaining consumer got $(( $(wc -l <"$SCRATCH/a.jsonl") - before )) of 200 events"
expected_intents orders "$SCRATCH/expected"
check --expected "$SCRATCH/expected" "$SCRATCH/a.jsonl" "$SCRATCH/b.jsonl" || fail "intents lost across the takeover"
parts=$(tail -n +$((before + 1)) "$SCRATCH/a.jsonl" | $PY -c "import json,sys; print(len({json.loads(l)['partition'] for l in sys.stdin}))")
[ "$parts" = 8 ] || fail "after the takeover the consumer received from $parts partitions, not 8"
echo "PASS: two Python consumers split 8 partitions 4/4; after one was killed the other took all 8 and got every event"
