#!/usr/bin/env bash
# One partition's locked table does not hold up the others' promotion. A DBA
# holds a SHARE lock on partition 0's logged segment (what CREATE INDEX takes;
# it blocks the promotion's insert into it) while partition 1 is promoted: intents of
# partition 1 are still made durable within about promote_after, partition
# 0's wait in its hot table (the maintenance worker gives up on the lock after
# lock_timeout and tries again next round) and are promoted once the lock goes.
# With one transaction per round, partition 1 waited with it.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('jobs', partitions => 2, durability => 'staged', promote_after => '200 ms')" >/dev/null
seg0=$(q -c "SELECT durable_rel FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
              WHERE d.name = 'jobs' AND p.partition = 0")
# A key of each partition.
k0=$(q -c "SELECT 'k' || g FROM generate_series(1, 100) g WHERE intentlog.partition_for('k' || g, 2) = 0 LIMIT 1")
k1=$(q -c "SELECT 'k' || g FROM generate_series(1, 100) g WHERE intentlog.partition_for('k' || g, 2) = 1 LIMIT 1")
# One intent of each first, before the lock: a sequence's first value writes
# WAL, and an append whose transaction wrote WAL goes straight to the segment
# (which the lock below would block). The next ones take the hot table. The
# checkpoint first: the next one (after which a sequence logs again) is
# minutes away.
q -c "CHECKPOINT" -c "SELECT intentlog.intent_append('jobs', '$k0', 'warm')" \
  -c "SELECT intentlog.intent_append('jobs', '$k1', 'warm')" >/dev/null
hot_rows() {
  q -c "SELECT count(*) FROM ONLY intentlog_data.jobs_p000$1_hot"
}
# wait_promoted PARTITION SECONDS: until the partition's hot table is empty.
wait_promoted() {
  for _ in $(seq $(($2 * 10))); do
    [ "$(hot_rows "$1")" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}

# The DBA's session: holds the lock until the test lets it go (it cancels the
# sleep; a fixed hold of a few seconds ran out on a loaded machine, where
# each psql call of the checks below takes half a second).
psql -XAtq -v ON_ERROR_STOP=1 -c "BEGIN" -c "LOCK TABLE $seg0 IN SHARE MODE" \
  -c "SELECT pg_sleep(120) /* intentlog test 91 locker */" -c "COMMIT" >/dev/null 2>"$SCRATCH/locker.err" &
LOCKER=$!
PIDS+=("$LOCKER")
for _ in $(seq 50); do
  [ "$(q -c "SELECT count(*) FROM pg_locks WHERE relation = '$seg0'::regclass AND mode = 'ShareLock' AND granted")" = 1 ] && break
  sleep 0.1
done
[ "$(q -c "SELECT count(*) FROM pg_locks WHERE relation = '$seg0'::regclass AND mode = 'ShareLock' AND granted")" = 1 ] \
  || fail "the locking session did not get its lock"

# Partition 0's intent is appended first, so that a round meets it first.
q -c "SELECT intentlog.intent_append('jobs', '$k0', 'run')" -c "SELECT intentlog.intent_append('jobs', '$k1', 'run')" >/dev/null
wait_promoted 1 3 || fail "partition 1 was not promoted within 3 s while partition 0's segment was locked"
[ "$(hot_rows 0)" = 1 ] || fail "partition 0's intent left its hot table although its segment was locked"
# Several rounds later, still the same: partition 1 keeps being promoted.
q -c "SELECT intentlog.intent_append('jobs', '$k1', 'run')" >/dev/null
wait_promoted 1 3 || fail "partition 1's second intent was not promoted within 3 s"
kill -0 "$LOCKER" 2>/dev/null || fail "the lock was released too early for this test to mean anything"

q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%intentlog test 91 locker%'
        AND pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" || true
grep -q "canceling statement due to user request" "$SCRATCH/locker.err" \
  || fail "the locking session failed: $(cat "$SCRATCH/locker.err")"
wait_promoted 0 5 || fail "partition 0 was not promoted within 5 s of the lock's release"
[ "$(q -c "SELECT count(*) FROM intentlog_data.jobs")" = 5 ] || fail "expected 5 intents in the domain"
[ "$(q -c "SELECT count(*) FROM ONLY $seg0")" = 2 ] || fail "partition 0's intents are not in its segment"
echo "ok: partition 1 promoted while partition 0's segment was locked; partition 0 promoted after"
