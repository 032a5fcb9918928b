#!/usr/bin/env bash
# Two workers on one database split a group's partitions through leases in
# SQL; when one is killed with -9, the other takes its partitions over once
# the lease expires, and its consumer receives everything the dead worker had
# not committed (at-least-once).
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('jobs', partitions => 8)" >/dev/null
TTL=1500
start_worker wa --lease-ttl-ms $TTL
WA=$WORKER_PID
start_worker wb --lease-ttl-ms $TTL
start_tail "$SCRATCH/a.jsonl" --connect "$(sock wa)" --group crunch --domain jobs --client-name on-a
start_tail "$SCRATCH/b.jsonl" --connect "$(sock wb)" --group crunch --domain jobs --client-name on-b

# Both workers hold an even share (4 + 4) within a few lease periods.
split=
for _ in $(seq 100); do
  split=$(q -c "SELECT string_agg(worker_id || '=' || n, ' ' ORDER BY worker_id)
                FROM (SELECT worker_id, count(*) n FROM intentlog.leases GROUP BY 1) s")
  [ "$split" = "wa=4 wb=4" ] && break
  sleep 0.1
done
[ "$split" = "wa=4 wb=4" ] || fail "partitions not split evenly between the workers: $split"
echo "leases: $split"

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('jobs', 'job-' || i, 'run') FROM generate_series(1, 2000) i) s" >/dev/null
expected_intents jobs "$SCRATCH/expected"
for _ in $(seq 200); do
  [ $(( $(wc -l <"$SCRATCH/a.jsonl") + $(wc -l <"$SCRATCH/b.jsonl") )) -ge 2000 ] && break
  sleep 0.1
done
check --expected "$SCRATCH/expected" --strict --disjoint "$SCRATCH/a.jsonl" "$SCRATCH/b.jsonl" \
  || fail "the two workers did not split the partitions"

# Worker a dies; the consumer on b gets a's partitions after the lease expires.
kill -9 "$WA"
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('jobs', 'after-' || i, 'run') FROM generate_series(1, 1000) i) s" >/dev/null
expected_intents jobs "$SCRATCH/expected"
start=$(date +%s%N)
for _ in $(seq 200); do
  [ "$(q -c "SELECT count(DISTINCT worker_id) || ':' || count(*) FROM intentlog.leases WHERE expires_at > now()")" = "1:8" ] && break
  sleep 0.1
done
for _ in $(seq 300); do
  check --expected "$SCRATCH/expected" "$SCRATCH/a.jsonl" "$SCRATCH/b.jsonl" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "takeover and catch-up took $(( ($(date +%s%N) - start) / 1000000 )) ms (lease ttl $TTL ms)"
check --expected "$SCRATCH/expected" "$SCRATCH/a.jsonl" "$SCRATCH/b.jsonl" \
  || fail "intents of the dead worker's partitions were not delivered by the survivor"
[ "$(q -c "SELECT string_agg(DISTINCT worker_id, ',') FROM intentlog.leases")" = wb ] || fail "wb does not hold every lease"
echo "PASS: leases split partitions between workers; a dead worker's partitions were taken over"
