#!/usr/bin/env bash
# Consumers that stop reading while ~48 MB of intents (48000 x 1 KiB) are
# appended, each in its own group, next to a consumer that keeps reading:
#  - "paused": intentlog-tail with a large credit, SIGSTOPped for 7 s (less
#    than the idle timeout), then resumed: same connection, gets everything;
#  - "dropped": the same, stopped until the worker drops it for silence
#    (idle timeout); resumed it finds the connection closed; a new consumer of
#    the group gets everything;
#  - "mute": a raw client that sends Hello with a large credit and then a
#    Heartbeat every second but never reads a byte (a stalled network with a
#    live peer): kept, never fed more than the socket takes; once it goes away
#    a new consumer of the group gets everything.
# Meanwhile group "fast" keeps receiving, and the worker's resident memory
# (VmRSS, sampled every 0.2 s) stays bounded by its per-partition buffers
# rather than growing with the backlog of the stalled groups.
TEST_TIMEOUT=${TEST_TIMEOUT:-85}
source "$(dirname "$0")/lib/common.sh"

N_TX=48        # transactions of 1000 intents with a 1 KiB payload each
IDLE_MS=10000  # worker idle timeout (default 30 s; shorter to keep the test short)
make_db
q -c "SELECT intentlog.create_domain('feed', partitions => 4)" >/dev/null
start_worker w1 --idle-timeout-ms "$IDLE_MS"
W=$WORKER_PID
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$W/status"; }

# ids FILE...: "partition seq" of every event in intentlog-tail text output, sorted, once each.
ids() { awk '$2 ~ /^feed\// {split($2, a, "/"); print a[2], a[3]}' "$@" | LC_ALL=C sort -u; }
expected_ids() { q -F ' ' -c "SELECT partition, seq FROM intentlog_data.feed" | LC_ALL=C sort -u >"$SCRATCH/expected.ids"; }
missing() { LC_ALL=C comm -23 "$SCRATCH/expected.ids" <(ids "$@") | wc -l; }
wait_complete() {  # wait_complete SECONDS FILE...
  local secs=$1 i; shift
  for i in $(seq $((secs * 5))); do
    [ "$(missing "$@")" = 0 ] && return 0
    sleep 0.2
  done
  return 1
}
session_of() { sed -n "s/.*event=hello session=\([0-9]*\) group=$1 .*/\1/p" "$SCRATCH/worker-w1.log" | tail -1; }

tail_text() { start_tail "$SCRATCH/$1.txt" --connect "$(sock w1)" --group "$1" --domain feed --format text "${@:2}"; }
tail_text fast
FAST=$TAIL_PID
tail_text paused --credit 100000
PAUSED=$TAIL_PID
tail_text dropped --credit 100000
DROPPED=$TAIL_PID
$PY "$LIB_DIR/stall_client.py" mute "$(sock w1)" mute feed 100000 >"$SCRATCH/mute.out" 2>&1 &
MUTE=$!
PIDS+=("$MUTE")

# Warm-up: everybody joined and served.
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('feed', 'warm-' || i, 'x') FROM generate_series(1, 400) i) s" >/dev/null
for f in fast paused dropped; do wait_lines "$SCRATCH/$f.txt" 400 15 || fail "consumer $f got no warm-up events"; done
sleep 0.5
base=$(rss_kb)
echo "worker VmRSS with every consumer served: $((base / 1024)) MiB"

( while kill -0 "$W" 2>/dev/null; do rss_kb; sleep 0.2; done ) >"$SCRATCH/rss.kb" 2>/dev/null &
PIDS+=($!)
kill -STOP "$PAUSED" "$DROPPED"
stopped_at=$(date +%s)
( sleep 7; kill -CONT "$PAUSED" ) &
PIDS+=($!)
start=$(date +%s%N)
q -c "DO \$\$ BEGIN
        FOR t IN 1..$N_TX LOOP
          PERFORM intentlog.intent_append('feed', 'key-' || (i % 500), 'put',
                                          decode(repeat(lpad(to_hex(t * 1000 + i), 8, '0'), 256), 'hex'))
             FROM generate_series(1, 1000) i;
          COMMIT;
        END LOOP;
      END \$\$" || fail "producer failed"
