#!/usr/bin/env bash
# Consumers dying in the middle of a batch, under continuous load:
#  - kill -9 of a consumer of group "work" holding events it printed but had
#    not acknowledged (it runs --no-ack, so every event it got is in flight):
#    each of them is delivered again, to the other consumers of the group;
#  - kill -9 of a slow consumer of the group (5 ms per event before its ack);
#  - 30 connections of group "work" that read part of a Batch frame and then
#    vanish with a reset (every other one after half an Ack frame), so the
#    group is rebalanced again and again with events in flight;
# group "work" still gets every committed intent at least once, in order per
# key per consumer, and its committed cursors reach the end of the log;
# group "audit", on the same worker, gets every one exactly once, in order,
# as if nothing happened; the worker serves new consumers afterwards.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('jobs', partitions => 4)" >/dev/null
start_worker w1
start_tail "$SCRATCH/audit.jsonl" --connect "$(sock w1)" --group audit --domain jobs --client-name audit
AUDIT=$TAIL_PID
start_tail "$SCRATCH/steady.jsonl" --connect "$(sock w1)" --group work --domain jobs --client-name steady
STEADY=$TAIL_PID
start_tail "$SCRATCH/noack.jsonl" --connect "$(sock w1)" --group work --domain jobs --no-ack --client-name noack
NOACK=$TAIL_PID
start_tail "$SCRATCH/slow.jsonl" --connect "$(sock w1)" --group work --domain jobs --slow-ms 5 --credit 200 \
  --client-name slow
SLOW=$TAIL_PID
for _ in $(seq 100); do  # all three consumers of "work" assigned before the load starts
  [ "$(grep -c 'event=assigned .*group=work partitions=1' "$SCRATCH/worker-w1.log" || true)" -ge 2 ] && break
  sleep 0.1
done

# A few seconds of load: 1500 transactions of two intents each on 200 keys.
q -c "DO \$\$ BEGIN
        FOR i IN 1..1500 LOOP
          PERFORM intentlog.intent_append('jobs', 'job-' || (i % 200), 'run', convert_to(i::text, 'UTF8'));
          PERFORM intentlog.intent_append('jobs', 'job-' || (i * 7 % 200), 'check', convert_to(i::text, 'UTF8'));
          COMMIT;
          IF i % 100 = 0 THEN PERFORM pg_sleep(0.05); END IF;
        END LOOP;
      END \$\$" &
PRODUCER=$!
PIDS+=("$PRODUCER")

wait_lines "$SCRATCH/noack.jsonl" 20 20 || fail "the --no-ack consumer got only $(wc -l <"$SCRATCH/noack.jsonl") events"
kill -9 "$NOACK"
echo "--no-ack consumer killed (-9) holding $(wc -l <"$SCRATCH/noack.jsonl") unacknowledged events"
wait_lines "$SCRATCH/slow.jsonl" 200 20 || fail "the slow consumer got only $(wc -l <"$SCRATCH/slow.jsonl") events"
kill -9 "$SLOW"
echo "slow consumer killed (-9) after printing $(wc -l <"$SCRATCH/slow.jsonl") events"

# A trickle of single intents keeps committing until the connections below
# have vanished, so each of them is assigned partitions that have events to
# send (once the main load is delivered, a connection would otherwise wait
# out its 3 s for a Batch that never comes).
q -c "CREATE TABLE trickle_stop ()"
q -c "DO \$\$ DECLARE i int := 0; BEGIN
        WHILE i < 3000 AND NOT EXISTS (SELECT FROM trickle_stop) LOOP
          i := i + 1;
          PERFORM intentlog.intent_append('jobs', 'job-' || (i % 200), 'tick', convert_to(i::text, 'UTF8'));
          COMMIT;
          PERFORM pg_sleep(0.01);
        END LOOP;
      END \$\$" &
TRICKLE=$!
PIDS+=("$TRICKLE")
$PY "$LIB_DIR/stall_client.py" vanish "$(sock w1)" work jobs 30 | sed 's/^/  /'
q -c "INSERT INTO trickle_stop DEFAULT VALUES"
wait "$PRODUCER" || fail "producer failed"
wait "$TRICKLE" || fail "trickle producer failed"

expected_intents jobs "$SCRATCH/expected"
total=$(wc -l <"$SCRATCH/expected")
main_load=$(q -c "SELECT count(*) FROM intentlog_data.jobs WHERE op <> 'tick'")
[ "$main_load" = 3000 ] || fail "expected 3000 committed intents of the main load, the log has $main_load"
echo "the log has $total intents: 3000 of the main load, $((total - 3000)) of the trickle"
files=("$SCRATCH/noack.jsonl" "$SCRATCH/slow.jsonl" "$SCRATCH/steady.jsonl")
for _ in $(seq 300); do
  check --expected "$SCRATCH/expected" "${files[@]}" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "group work:"
check --expected "$SCRATCH/expected" "${files[@]}" || fail "group work lost intents when consumers died mid-batch"
# Every event the --no-ack consumer held came again, to the consumers that stayed.
not_again=$($PY - "$SCRATCH/noack.jsonl" "$SCRATCH/steady.jsonl" "$SCRATCH/slow.jsonl" <<'PYEOF'
import json, sys
ids = lambda path: {(e["partition"], e["seq"]) for e in map(json.loads, open(path)) if "seq" in e}
print(len(ids(sys.argv[1]) - ids(sys.argv[2]) - ids(sys.argv[3])))
PYEOF
)
[ "$not_again" = 0 ] || fail "$not_again events in flight at the killed --no-ack consumer were not delivered again"
echo "  every event in flight at the killed --no-ack consumer was delivered again"
# Acknowledgements of the redelivered events move the group's cursors to the end
# (watermarks compared: a cursor's pending xids depend on other sessions).
for _ in $(seq 50); do
  behind=$(q -c "SELECT count(*) FROM generate_series(0, 3) p
                 WHERE coalesce(split_part(intentlog.get_cursor('work', 'jobs', p), ';', 1)
                                <> split_part(intentlog.latest_cursor('jobs', p), ';', 1), true)")
  [ "$behind" = 0 ] && break
  sleep 0.1
done
[ "$behind" = 0 ] || fail "group work's committed cursor is behind the log on $behind partitions: $(q -c "SELECT * FROM intentlog.lag WHERE group_name = 'work'")"

wait_lines "$SCRATCH/audit.jsonl" "$total" 20 || fail "audit got $(wc -l <"$SCRATCH/audit.jsonl") of $total"
sleep 0.3
echo "group audit:"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/audit.jsonl" || fail "group audit was disturbed"
kill -0 "$AUDIT" 2>/dev/null && kill -0 "$STEADY" 2>/dev/null || fail "a consumer that behaved lost its connection"
kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker died"
timeout 15 "$TAIL_BIN" --connect "$(sock w1)" --group late --domain jobs --from earliest --limit "$total" \
  >"$SCRATCH/late.jsonl" 2>"$SCRATCH/late.err" || fail "a new consumer was not served: $(cat "$SCRATCH/late.err")"
echo "PASS: consumers killed mid-batch lost nothing for their group; the other group and new consumers were unaffected"
