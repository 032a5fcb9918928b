#!/usr/bin/env bash
# Gap frames: a range a staged domain may have lost (a row in intentlog.gaps,
# written here by hand instead of crashing the server) reaches each consumer
# group exactly once as a Gap frame; intentlog-tail prints it as {"gap": ...}.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged')" >/dev/null
start_worker w1 --lease-ttl-ms 900
start_tail "$SCRATCH/a1.jsonl" --connect "$(sock w1)" --group inval --domain cache
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('cache', 'k' || i, 'drop') FROM generate_series(1, 10) i) s" >/dev/null
wait_lines "$SCRATCH/a1.jsonl" 10 10 || fail "no events before the gap"

q -c "INSERT INTO intentlog.gaps (domain_id, partition, first_seq, last_seq, reason)
      SELECT domain_id, 1, 100, 120, 'test: simulated crash' FROM intentlog.domains WHERE name = 'cache'" >/dev/null
wait_lines "$SCRATCH/a1.jsonl" 11 10 || fail "the consumer got no Gap frame"
grep -q '{"gap":{"domain":"cache","partition":1,"first_seq":100,"last_seq":120' "$SCRATCH/a1.jsonl" \
  || fail "unexpected gap line: $(grep gap "$SCRATCH/a1.jsonl")"
[ "$(q -c "SELECT count(*) FROM intentlog.gap_notices WHERE group_name = 'inval'")" = 1 ] \
  || fail "the gap was not recorded as reported"

# Reported once per group: a reconnecting consumer of the group is not told again ...
kill "$TAIL_PID"; wait "$TAIL_PID" 2>/dev/null || true
timeout 10 "$TAIL_BIN" --connect "$(sock w1)" --group inval --domain cache --idle-exit-ms 1500 >"$SCRATCH/a2.jsonl" 2>/dev/null || true
grep -q '"gap"' "$SCRATCH/a2.jsonl" && fail "the gap was reported to group inval twice"
# ... while another group is.
timeout 10 "$TAIL_BIN" --connect "$(sock w1)" --group other --domain cache --idle-exit-ms 1500 >"$SCRATCH/b.jsonl" 2>/dev/null || true
[ "$(grep -c '"gap"' "$SCRATCH/b.jsonl" || true)" = 1 ] || fail "group other was not told about the gap exactly once"
[ "$(grep -vc '"gap"' "$SCRATCH/b.jsonl" || true)" = 10 ] || fail "group other did not get the 10 events"
echo "PASS: gaps reach every group once as a Gap frame"
