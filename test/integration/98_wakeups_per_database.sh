#!/usr/bin/env bash
# Wake-ups follow their own database's commits (docs/DESIGN.md, "Wake-ups"):
#   1. intentlog.wait_for_intents in database A sleeps through 20 appending
#      commits in database B and returns at its timeout with nothing;
#   2. an appending commit in A ends the same wait at once, with its
#      partition.
# Before, every appending commit of the cluster ended every wait of every
# database: an idle database's worker made one round trip per commit of a
# busy neighbour (707 a second next to 1,000 commits a second).
source "$(dirname "$0")/lib/common.sh"

OTHER_DB=""
trap 'rc=$?; set +e; [ -n "$OTHER_DB" ] && psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $OTHER_DB WITH (FORCE)" >/dev/null 2>&1; (exit $rc); cleanup' EXIT

make_db
q -c "SELECT intentlog.create_domain('a', partitions => 2)" >/dev/null
# Databases share one of 64 wake-up slots by a hash of their oid
# (wakeup.cpp, db_slot); B must not share A's.
slot_of() {
  $PY -c 'import sys; print((((int(sys.argv[1]) * 0x9E3779B97F4A7C15) % 2**64) >> 32) % 64)' \
    "$(psql -XAtq -d postgres -c "SELECT oid FROM pg_database WHERE datname = '$1'")"
}
for i in 1 2 3 4 5; do
  OTHER_DB=${TEST_DB}_other$i
  psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $OTHER_DB" >/dev/null
  [ "$(slot_of "$OTHER_DB")" != "$(slot_of "$TEST_DB")" ] && break
  psql -XAtq -d postgres -c "DROP DATABASE $OTHER_DB" >/dev/null
done
psql -XAtq -d "$OTHER_DB" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION intentlog" \
  -c "SELECT intentlog.create_domain('b', partitions => 2)" >/dev/null

tick=$(q -c "SELECT max(tick) FROM intentlog.wait_for_intents(0, 0)")

# 1. B's commits do not end A's wait.
q -c "SELECT count(partition), round(extract(epoch FROM clock_timestamp() - statement_timestamp()), 1)
        FROM intentlog.wait_for_intents($tick, 3000)" >"$SCRATCH/wait1" &
WAIT=$!
PIDS+=("$WAIT")
sleep 0.3
psql -XAtq -d "$OTHER_DB" -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
    FOR i IN 1..20 LOOP
      PERFORM intentlog.intent_append('b', 'k' || i, 'set');
      COMMIT;
      PERFORM pg_sleep(0.1);
    END LOOP;
  END \$\$" || fail "the appends in the other database failed"
wait "$WAIT" || fail "wait_for_intents failed"
IFS='|' read -r rows secs <"$SCRATCH/wait1"
[ "$rows" = 0 ] || fail "database A's wait reported $rows partitions after commits in database B only"
$PY -c "import sys; sys.exit(0 if float('$secs') >= 2.9 else 1)" \
  || fail "database A's wait ended after $secs s, before its 3 s timeout, on database B's commits"
echo "ok 1: 20 commits in another database did not end the wait (it returned at its timeout, ${secs} s)"

# 2. A's own commit ends it at once.
q -c "SELECT string_agg(domain || ':' || partition, ','),
             round(extract(epoch FROM clock_timestamp() - statement_timestamp()), 1)
        FROM intentlog.wait_for_intents($tick, 20000)" >"$SCRATCH/wait2" &
WAIT=$!
PIDS+=("$WAIT")
sleep 0.5
q -c "SELECT intentlog.intent_append('a', 'x', 'set')" >/dev/null
wait "$WAIT" || fail "wait_for_intents failed"
IFS='|' read -r parts secs <"$SCRATCH/wait2"
[ "$parts" = "a:$(q -c "SELECT intentlog.partition_for('x', 2)")" ] \
  || fail "the wait returned '$parts', expected the partition of database A's commit"
$PY -c "import sys; sys.exit(0 if float('$secs') < 10 else 1)" || fail "the wait took $secs s to see its own database's commit"
echo "ok 2: a commit in the same database ended the wait (after ${secs} s, with its partition)"
echo "PASS: wake-ups follow their own database's commits"
