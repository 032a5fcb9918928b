#!/usr/bin/env bash
# The maintenance worker of a database stays (one process, not one every few
# seconds) and still never keeps the database from statements that need it
# alone: CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME and DROP
# DATABASE, all without FORCE, succeed while it runs, because the extension
# asks it to leave first. Nobody but the database's owner can make it leave.
TEST_TIMEOUT=${TEST_TIMEOUT:-90}  # waits out the launcher's 10-s relaunch delay twice
source "$(dirname "$0")/lib/common.sh"

COPY_DB="${TEST_DB}_copy"
RENAMED_DB="${TEST_DB}_renamed"
OTHER_ROLE="il_not_owner_$$"
drop_extra() {
  for db in "$COPY_DB" "$RENAMED_DB"; do
    psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  psql -XAtq -d postgres -c "DROP ROLE IF EXISTS $OTHER_ROLE" >/dev/null 2>&1 || true
}
trap 'rc=$?; drop_extra; (exit $rc); cleanup' EXIT

# worker_pid DB: pid of DB's maintenance worker, empty if none.
worker_pid() {
  psql -XAtq -d postgres -c "SELECT pid FROM pg_stat_activity
                             WHERE backend_type = 'intentlog maintenance' AND datname = '$1'"
}
# wait_worker DB: waits (bounded) for DB's maintenance worker and prints its pid.
wait_worker() {
  local pid
  for _ in $(seq 300); do
    pid=$(worker_pid "$1")
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    sleep 0.1
  done
  fail "no maintenance worker came to database $1 within 30 s"
}

make_db
q -c "SELECT intentlog.create_domain('jobs', partitions => 2, durability => 'staged')" >/dev/null
pid=$(wait_worker "$TEST_DB")

# Stays: the same process 5 s later (it used to be replaced every 3 s).
sleep 5
[ "$(worker_pid "$TEST_DB")" = "$pid" ] || fail "the maintenance worker was replaced: $pid, then $(worker_pid "$TEST_DB")"
# ... and keeps promoting.
q -c "SELECT intentlog.intent_append('jobs', 'k1', 'run')" >/dev/null
for _ in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM intentlog_data.jobs_p0000_hot") $(q -c "SELECT count(*) FROM intentlog_data.jobs_p0001_hot")" = "0 0" ] && break
  sleep 0.1
done
[ "$(q -c "SELECT count(*) FROM intentlog_data.jobs_p0000_hot") $(q -c "SELECT count(*) FROM intentlog_data.jobs_p0001_hot")" = "0 0" ] \
  || fail "the staged intent was not promoted within 10 s"

# Someone who does not own the database cannot make it leave.
psql -XAtq -d postgres -c "CREATE ROLE $OTHER_ROLE LOGIN CREATEDB" >/dev/null
err=$(psql -XAtq -d postgres -U "$OTHER_ROLE" -c "DROP DATABASE $TEST_DB" 2>&1) && fail "a non-owner dropped the database"
grep -q "must be owner of database" <<<"$err" || fail "unexpected error for a non-owner's DROP DATABASE: $err"
sleep 0.5
[ "$(worker_pid "$TEST_DB")" = "$pid" ] || fail "a non-owner's DROP DATABASE made the maintenance worker leave"

# The owner's statements that need the database alone succeed without FORCE.
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $COPY_DB TEMPLATE $TEST_DB" >/dev/null \
  || fail "CREATE DATABASE ... TEMPLATE failed while the maintenance worker ran"
[ "$(psql -XAtq -d "$COPY_DB" -c "SELECT count(*) FROM intentlog_data.jobs")" = 1 ] || fail "the copy does not have the intent"
wait_worker "$TEST_DB" >/dev/null
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "ALTER DATABASE $TEST_DB RENAME TO $RENAMED_DB" >/dev/null \
  || fail "ALTER DATABASE ... RENAME failed while the maintenance worker ran"
wait_worker "$RENAMED_DB" >/dev/null
wait_worker "$COPY_DB" >/dev/null
for db in "$RENAMED_DB" "$COPY_DB"; do
  psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE $db" >/dev/null \
    || fail "DROP DATABASE $db failed while its maintenance worker ran"
done
echo "ok: the maintenance worker stayed (pid $pid) and left for CREATE ... TEMPLATE, RENAME and DROP DATABASE"
