#!/usr/bin/env bash
# A Gap from a real server crash reaches the Python consumer as a Gap object:
# a staged domain whose intents are never promoted (promote_after 1 hour) is
# streamed to a Python consumer; the postmaster is killed -9 and restarted;
# the same worker and consumer carry on, and the consumer yields one Gap per
# range recorded in intentlog.gaps (covering the lost seqs), then the
# intents appended after the restart. Runs its own throwaway cluster.
set -euo pipefail
_LIB=$(cd "$(dirname "$0")/lib" && pwd)
OWN_CLUSTER=pygap source "$_LIB/own_cluster.sh"

make_db
q -c "SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged', promote_after => '1 hour')" >/dev/null
start_worker w1 --lease-ttl-ms 2000
$PY "$LIB_DIR/py_consumer.py" --connect "$(sock w1)" --group inval --domain cache >"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" &
C=$!; PIDS+=($C)
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('cache', 'k' || i, 'drop') FROM generate_series(1, 20) i) s" >/dev/null
wait_lines "$SCRATCH/c.jsonl" 20 15 || fail "no events before the crash: $(cat "$SCRATCH/c.err")"

"$_PG" crash "$CLUSTER"
sleep 0.5
"$_PG" start "$CLUSTER" >"$SCRATCH/restart.log" 2>&1 || fail "restart failed: $(cat "$SCRATCH/restart.log")"
for _ in $(seq 100); do
  q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('cache', 'after' || i, 'drop') FROM generate_series(1, 5) i) s" \
    >/dev/null 2>&1 && break
  sleep 0.1
done
gaps=$(q -F ' ' -c "SELECT g.partition, g.first_seq, g.last_seq FROM intentlog.gaps g
                    JOIN intentlog.domains d USING (domain_id) WHERE d.name = 'cache' ORDER BY 1, 2")
[ -n "$gaps" ] || fail "the crash recorded no gap"
n=$(echo "$gaps" | wc -l)
for _ in $(seq 200); do
  [ "$(grep -c '"gap"' "$SCRATCH/c.jsonl" || true)" -ge "$n" ] && [ "$(grep -c '"key": "after' "$SCRATCH/c.jsonl" || true)" -ge 5 ] && break
  sleep 0.1
done
kill -0 "$C" 2>/dev/null || fail "the consumer died: $(cat "$SCRATCH/c.err")"
$PY - "$SCRATCH/c.jsonl" "$gaps" <<'EOF_PY' || fail "the Gap objects do not match intentlog.gaps"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = sorted(tuple(map(int, l.split())) for l in sys.argv[2].splitlines())
got = sorted((g["gap"]["partition"], g["gap"]["first_seq"], g["gap"]["last_seq"]) for g in lines if "gap" in g)
assert got == want, "Gap objects %s, intentlog.gaps %s" % (got, want)
before = [(e["partition"], e["seq"]) for e in lines if "gap" not in e and not e["key"].startswith("after")]
lost = [pq for pq in before if not any(p == pq[0] and f <= pq[1] <= l for p, f, l in want)]
assert not lost, "delivered intents lost in the crash lie outside every gap: %s" % lost
after = [e for e in lines if "gap" not in e and e["key"].startswith("after")]
assert len(after) == 5, "%d intents appended after the restart arrived" % len(after)
print("gaps %s cover the %d unpromoted intents; 5 later intents delivered" % (want, len(before)))
EOF_PY
echo "PASS: staged domain, server kill -9: each recorded gap reached the Python consumer as a Gap object"
