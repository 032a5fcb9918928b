# Body of the server-crash fault tests (sourced by 61_server_crash_durable.sh
# and 62_server_crash_staged.sh with MODE=durable or MODE=staged).
#
# Four pgbench clients run application transactions at a fixed rate, each
# writing an application row and an intent (whose identity the row records)
# in the same transaction, one in ten rolled back; one transaction stays open
# across the crash. intentlog-worker streams the domain to an intentlog-tail
# consumer. Mid-load the postmaster is killed with -9, then restarted; the
# same worker process and the same consumer connection must carry on by
# themselves, and more load runs after the restart. crash_check.py then
# compares what the consumer printed with the application table.
# WORKER_OPTS: extra worker options (61 uses a lease time shorter than the
# outage, so the worker also drops and reopens its streams from the
# committed cursors); OUTAGE_SECONDS: time between the crash and the restart.
#
# Runs its own throwaway cluster (it crashes it), so it ignores the PG*
# variables of scripts/test.sh's cluster.
set -euo pipefail
: "${MODE:?MODE must be durable or staged}"
_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_TIMEOUT=${TEST_TIMEOUT:-85}
OWN_CLUSTER="faults-$MODE" source "$_LIB/own_cluster.sh"

RATE=${CRASH_TEST_RATE:-600}  # application transactions per second, all clients
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { printf '%d.%d' $(( $1 / 1000 )) $(( $1 % 1000 / 100 )); }  # ms -> s with one decimal
t0=$(now_ms)
elapsed() { secs $(( $(now_ms) - t0 )); }

make_db
if [ "$MODE" = staged ]; then
  q -c "SELECT intentlog.create_domain('orders', partitions => 4, durability => 'staged')" >/dev/null
else
  q -c "SELECT intentlog.create_domain('orders', partitions => 4)" >/dev/null
fi
# The application's table: one row per committed transaction, naming its intent.
q -c "CREATE TABLE app_orders (p int, s bigint, k text NOT NULL, client int, PRIMARY KEY (p, s))" >/dev/null
cat >"$SCRATCH/txn.sql" <<'SQL'
\set k random(1, 300)
\set r random(1, 10)
BEGIN;
SELECT partition AS p, seq AS s FROM intentlog.intent_append('orders', 'acct-' || :k, 'credit', int8send(:k)) \gset
INSERT INTO app_orders (p, s, k, client) VALUES (:p, :s, 'acct-' || :k, :client_id);
\if :r = 1
ROLLBACK;
\else
COMMIT;
\endif
SQL

start_worker w1 ${WORKER_OPTS:-}
WORKER1=$WORKER_PID
start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group billing --domain orders
TAIL1=$TAIL_PID

pgbench -n -f "$SCRATCH/txn.sql" -c 4 -j 2 -R "$RATE" -T 60 >"$SCRATCH/pgbench-before.log" 2>&1 &
BENCH=$!
PIDS+=("$BENCH")

wait_lines "$SCRATCH/c1.jsonl" 1500 25 || fail "the consumer got only $(wc -l <"$SCRATCH/c1.jsonl") events under load"
if [ "$MODE" = staged ]; then
  # The maintenance worker of a new database may start seconds late on a
  # loaded machine: the open transaction below must begin after promotion
  # has run, or every partition's promotion holds back from seq 1.
  for _ in $(seq 200); do
    [ "$(q -c "SELECT count(*) FROM intentlog.partitions WHERE promote_cursor <> '0'")" = 4 ] && break
    sleep 0.1
  done
fi
# Open across the crash: neither its row nor its intent may ever surface. (Begun
# just before the crash: on a staged domain an open transaction holds back
# promotion from its first seq on, and the crash gap would start there.)
q -c "BEGIN;
      WITH i AS (SELECT * FROM intentlog.intent_append('orders', 'open-across-crash', 'credit'))
      INSERT INTO app_orders SELECT partition, seq, 'open-across-crash', -1 FROM i;
      SELECT pg_sleep(60); COMMIT;" >/dev/null 2>&1 &
