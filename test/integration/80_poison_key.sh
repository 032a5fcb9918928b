#!/usr/bin/env bash
# A poison key: the consumer nacks every delivery of one key while 50 other
# keys stream. Asserted (not timed): every intent of the other keys arrives
# exactly once and in order per key; each poison intent reaches
# intentlog.dead_letters after exactly max_attempts deliveries (its error
# history says so), the next one of the key following it (on_dead_letter =
# continue); intentlog.redrive then delivers all of them again, in order.
source "$(dirname "$0")/lib/common.sh"

MAX_ATTEMPTS=4
make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4, max_attempts => $MAX_ATTEMPTS)" >/dev/null
q -c "UPDATE intentlog.domains SET base_backoff = '40 ms', max_backoff = '200 ms' WHERE name = 'orders'"
start_worker w1 --retry-poll-ms 20
# 1000 intents of 50 keys, with 5 poison intents among them (the first early).
q -c "DO \$\$ BEGIN
        FOR i IN 1..1000 LOOP
          PERFORM intentlog.intent_append('orders', 'k' || (i % 50), 'set', convert_to(i::text, 'UTF8'));
          IF i % 200 = 3 THEN PERFORM intentlog.intent_append('orders', 'poison', 'set', convert_to(i::text, 'UTF8')); END IF;
          IF i % 50 = 0 THEN COMMIT; END IF;
        END LOOP;
      END \$\$"
expected_intents orders "$SCRATCH/all"
grep -v ' poison$' "$SCRATCH/all" >"$SCRATCH/others"
grep ' poison$' "$SCRATCH/all" >"$SCRATCH/poison"
[ "$(wc -l <"$SCRATCH/others")" = 1000 ] && [ "$(wc -l <"$SCRATCH/poison")" = 5 ] || fail "unexpected intents appended"

start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group shop --domain orders --fail-key poison
C1=$TAIL_PID
wait_lines "$SCRATCH/c1.jsonl" 1000 30 || fail "the other keys got only $(wc -l <"$SCRATCH/c1.jsonl") of 1000 events"
check --expected "$SCRATCH/others" --strict "$SCRATCH/c1.jsonl" || fail "the other keys lost intents or order"

for _ in $(seq 300); do
  [ "$(q -c "SELECT count(*) FROM intentlog.dead_letters")" = 5 ] && break
  sleep 0.1
done
[ "$(q -c "SELECT count(*) FROM intentlog.dead_letters")" = 5 ] || fail "poison intents did not all reach the dead letters: $(q -c "SELECT * FROM intentlog.delivery_backlog")"
bad=$(q -c "SELECT count(*) FROM intentlog.dead_letters
             WHERE key <> 'poison' OR attempts <> $MAX_ATTEMPTS OR jsonb_array_length(errors) <> $MAX_ATTEMPTS
                OR jsonb_path_query_array(errors, '\$[*].attempt') <> '[1, 2, 3, 4]'::jsonb")
[ "$bad" = 0 ] || fail "$bad dead letters do not show exactly $MAX_ATTEMPTS failed attempts"
nacks=$(grep 'event=nack ' "$SCRATCH/worker-w1.log" | grep -c 'key=poison' || true)
[ "$nacks" = $((5 * MAX_ATTEMPTS)) ] || fail "the poison key was delivered $nacks times, expected $((5 * MAX_ATTEMPTS))"
[ "$(q -c "SELECT count(*) FROM intentlog.retries") $(q -c "SELECT count(*) FROM intentlog.parked")" = "0 0" ] \
  || fail "retries or parked intents left behind"
q -F ' ' -c "SELECT partition, seq, key FROM intentlog.dead_letters ORDER BY seq" | diff - "$SCRATCH/poison" >/dev/null \
  || fail "the dead letters are not the poison intents"
grep -q '"key":"poison"' "$SCRATCH/c1.jsonl" && fail "a poison intent was printed by the consumer that nacks it"
kill "$C1"; wait "$C1" 2>/dev/null || true

# Redrive: a consumer that accepts the key gets all five, in seq order, from attempt 1.
start_tail "$SCRATCH/c2.jsonl" --connect "$(sock w1)" --group shop --domain orders --limit 5
C2=$TAIL_PID
[ "$(q -c "SELECT intentlog.redrive('orders', key => 'poison')")" = 5 ] || fail "redrive did not re-queue 5 dead letters"
wait "$C2" || fail "the redriven intents were not delivered: $(wc -l <"$SCRATCH/c2.jsonl") events"
$PY - "$SCRATCH/c2.jsonl" "$SCRATCH/poison" <<'PYEOF' || fail "redriven intents not delivered as expected"
import json, sys
got = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = [int(l.split()[1]) for l in open(sys.argv[2]) if l.strip()]
seqs = [e["seq"] for e in got]
assert seqs == want, f"redriven seqs {seqs}, expected {want}"
assert all(e["key"] == "poison" and e["attempt"] == 1 for e in got), got
PYEOF
for _ in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM intentlog.parked")" = 0 ] && break
  sleep 0.1
done
[ "$(q -c "SELECT (SELECT count(*) FROM intentlog.parked) + (SELECT count(*) FROM intentlog.dead_letters)")" = 0 ] \
  || fail "redriven intents were not all acknowledged"
echo "PASS: 1000 intents of 50 keys delivered in order past a poison key; 5 poison intents dead-lettered after exactly $MAX_ATTEMPTS attempts each; redrive delivered them again in order"
