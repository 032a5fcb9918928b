#!/usr/bin/env bash
# DROP EXTENSION intentlog: without CASCADE it refuses while domains exist
# (SQLSTATE 2BP01, naming them, nothing dropped); with CASCADE it removes
# everything intentlog created in the database, the domains' tables and
# sequences included, and CREATE EXTENSION starts afresh. With no domain left
# a plain DROP EXTENSION works. And the other version mismatch: SQL newer than
# the loaded library makes maintenance say once that it is paused and that the
# matching build must be installed.
TEST_TIMEOUT=60
source "$(dirname "$0")/lib/common.sh"
SERVER_LOG=$PGHOST/server.log
EXTDIR=$(pg_config --sharedir)/extension
version=$(q -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'intentlog'")
FAKE="$EXTDIR/intentlog--$version--99.0.sql"
trap 'rc=$?; set +e; rm -f "$FAKE"; (exit $rc); cleanup' EXIT

log_from=$(wc -c <"$SERVER_LOG")
make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4);
      SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged');
      SELECT intentlog.intent_append('orders', 'k', 'set');
      SELECT intentlog.intent_append('cache', 'k', 'set');" >/dev/null
owned() {  # relations, types and functions in intentlog's schemas, and the schemas
  q -c "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace::regnamespace::text IN ('intentlog', 'intentlog_data'))
            || ' ' || (SELECT count(*) FROM pg_type WHERE typnamespace::regnamespace::text IN ('intentlog', 'intentlog_data'))
            || ' ' || (SELECT count(*) FROM pg_proc WHERE pronamespace::regnamespace::text IN ('intentlog', 'intentlog_data'))
            || ' ' || (SELECT count(*) FROM pg_namespace WHERE nspname IN ('intentlog', 'intentlog_data'))"
}
before=$(owned)

out=$(psql -XAtq -v VERBOSITY=verbose -c "DROP EXTENSION intentlog" 2>&1) && fail "DROP EXTENSION succeeded with 2 domains"
echo "$out" | grep -q 'ERROR:  2BP01: cannot drop extension intentlog: the database has 2 intentlog domains (cache, orders)' \
  || fail "unexpected error: $out"
echo "$out" | grep -q 'HINT:  Drop the domains first with intentlog.drop_domain(), or drop them with the extension: DROP EXTENSION intentlog CASCADE.' \
  || fail "no hint: $out"
[ "$(owned)" = "$before" ] || fail "the refused DROP EXTENSION changed something: $before -> $(owned)"
[ "$(q -c "SELECT count(*) FROM intentlog_data.orders")" = 1 ] || fail "intents gone after the refused drop"
# IF EXISTS and a list of extensions get the same answer.
psql -XAtq -c "DROP EXTENSION IF EXISTS plpgsql_missing_x, intentlog" >/dev/null 2>&1 && fail "DROP EXTENSION IF EXISTS ..., intentlog succeeded"

q -c "DROP EXTENSION intentlog CASCADE" 2>/dev/null
[ "$(owned)" = "0 0 0 0" ] || fail "left behind after DROP EXTENSION CASCADE (relations types functions schemas): $(owned)"
[ "$(q -c "SELECT count(*) FROM pg_class WHERE relname ~ '^(orders|cache)'")" = 0 ] || fail "domain tables left behind"

q -c "CREATE EXTENSION intentlog"
[ "$(owned)" != "0 0 0 0" ] || fail "CREATE EXTENSION after the drop created nothing"
q -c "SELECT intentlog.create_domain('orders', partitions => 1)" >/dev/null
[ "$(q -c "SELECT seq FROM intentlog.intent_append('orders', 'k', 'set')")" = 1 ] || fail "a recreated domain does not start at seq 1"
out=$(psql -XAtq -c "DROP EXTENSION intentlog" 2>&1) && fail "DROP EXTENSION succeeded with 1 domain"
echo "$out" | grep -q 'the database has 1 intentlog domain (orders)' || fail "unexpected error: $out"
q -c "SELECT intentlog.drop_domain('orders')" >/dev/null
q -c "DROP EXTENSION intentlog" || fail "DROP EXTENSION without domains failed"
[ "$(owned)" = "0 0 0 0" ] || fail "left behind after DROP EXTENSION: $(owned)"

# SQL newer than the library: an update path to a made-up 99.0.
q -c "CREATE EXTENSION intentlog"
echo "-- test only: a version newer than the library" >"$FAKE"
q -c "ALTER EXTENSION intentlog UPDATE TO '99.0'"
rm -f "$FAKE"
newer="intentlog maintenance paused in database \"$TEST_DB\": the extension's SQL is version 99.0, newer than the loaded library (version $version)"
for _ in $(seq 250); do
  tail -c +"$log_from" "$SERVER_LOG" | grep -qF "$newer" && break
  sleep 0.1
done
tail -c +"$log_from" "$SERVER_LOG" | grep -F -A2 "$newer" | grep -q "HINT:  Install intentlog 99.0 and restart the server" \
  || fail "no 'newer than the loaded library ... install intentlog 99.0' warning in the server log"
sleep 1
[ "$(tail -c +"$log_from" "$SERVER_LOG" | grep -cF "$newer")" = 1 ] || fail "the version warning was logged more than once"
echo "PASS: DROP EXTENSION refuses with domains (2BP01, named, nothing dropped), CASCADE and a plain drop without domains leave nothing; SQL newer than the library is reported once"
