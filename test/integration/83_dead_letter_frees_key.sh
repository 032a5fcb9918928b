#!/usr/bin/env bash
# A key whose only failing intent became a dead letter (on_dead_letter =
# continue, nothing else of the key parked) streams freely again: its later
# intents are delivered exactly once, in order, without intentlog.park (the
# worker used to keep the key held, so each later fetch batch of it went
# through an extra serialized park call: 5 calls here before 98714f1).
#
# Observable: calls of intentlog.park in pg_stat_user_functions
# (track_functions = 'all' for this database), read after the worker stopped.
# The worker logs no line per park call (its event=stats parked= counts only
# intents park held back: 0 with the old code too). A live backend flushes
# its function stats at most once a second while busy and ~10 s after it goes
# idle, so a 0 read from a running worker proves nothing; a backend flushes
# what is pending when it exits, so once the worker's sessions have left
# pg_stat_activity the counts are final. intentlog.record_failure, called
# once per nack, is the control that those sessions' calls were counted.
source "$(dirname "$0")/lib/common.sh"

MAX_ATTEMPTS=2
LATER=5
make_db
# Before the worker connects: its sessions read the setting at start.
q -c "ALTER DATABASE $TEST_DB SET track_functions = 'all'"
q -c "SELECT intentlog.create_domain('orders', partitions => 4, max_attempts => $MAX_ATTEMPTS,
                                     on_dead_letter => 'continue')" >/dev/null
q -c "UPDATE intentlog.domains SET base_backoff = '40 ms', max_backoff = '200 ms' WHERE name = 'orders'"
start_worker w1 --retry-poll-ms 20
W1=$WORKER_PID
# Nacks the poison key's first intent until it is a dead letter, then accepts everything.
start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group shop --domain orders \
  --fail-key poison --fail-limit "$MAX_ATTEMPTS"

q -c "DO \$\$ BEGIN
        PERFORM intentlog.intent_append('orders', 'poison', 'set', convert_to('0', 'UTF8'));
        FOR i IN 1..20 LOOP
          PERFORM intentlog.intent_append('orders', 'k' || (i % 10), 'set', convert_to(i::text, 'UTF8'));
        END LOOP;
      END \$\$"
# The dead_letter log line comes from the step that frees the key (or, before
# the fix, kept it held): appending after it leaves no race with that step.
for _ in $(seq 100); do
  grep -q 'event=dead_letter .*key=poison' "$SCRATCH/worker-w1.log" && break
  sleep 0.1
done
grep -q 'event=dead_letter .*key=poison' "$SCRATCH/worker-w1.log" \
  || fail "the poison intent was not dead-lettered: $(q -c "SELECT * FROM intentlog.delivery_backlog")"
[ "$(q -c "SELECT count(*) FROM intentlog.dead_letters WHERE key = 'poison'")" = 1 ] || fail "expected 1 dead letter"
wait_lines "$SCRATCH/c1.jsonl" 20 10 || fail "the other keys got only $(wc -l <"$SCRATCH/c1.jsonl") of 20 events"

# Each later intent in its own transaction and fetch batch.
for i in $(seq "$LATER"); do
  q -c "SELECT intentlog.intent_append('orders', 'poison', 'set', convert_to('$i', 'UTF8'))" >/dev/null
  sleep 0.2
done
wait_lines "$SCRATCH/c1.jsonl" $((20 + LATER)) 10 \
  || fail "got $(wc -l <"$SCRATCH/c1.jsonl") of $((20 + LATER)) events: $(q -c "SELECT * FROM intentlog.delivery_backlog")"

# Everything but the dead letter arrives exactly once, in order per key.
q -F ' ' -c "SELECT partition, seq, key FROM intentlog_data.orders
              WHERE (partition, seq) NOT IN (SELECT partition, seq FROM intentlog.dead_letters) ORDER BY partition, seq" >"$SCRATCH/expected"
[ "$(grep -c ' poison$' "$SCRATCH/expected")" = "$LATER" ] || fail "unexpected intents of the poison key"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/c1.jsonl" || fail "intents lost, repeated or out of order"
[ "$(grep -c '"key":"poison"' "$SCRATCH/c1.jsonl")" = "$LATER" ] || fail "the later poison intents were not delivered once each"
nacks=$(grep 'event=nack ' "$SCRATCH/worker-w1.log" | grep -c 'key=poison' || true)
[ "$nacks" = "$MAX_ATTEMPTS" ] || fail "the poison key was nacked $nacks times, expected $MAX_ATTEMPTS"
[ "$(q -c "SELECT count(*) FROM intentlog.retries") $(q -c "SELECT count(*) FROM intentlog.parked")" = "0 0" ] \
  || fail "retries or parked intents left behind"

# Stop the worker; its sessions flush their function stats as they exit.
kill -TERM "$W1"
wait "$W1" 2>/dev/null || true
for _ in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] \
    && break
  sleep 0.1
done
[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] \
  || fail "the worker's sessions did not end"
calls() {
  q -c "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE schemaname = 'intentlog' AND funcname = '$1'"
}
failures=$(calls record_failure)
[ "$failures" = "$MAX_ATTEMPTS" ] || fail "intentlog.record_failure counted $failures calls, expected $MAX_ATTEMPTS (function stats not tracked?)"
parks=$(calls park)
[ "$parks" = 0 ] || fail "intentlog.park was called $parks times for a key that nothing held any more"
echo "PASS: after its only failing intent was dead-lettered, $LATER later intents of the key were delivered once each, in order, with 0 intentlog.park calls"
