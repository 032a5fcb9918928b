#!/usr/bin/env bash
# 10,000 Hellos with a wrong token in a loop: each gets ERROR_UNAUTHENTICATED
# (after a burst of 10, "too many failed authentications" without its token
# being compared), the worker's memory does not grow with them, they are
# logged once per burst and no token reaches the log, and a consumer of the
# same worker keeps receiving meanwhile; a second later the right token from
# the same address is accepted again.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('events', partitions => 2)" >/dev/null
printf 'integration-test-token-%s\n' "$$" >"$SCRATCH/token"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --listen "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token"
start_tail "$SCRATCH/good.jsonl" --connect "$(sock w1)" --group good --domain events
append() { q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('events', 'k' || i, '$1') FROM generate_series(1, 100) i) s" >/dev/null; }
append a
wait_lines "$SCRATCH/good.jsonl" 100 10 || fail "good consumer got $(wc -l <"$SCRATCH/good.jsonl") of 100"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$WORKER_PID/status"; }
# A first round warms up the allocator; the second must not add to it.
WRONG="wrong-token-$$-0123456789"
PYTHONPATH="$LIB_DIR" $PY "$LIB_DIR/failed_hellos.py" "tcp:127.0.0.1:$PORT" 1000 "$WRONG" >/dev/null
rss0=$(rss)
PYTHONPATH="$LIB_DIR" $PY "$LIB_DIR/failed_hellos.py" "tcp:127.0.0.1:$PORT" 10000 "$WRONG" >"$SCRATCH/loop.out" &
LOOP_PID=$!
PIDS+=("$LOOP_PID")
append b  # delivered while the loop runs
wait_lines "$SCRATCH/good.jsonl" 200 15 || fail "the consumer stalled during the loop: $(wc -l <"$SCRATCH/good.jsonl") of 200"
kill -0 "$LOOP_PID" 2>/dev/null || fail "the loop ended before the consumer had its events (the test proves nothing)"
wait "$LOOP_PID" || fail "the loop of failed Hellos failed"
rss1=$(rss)
read -r _ wrong _ throttled _ other _ rate <"$SCRATCH/loop.out"
echo "  10,000 failed Hellos: $wrong wrong-token, $throttled throttled, $other other, $rate/s;" \
  "worker RSS ${rss0} kB before, ${rss1} kB after; the consumer received while the loop ran"
[ "$other" = 0 ] || fail "$other Hellos did not get ERROR_UNAUTHENTICATED"
[ "$wrong" -le 30 ] || fail "$wrong tokens were compared: failed authentications are not rate-limited"
[ $((rss1 - rss0)) -lt 4096 ] || fail "the worker's RSS grew by $((rss1 - rss0)) kB over 10,000 failed Hellos"
lines=$(grep -c 'event=auth_failed' "$SCRATCH/worker-w1.log" || true)
echo "  auth_failed log lines: $lines; worker log: $(wc -l <"$SCRATCH/worker-w1.log") lines"
[ "$lines" -le 10 ] || fail "$lines auth_failed lines for one peer's burst"
grep -q "$WRONG" "$SCRATCH/worker-w1.log" && fail "a token reached the log"
grep -qF "$(cat "$SCRATCH/token")" "$SCRATCH/worker-w1.log" && fail "the worker's token reached the log"
kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker died"
# Once the loop stopped, a try per second gets through again: the right token is accepted.
sleep 1.2
timeout 15 "$TAIL_BIN" --connect "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token" --group newcomer \
  --domain events --from earliest --limit 200 >"$SCRATCH/new.jsonl" || fail "the right token was refused after the loop"
[ "$(wc -l <"$SCRATCH/new.jsonl")" = 200 ] || fail "newcomer got $(wc -l <"$SCRATCH/new.jsonl") of 200"
echo "PASS: failed Hellos rate-limited and logged once per burst, no memory growth, the consumer kept receiving"
