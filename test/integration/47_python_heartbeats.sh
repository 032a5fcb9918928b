#!/usr/bin/env bash
# Automatic heartbeats and credit: against a worker that closes connections
# silent for 1 s, a Python consumer that spends 2.5 s on one event (longer
# than the idle timeout) keeps its connection (its background thread sends
# heartbeats meanwhile: no IDLE_TIMEOUT, no reconnect), and with a credit of
# 2 it still receives all 30 events (credit topped up as it takes them).
source "$(dirname "$0")/lib/common.sh"
REPO=$(cd "$LIB_DIR/../../.." && pwd)
make_db
q -c "SELECT intentlog.create_domain('slow', partitions => 2)" \
  -c "SELECT count(*) FROM (SELECT intentlog.intent_append('slow', 'k' || i, 'x') FROM generate_series(1, 30) i) s" >/dev/null
start_worker w1 --idle-timeout-ms 1000 --heartbeat-ms 300
timeout 30 $PY - "$(sock w1)" "$REPO/clients/python" <<'EOF_PY' || fail "the slow consumer failed"
import sys, time
sys.path.insert(0, sys.argv[2])
import intentlog
seen = set()
with intentlog.Consumer(sys.argv[1], "slowpoke", ["slow"], credit=2) as c:
    while len(seen) < 30:
        e = c.poll(10)
        assert e is not None, "only %d of 30 events" % len(seen)
        if not seen:
            time.sleep(2.5)  # busy with the first event for longer than idle_timeout_ms
        seen.add(e.id)
        c.ack(e)
    assert c.reconnects == 0, "reconnected %d times" % c.reconnects
print("30 events with credit 2, no reconnect after a 2.5 s pause")
EOF_PY
grep -q 'IDLE_TIMEOUT' "$SCRATCH/worker-w1.log" && fail "the worker closed the consumer for silence"
[ "$(grep -c 'event=session_open' "$SCRATCH/worker-w1.log")" = 1 ] || fail "more than one connection"
echo "PASS: heartbeats kept a busy Python consumer connected; credit 2 was topped up for 30 events"
