#!/usr/bin/env bash
# The long poll (intentlog.fetch_wait): an active domain is read through it,
# every intent arrives exactly once and in order whether it commits while a
# long poll waits or between two, the waiting backend holds no lock on the
# domain's tables (DDL and maintenance must not queue behind it), and with
# --wait-connections 0 the worker reads through wake-ups alone.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4)" >/dev/null

# long_polls N of the worker's last stats line (written at shutdown).
long_polls() { grep -o 'long_polls=[0-9]*' "$SCRATCH/worker-$1.log" | tail -1 | cut -d= -f2; }
stop_worker() {
  kill -TERM "$WORKER_PID"
  wait "$WORKER_PID" 2>/dev/null || true
  grep -q 'event=stopped' "$SCRATCH/worker-$1.log" || fail "worker $1 did not stop cleanly"
}

# append N PREFIX KEYS PAUSE: N intents, one per transaction, over KEYS keys,
# PAUSE seconds after each.
append() {
  q -c "DO \$\$ BEGIN
          FOR i IN 1..$1 LOOP
            PERFORM intentlog.intent_append('orders', '$2' || (i % $3), 'set');
            COMMIT;
            PERFORM pg_sleep($4);
          END LOOP;
        END \$\$"
}

start_worker w1
start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group billing --domain orders --credit 500
# One intent per transaction with pauses (each one ends a long poll that
# waited), then bursts (they commit while the next long poll is on its way).
append 40 k 7 0.02
for b in 1 2 3; do
  append 100 "b$b-" 13 0 &
  PRODUCERS+=($!)
  PIDS+=($!)
done
for p in "${PRODUCERS[@]}"; do wait "$p" || fail "a producer failed"; done
wait_lines "$SCRATCH/c1.jsonl" 340 30 || fail "consumer got $(wc -l <"$SCRATCH/c1.jsonl") of 340 events"

# The domain is quiet now: its long poll waits in a backend. That backend
# holds no lock on any table of intentlog_data.
waiting=0
for _ in $(seq 20); do
  row=$(q -c "SELECT count(*) FILTER (WHERE a.query LIKE '%fetch_wait%' AND a.state = 'active'),
                     count(l.relation) FILTER (WHERE a.query LIKE '%fetch_wait%' AND a.state = 'active'
                                                 AND c.relnamespace = 'intentlog_data'::regnamespace)
                FROM pg_stat_activity a
                LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation'
                LEFT JOIN pg_class c ON c.oid = l.relation
               WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()")
  [ "${row#*|}" = 0 ] || fail "a waiting fetch_wait holds locks on the domain's tables: $row"
  [ "${row%|*}" -gt 0 ] && waiting=$((waiting + 1))
  sleep 0.05
done
[ "$waiting" -gt 0 ] || fail "no fetch_wait was seen waiting for the quiet domain"
# DDL on the domain's tables goes through while the long poll waits.
timeout 5 psql -XAtq -v ON_ERROR_STOP=1 -c "SET lock_timeout = '2s'; LOCK TABLE intentlog_data.orders IN ACCESS EXCLUSIVE MODE" \
  || fail "an ACCESS EXCLUSIVE lock on the domain waited behind the long poll"

# After the wait: one more intent still arrives.
q -c "SELECT intentlog.intent_append('orders', 'after-wait', 'set')" >/dev/null
wait_lines "$SCRATCH/c1.jsonl" 341 10 || fail "the intent appended during a long poll did not arrive"
sleep 0.3
expected_intents orders "$SCRATCH/expected"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/c1.jsonl" || fail "delivery check failed (long poll)"
kill "$TAIL_PID" 2>/dev/null || true
stop_worker w1
n=$(long_polls w1)
[ "${n:-0}" -gt 0 ] || fail "the worker made no long poll (long_polls=${n:-none})"
! grep -q 'event=long_poll_off' "$SCRATCH/worker-w1.log" || fail "the worker turned long polls off"

# Wake-ups only: the same delivery, no long poll.
start_worker w2 --wait-connections 0
start_tail "$SCRATCH/c2.jsonl" --connect "$(sock w2)" --group audit --domain orders --credit 500
append 30 w 5 0.01
total=$(q -c "SELECT count(*) FROM intentlog_data.orders")
wait_lines "$SCRATCH/c2.jsonl" "$total" 30 || fail "consumer (wake-ups only) got $(wc -l <"$SCRATCH/c2.jsonl") of $total events"
sleep 0.3
expected_intents orders "$SCRATCH/expected"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/c2.jsonl" || fail "delivery check failed (wake-ups only)"
stop_worker w2
[ "$(long_polls w2)" = 0 ] || fail "--wait-connections 0 still made long polls ($(long_polls w2))"
echo "ok: long poll delivery, no locks while waiting ($waiting of 20 samples saw it waiting), wake-ups only"
