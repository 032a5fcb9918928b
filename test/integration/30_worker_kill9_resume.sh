#!/usr/bin/env bash
# kill -9 of the worker mid-stream, then a restart: every committed intent is
# delivered at least once (the restarted worker resumes from the committed
# cursors), none from rolled-back transactions, and a transaction that was
# open across the crash is delivered once it commits.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('payments', partitions => 4)" -c "CREATE TABLE release_flag ()" >/dev/null
start_worker w1
start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group ledger --domain payments --credit 200

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
# A transaction that stays open across the worker's crash, until release_flag has a row.
q -c "BEGIN; SELECT intentlog.intent_append('payments', 'acct-long', 'debit', 'long'::bytea);
      DO \$\$ BEGIN WHILE NOT EXISTS (SELECT FROM release_flag) LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$;
      COMMIT;" >/dev/null &
LONG=$!
PIDS+=("$LONG")

wait_lines "$SCRATCH/c1.jsonl" 800 20 || fail "consumer got only $(wc -l <"$SCRATCH/c1.jsonl") events before the crash"
kill -9 "$WORKER_PID"
echo "worker killed after $(wc -l <"$SCRATCH/c1.jsonl") events delivered"
wait "$TAIL_PID" 2>/dev/null && fail "the consumer did not notice the lost connection" || true

start_worker w1
start_tail "$SCRATCH/c2.jsonl" --connect "$(sock w1)" --group ledger --domain payments --credit 200
grep -q '"key":"acct-long"' "$SCRATCH/c1.jsonl" && fail "an uncommitted intent was delivered"
q -c "INSERT INTO release_flag DEFAULT VALUES" >/dev/null
wait "$PRODUCER" || fail "producer failed"
wait "$LONG" || fail "long transaction failed"

expected_intents payments "$SCRATCH/expected"
total=$(wc -l <"$SCRATCH/expected")
[ "$total" = $((3000 - 3000 / 11 + 1)) ] || fail "unexpected number of committed intents: $total"
for _ in $(seq 300); do
  check --expected "$SCRATCH/expected" "$SCRATCH/c1.jsonl" "$SCRATCH/c2.jsonl" >/dev/null 2>&1 && break
  sleep 0.1
done
check --expected "$SCRATCH/expected" "$SCRATCH/c1.jsonl" "$SCRATCH/c2.jsonl" \
  || fail "not every committed intent was delivered after the restart"
grep -q '"key":"acct-long"' "$SCRATCH/c2.jsonl" || fail "the intent of the long transaction was not delivered"
echo "PASS: kill -9 and restart of the worker lost nothing ($total committed intents)"
