#!/usr/bin/env bash
# Hostile and broken clients: a 1 GiB length prefix, garbage, HTTP, frames
# out of order, an unknown domain, too much credit, a missing token on TCP,
# silence. Each gets an Error frame and a closed connection; meanwhile a good
# consumer keeps receiving, and the worker serves new consumers afterwards.
source "$(dirname "$0")/lib/common.sh"
RAW="$LIB_DIR/raw_client.py"

make_db
q -c "SELECT intentlog.create_domain('events', partitions => 2)" >/dev/null
printf 'integration-test-token-%s\n' "$$" >"$SCRATCH/token"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --listen "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token" --idle-timeout-ms 1500 \
  --heartbeat-ms 300 --max-credit 10000
start_tail "$SCRATCH/good.jsonl" --connect "$(sock w1)" --group good --domain events
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('events', 'k' || i, 'x') FROM generate_series(1, 100) i) s" >/dev/null
wait_lines "$SCRATCH/good.jsonl" 100 10 || fail "good consumer got $(wc -l <"$SCRATCH/good.jsonl") of 100 before the attack"

expect() {  # expect ENDPOINT CASE WANTED_ERROR
  local got
  got=$(timeout 15 $PY "$RAW" "$1" "$2" events 2>&1 | head -1) || true
  case "$got" in
    "ERROR $3"*) echo "  $2: $got" ;;
    *) fail "$2: expected Error $3, got: ${got:-nothing}" ;;
  esac
}
expect "$(sock w1)" huge-prefix FRAME_TOO_LARGE
expect "$(sock w1)" bad-varint BAD_FRAME
expect "$(sock w1)" garbage-body BAD_FRAME
expect "$(sock w1)" http ""   # any Error: BAD_FRAME or PROTOCOL, depending on how the bytes decode
expect "$(sock w1)" ack-before-hello PROTOCOL
expect "$(sock w1)" unknown-domain UNKNOWN_DOMAIN
expect "$(sock w1)" too-much-credit CREDIT_LIMIT
expect "tcp:127.0.0.1:$PORT" no-token UNAUTHENTICATED
expect "$(sock w1)" silent IDLE_TIMEOUT
expect "$(sock w1)" partial-frame IDLE_TIMEOUT
# Many bad clients at once do not hurt either.
many=$(timeout 20 $PY "$RAW" --parallel 50 "$(sock w1)" huge-prefix events | grep -c '^ERROR FRAME_TOO_LARGE' || true)
[ "$many" = 50 ] || fail "only $many of 50 concurrent bad clients got their Error frame"
echo "  50 concurrent huge-prefix clients: 50 Error frames"

kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker died"
# The good consumer kept going through all of it ...
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('events', 'k' || i, 'y') FROM generate_series(1, 100) i) s" >/dev/null
wait_lines "$SCRATCH/good.jsonl" 200 10 || fail "good consumer stalled: $(wc -l <"$SCRATCH/good.jsonl") of 200"
# ... and new consumers are served, on TCP with the token too.
timeout 15 "$TAIL_BIN" --connect "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token" --group newcomer \
  --domain events --from earliest --limit 200 >"$SCRATCH/new.jsonl" || fail "a TCP consumer with the token was not served"
[ "$(wc -l <"$SCRATCH/new.jsonl")" = 200 ] || fail "newcomer got $(wc -l <"$SCRATCH/new.jsonl") of 200"
grep -q 'code=ERROR_FRAME_TOO_LARGE' "$SCRATCH/worker-w1.log" || fail "the worker did not log the oversized frame"
echo "PASS: every bad client got an Error and was closed; the worker kept serving"
