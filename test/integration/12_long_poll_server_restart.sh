#!/usr/bin/env bash
# The long poll across a server crash: the wake-up tick lives in shared
# memory and starts again from 1, so every stream's since is then ahead of
# it. The worker must read on (every intent committed after the restart
# arrives, exactly once with the ones before it) and must not spin: a since
# kept ahead of the tick would make every fetch_wait due at once, a fetch
# per stream per round trip for ever.
OWN_CLUSTER=lprestart source "$(dirname "$0")/lib/own_cluster.sh"

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4)" >/dev/null
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --metrics "tcp:127.0.0.1:$port"
url="http://127.0.0.1:$port/metrics"
fetches() { $PY "$LIB_DIR/scrape.py" "$url" intentlog_worker_fetch_rows_count; }
start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group billing --domain orders --credit 500

append() {  # append N PREFIX: N intents, one per transaction
  q -c "DO \$\$ BEGIN
          FOR i IN 1..$1 LOOP
            PERFORM intentlog.intent_append('orders', '$2' || (i % 9), 'set');
            COMMIT;
            PERFORM pg_sleep(0.005);
          END LOOP;
        END \$\$"
}
# Quiet for a second: the fetches per second of a waiting long poll.
fetch_rate() {
  local a b
  a=$(fetches)
  sleep 1
  b=$(fetches)
  $PY -c "print(int(float('$b') - float('$a')))"
}

append 300 a
wait_lines "$SCRATCH/c1.jsonl" 300 30 || fail "before the crash: $(wc -l <"$SCRATCH/c1.jsonl") of 300 events"
grep -q 'long_poll_off' "$SCRATCH/worker-w1.log" && fail "the worker turned long polls off"
before=$(fetch_rate)

"$_PG" crash "$CLUSTER"
"$_PG" start "$CLUSTER" >/dev/null
for _ in $(seq 100); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
append 60 b  # fewer than before: the new ticks stay below the old ones
total=$(q -c "SELECT count(*) FROM intentlog_data.orders")
wait_lines "$SCRATCH/c1.jsonl" "$total" 40 || fail "after the crash: $(wc -l <"$SCRATCH/c1.jsonl") of $total events"
after=$(fetch_rate)
# A waiting long poll returns every 200 ms (4 streams: ~20 fetches a
# second, plus the --poll-ms poll's); a spinning one thousands.
[ "$after" -lt 200 ] || fail "after the restart the worker fetched $after times in a quiet second (before: $before)"
sleep 0.3
expected_intents orders "$SCRATCH/expected"
# Redelivery of what was delivered but not committed before the crash is allowed.
check --expected "$SCRATCH/expected" "$SCRATCH/c1.jsonl" || fail "delivery check failed"
echo "ok: long poll across a server crash: $total intents; quiet-second fetches $before before, $after after"