produced=$(date +%s%N)
expected_ids
total=$(wc -l <"$SCRATCH/expected.ids")
echo "appended $((N_TX * 1000)) intents of 1 KiB in $(( (produced - start) / 1000000 )) ms"

wait_complete 20 "$SCRATCH/fast.txt" || fail "group fast is missing $(missing "$SCRATCH/fast.txt") events while others stall"
fast_done=$(date +%s%N)
echo "group fast: all $total events, the last $(( (fast_done - produced) / 1000000 )) ms after the producer finished"

wait_complete 25 "$SCRATCH/paused.txt" || fail "group paused is missing $(missing "$SCRATCH/paused.txt") events after resuming"
kill -0 "$PAUSED" 2>/dev/null || fail "the paused consumer lost its connection: $(cat "$SCRATCH/paused.txt.err")"
[ "$(grep -c ' feed/' "$SCRATCH/paused.txt")" = "$total" ] || fail "the paused consumer got duplicates on one connection"
echo "group paused: stopped 7 s, resumed on the same connection, got all $total events once"

# "dropped": stopped until the worker gives up on it.
sid=$(session_of dropped)
for _ in $(seq $(( (IDLE_MS / 1000 + 15) * 5 ))); do
  grep -q "event=session_error session=$sid .*code=ERROR_IDLE_TIMEOUT" "$SCRATCH/worker-w1.log" && break
  sleep 0.2
done
grep -q "event=session_error session=$sid .*code=ERROR_IDLE_TIMEOUT" "$SCRATCH/worker-w1.log" \
  || fail "the worker did not drop the stopped consumer (session $sid) for silence"
echo "group dropped: dropped by the worker $(( $(date +%s) - stopped_at )) s after it stopped"
kill -CONT "$DROPPED"
wait "$DROPPED" 2>/dev/null && fail "the dropped consumer exited 0 on a closed connection" || true
tail_text dropped
wait_complete 25 "$SCRATCH/dropped.txt" || fail "group dropped is missing $(missing "$SCRATCH/dropped.txt") events after reconnecting"
echo "group dropped: a new consumer got everything the dropped one had not"

# "mute": alive, never read; still connected, then replaced.
msid=$(session_of mute)
grep -q "event=session_error session=$msid " "$SCRATCH/worker-w1.log" && fail "the worker dropped the mute client, which kept sending heartbeats"
kill -0 "$MUTE" 2>/dev/null || fail "the mute client lost its connection: $(cat "$SCRATCH/mute.out")"
peak=$(sort -n "$SCRATCH/rss.kb" | tail -1)
kill "$MUTE"
tail_text mute
wait_complete 25 "$SCRATCH/mute.txt" || fail "group mute is missing $(missing "$SCRATCH/mute.txt") events after its client went away"
echo "group mute: a new consumer got everything once the mute client went away"
kill -0 "$FAST" 2>/dev/null || fail "the fast consumer lost its connection"
kill -0 "$W" 2>/dev/null || fail "the worker died"

# Bound: 3 stalled groups x 4 partitions x buffer (2000 events or 4 MiB), plus
# 4 MiB of queued frames per connection: about 40 MiB of events here (1 KiB
# each); the unbounded alternative would hold the whole backlog, 3 x 48 MiB.
sleep 0.5
now=$(rss_kb)
echo "worker VmRSS: before $((base / 1024)) MiB, peak while stalled $((peak / 1024)) MiB," \
  "after draining $((now / 1024)) MiB (growth $(( (peak - base) / 1024 )) MiB with $((3 * N_TX)) MiB held back)"
[ $(( (peak - base) / 1024 )) -lt 80 ] || fail "worker memory grew by $(( (peak - base) / 1024 )) MiB under stalled consumers"
echo "PASS: stalled consumers cost bounded memory, lost nothing, and did not slow the fast group"
