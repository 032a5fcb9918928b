#!/usr/bin/env bash
# kill -9 of the worker under a steady producer, then a restart: the same
# Python consumer process reconnects by itself (back-off, resuming from the
# group's committed cursors) and every committed intent is delivered at least
# once, per key in order apart from the redelivered ones; nothing lost.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('payments', partitions => 4)" >/dev/null
start_worker w1
$PY "$LIB_DIR/py_consumer.py" --connect "$(sock w1)" --group ledger --domain payments --credit 200 \
  >"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" &
C=$!; PIDS+=($C)
q -c "DO \$\$ BEGIN
        FOR i IN 1..2000 LOOP
          PERFORM intentlog.intent_append('payments', 'acct-' || (i % 50), 'debit', convert_to(i::text, 'UTF8'));
          IF i % 11 = 0 THEN ROLLBACK; ELSE COMMIT; END IF;
          IF i % 100 = 0 THEN PERFORM pg_sleep(0.05); END IF;
        END LOOP;
      END \$\$" &
PRODUCER=$!; PIDS+=($PRODUCER)

wait_lines "$SCRATCH/c.jsonl" 500 20 || fail "consumer got only $(wc -l <"$SCRATCH/c.jsonl") events before the kill"
kill -9 "$WORKER_PID"
echo "worker killed after $(wc -l <"$SCRATCH/c.jsonl") events"
sleep 0.5
kill -0 "$C" 2>/dev/null || fail "the consumer exited when the worker died: $(cat "$SCRATCH/c.err")"
start_worker w1
wait "$PRODUCER" || fail "producer failed"
expected_intents payments "$SCRATCH/expected"
[ "$(wc -l <"$SCRATCH/expected")" = $((2000 - 2000 / 11)) ] || fail "unexpected number of committed intents"
for _ in $(seq 300); do
  check --expected "$SCRATCH/expected" "$SCRATCH/c.jsonl" >/dev/null 2>&1 && break
  kill -0 "$C" 2>/dev/null || fail "the consumer exited: $(cat "$SCRATCH/c.err")"
  sleep 0.1
done
check --expected "$SCRATCH/expected" "$SCRATCH/c.jsonl" || fail "not every committed intent was delivered after the reconnect"
kill -TERM "$C"; wait "$C" || fail "the consumer failed: $(cat "$SCRATCH/c.err")"
grep -q '^reconnects=1 ' "$SCRATCH/c.err" || fail "expected one reconnect: $(tail -1 "$SCRATCH/c.err")"
dups=$(( $(wc -l <"$SCRATCH/c.jsonl") - $(wc -l <"$SCRATCH/expected") ))
echo "PASS: worker kill -9: the Python consumer reconnected once and got all $(wc -l <"$SCRATCH/expected") intents ($dups redelivered)"