PIDS+=($!)
sleep 1
kill -0 "$BENCH" 2>/dev/null || fail "pgbench stopped before the crash: $(tail -3 "$SCRATCH/pgbench-before.log")"
before=$(q -c "SELECT count(*) FROM app_orders")
delivered_before=$(wc -l <"$SCRATCH/c1.jsonl")
"$_PG" crash "$CLUSTER"
echo "$(elapsed) s: postmaster killed (-9) with $before application rows committed, $delivered_before events delivered"
wait "$BENCH" 2>/dev/null || true
sleep "${OUTAGE_SECONDS:-1}"
"$_PG" start "$CLUSTER" >"$SCRATCH/restart.log" 2>&1 || fail "restart failed: $(cat "$SCRATCH/restart.log")"
restarted=$(now_ms)
echo "$(elapsed) s: server restarted"
kill -0 "$WORKER1" 2>/dev/null || fail "the worker exited during the outage"

# More load after the restart, through the same worker.
pgbench -n -f "$SCRATCH/txn.sql" -c 4 -j 2 -R "$RATE" -T 3 >"$SCRATCH/pgbench-after.log" 2>&1 \
  || fail "pgbench after the restart failed: $(tail -3 "$SCRATCH/pgbench-after.log")"
load_done=$(now_ms)

snapshot() {
  q -F ' ' -c "SELECT p, s, k FROM app_orders ORDER BY p, s" >"$SCRATCH/app"
  expected_intents orders "$SCRATCH/log"
  q -F ' ' -c "SELECT g.partition, g.first_seq, g.last_seq FROM intentlog.gaps g
               JOIN intentlog.domains d USING (domain_id) WHERE d.name = 'orders' ORDER BY 1, 2" >"$SCRATCH/gaps"
}
verify() {
  $PY "$LIB_DIR/crash_check.py" --mode "$MODE" --app "$SCRATCH/app" --log "$SCRATCH/log" --gaps "$SCRATCH/gaps" "$@" \
    "$SCRATCH/c1.jsonl"
}
snapshot
caught_up=
for _ in $(seq 300); do
  if verify --quiet >/dev/null 2>&1; then caught_up=$(now_ms); break; fi
  sleep 0.1
  [ "$MODE" = staged ] && snapshot  # gaps are recorded by the first access after the restart
done
sleep 0.5  # let anything extra (an uncommitted intent, a second Gap frame) arrive
snapshot
verify || fail "delivery across the server crash is wrong (see above)"
[ -n "$caught_up" ] || fail "not caught up 30 s after the post-restart load"
echo "$(elapsed) s: consumer caught up $(secs $((caught_up - restarted))) s after the restart," \
  "$(secs $((caught_up - load_done))) s after the post-restart load ended"
[ "$(grep -c '"key":"open-across-crash"' "$SCRATCH/c1.jsonl" || true)" = 0 ] || fail "the open transaction's intent was delivered"
kill -0 "$WORKER1" 2>/dev/null || fail "the worker died"
kill -0 "$TAIL1" 2>/dev/null || fail "the consumer lost its connection to the worker: $(cat "$SCRATCH/c1.jsonl.err")"
outage_lines=$(grep -cE 'event=(fetch_failed|wakeup_failed|commit_failed|lease_failed|start_failed|gaps_failed)' \
  "$SCRATCH/worker-w1.log" || true)
[ "$outage_lines" -gt 0 ] || fail "the worker logged nothing about the outage"
echo "worker: same process throughout, $outage_lines warning lines during the outage," \
  "$(grep -c 'event=wakeup_connected' "$SCRATCH/worker-w1.log") wake-up connections," \
  "$(grep -c 'event=leases_expired' "$SCRATCH/worker-w1.log" || true) lease expiries"
