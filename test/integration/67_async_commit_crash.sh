#!/usr/bin/env bash
# Flushed delivery: an application that commits with synchronous_commit = off
# makes its intents visible before their WAL is on disk. The worker must not
# hand such an intent to a consumer until its commit is durable, or a server
# crash erases intents a consumer already acted on (and their seqs are handed
# out again).
#
# Deterministic: the WAL writer sleeps 10 s between background flushes, the
# producer commits asynchronously and then stops, and the postmaster is
# killed with -9 as soon as the consumer has printed every intent, long
# before the WAL writer would have flushed the tail of the WAL. After the
# restart every intent the consumer saw must still be in the log under the
# same (partition, seq), and intents appended after the restart must take
# new seqs.
#
# Runs its own throwaway cluster (it crashes it).
set -euo pipefail
_LIB=$(cd "$(dirname "$0")/lib" && pwd)
OWN_CLUSTER=async-crash source "$_LIB/own_cluster.sh"

psql -XAtq -d postgres -c "ALTER SYSTEM SET wal_writer_delay = '10s'" -c "SELECT pg_reload_conf()" >/dev/null
N=${ASYNC_CRASH_INTENTS:-400}
make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4)" >/dev/null

start_worker w1
start_tail "$SCRATCH/c1.jsonl" --connect "$(sock w1)" --group billing --domain orders

# Let whatever the setup wrote reach the disk, so that what follows is the
# only unflushed WAL: intents committed asynchronously, one per transaction.
q -c "CHECKPOINT" >/dev/null
{
  echo "SET synchronous_commit = off;"
  for i in $(seq "$N"); do
    echo "BEGIN; SELECT 1 FROM intentlog.intent_append('orders', 'k-$((i % 37))', 'op', int8send($i)); COMMIT;"
  done
} >"$SCRATCH/producer.sql"
q -f "$SCRATCH/producer.sql" >/dev/null
wait_lines "$SCRATCH/c1.jsonl" "$N" 10 || fail "the consumer got $(wc -l <"$SCRATCH/c1.jsonl") of $N intents"
"$_PG" crash "$CLUSTER"
cp "$SCRATCH/c1.jsonl" "$SCRATCH/before-crash.jsonl"
echo "postmaster killed (-9) right after the consumer printed all $N intents"
"$_PG" start "$CLUSTER" >"$SCRATCH/restart.log" 2>&1 || fail "restart failed: $(cat "$SCRATCH/restart.log")"

# Appends after the restart: their seqs must be new.
{
  echo "SET synchronous_commit = off;"
  for i in $(seq 100); do
    echo "BEGIN; SELECT 1 FROM intentlog.intent_append('orders', 'after-$((i % 37))', 'op', int8send($i)); COMMIT;"
  done
} >"$SCRATCH/after.sql"
q -f "$SCRATCH/after.sql" >/dev/null
expected_intents orders "$SCRATCH/log"

$PY - "$SCRATCH/before-crash.jsonl" "$SCRATCH/log" <<'PY' || fail "delivered intents were erased by the crash"
import json, sys
delivered = {}
with open(sys.argv[1]) as f:
    for line in f:
        if line.strip():
            e = json.loads(line)
            if "gap" not in e:
                delivered[(int(e["partition"]), int(e["seq"]))] = e["key"]
log = {}
with open(sys.argv[2]) as f:
    for line in f:
        p, s, k = line.rstrip("\n").split(" ", 2)
        log[(int(p), int(s))] = k
missing = sorted(i for i in delivered if i not in log)
reused = sorted(i for i in delivered if i in log and log[i] != delivered[i])
print(f"{len(delivered)} intents delivered before the crash, {len(missing)} of them missing after it, "
      f"{len(reused)} of their (partition, seq) reused by another key; {len(log)} intents in the log")
if missing:
    print("missing (partition, seq):", missing[:20])
if reused:
    print("reused (partition, seq):", reused[:20])
sys.exit(1 if missing or reused else 0)
PY
echo "PASS: asynchronous commits, server kill -9: every delivered intent survived, no seq reused"
