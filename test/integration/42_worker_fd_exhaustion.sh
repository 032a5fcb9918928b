#!/usr/bin/env bash
# Descriptor exhaustion without a token: the worker runs under a 64-descriptor
# limit while 100 idle connections (reopened as soon as the worker closes
# them, as an attacker would) sit on its TCP port without a Hello. The worker
# must neither spin nor flood its log (it did: 100% of a core and ~700,000
# log lines a second), must keep serving the consumer it already has, and
# must serve new consumers once the attacker leaves. Then the per-peer bound
# on connections before Hello: over it, connections are closed at once.
source "$(dirname "$0")/lib/common.sh"
IDLE="$LIB_DIR/idle_clients.py"

make_db
q -c "SELECT intentlog.create_domain('events', partitions => 2)" >/dev/null
printf 'integration-test-token-%s\n' "$$" >"$SCRATCH/token"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --listen "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token" --hello-timeout-ms 3000 \
  --max-unauthenticated-per-peer 1000
start_tail "$SCRATCH/good.jsonl" --connect "$(sock w1)" --group good --domain events
append() { q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('events', 'k' || i, '$1') FROM generate_series(1, 100) i) s" >/dev/null; }
append a
wait_lines "$SCRATCH/good.jsonl" 100 10 || fail "good consumer got $(wc -l <"$SCRATCH/good.jsonl") of 100 before the attack"
prlimit --pid "$WORKER_PID" --nofile=64:64 || fail "prlimit failed"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$WORKER_PID/stat"; }
log_lines() { wc -l <"$SCRATCH/worker-w1.log"; }
$PY "$IDLE" "tcp:127.0.0.1:$PORT" 100 6 --reconnect --report-after 4 >"$SCRATCH/idle.out" &
IDLE_PID=$!
PIDS+=("$IDLE_PID")
sleep 1  # the descriptors are gone by now
grep -q 'event=accept_failed' "$SCRATCH/worker-w1.log" || fail "the worker never ran out of descriptors (the test proves nothing)"
t0=$(cpu_ticks) l0=$(log_lines) s0=$(date +%s.%N)
append b  # delivered to the consumer already connected, meanwhile
sleep 3
t1=$(cpu_ticks) l1=$(log_lines) s1=$(date +%s.%N)
cpu_pct=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.1f", 100 * t / hz / (s1 - s0) }')
lines_per_s=$(awk -v l="$((l1 - l0))" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.1f", l / (s1 - s0) }')
echo "  under exhaustion: worker CPU ${cpu_pct}% of a core, ${lines_per_s} log lines/s"
awk -v c="$cpu_pct" 'BEGIN { exit !(c < 50) }' || fail "the worker used ${cpu_pct}% of a core out of descriptors"
awk -v l="$lines_per_s" 'BEGIN { exit !(l < 20) }' || fail "the worker logged ${lines_per_s} lines/s out of descriptors"
wait_lines "$SCRATCH/good.jsonl" 200 10 || fail "the connected consumer stalled under the attack: $(wc -l <"$SCRATCH/good.jsonl") of 200"
wait "$IDLE_PID" || true
echo "  attacker: $(cat "$SCRATCH/idle.out") (after 4 s)"
kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker died"

# The attacker left: a new consumer on TCP is served.
timeout 15 "$TAIL_BIN" --connect "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token" --group newcomer \
  --domain events --from earliest --limit 200 >"$SCRATCH/new.jsonl" || fail "no new consumer served after the attack"
[ "$(wc -l <"$SCRATCH/new.jsonl")" = 200 ] || fail "newcomer got $(wc -l <"$SCRATCH/new.jsonl") of 200"

# At most 5 connections per peer before Hello: of 10 idle ones, 5 are closed at once.
start_worker w2 --max-unauthenticated-per-peer 5
got=$($PY "$IDLE" "$(sock w2)" 10 1.5 --report-after 1)
echo "  10 idle connections to a worker allowing 5 per peer: $got"
[ "$got" = "open 5 closed 5 failed 0" ] || fail "expected 5 open and 5 closed, got: $got"
grep -q 'event=connection_refused .*reason="too many connections without Hello from this peer"' "$SCRATCH/worker-w2.log" \
  || fail "the refusal was not logged"
echo "PASS: bounded CPU and log out of descriptors, the consumer kept receiving, service resumed; per-peer bound held"
