#!/usr/bin/env bash
# ALTER EXTENSION intentlog UPDATE from the released 0.1 (sql/released/,
# checked against the tag v0.1 when the clone has it), on a database in use:
# a durable and a staged domain with intents, a consumer group's cursors part
# way, a retry with intents parked behind it, a dead letter, a registered
# schema. Then:
#   - while the SQL is 0.1 the maintenance worker (this build's library) says
#     once that it is paused and why, and resumes after the update;
#   - every catalog row is still there, unchanged;
#   - the schema equals a fresh install's with the same domains (normalized
#     pg_dump --binary-upgrade, which lists the extension's members), and the
#     comparison does see a deliberate difference;
#   - the worker resumes from the old cursors: the undelivered intents, the
#     retry and the parked intents arrive, in order per key, none lost, the
#     dead letter does not;
#   - the SQL tests (pg_regress, pgTAP) pass on a database upgraded from 0.1.
TEST_TIMEOUT=150
source "$(dirname "$0")/lib/common.sh"
source "$LIB_DIR/lifecycle.sh"
HERE=$(cd "$(dirname "$0")/../.." && pwd)
FRESH_DB=${TEST_DB}_fresh
REGRESS_DB=${TEST_DB}_regress
SERVER_LOG=$PGHOST/server.log
cleanup_dbs() {
  for db in "$FRESH_DB" "$REGRESS_DB"; do
    psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap 'rc=$?; set +e; stop_processes; cleanup_dbs; (exit $rc); cleanup' EXIT
phase() { echo "[$SECONDS s] $*"; }
version=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$HERE/intentlog.control")

# The released script is what v0.1 built, byte for byte.
if git -C "$HERE" rev-parse -q --verify 'v0.1^{commit}' >/dev/null; then
  tagged=$(mktemp -d "$SCRATCH/v0.1.XXXX")
  git -C "$HERE" archive v0.1 sql/src | tar -x -C "$tagged"
  cat $(ls "$tagged"/sql/src/*.sql | sort) | cmp -s - "$HERE/sql/released/intentlog--0.1.sql" \
    || fail "sql/released/intentlog--0.1.sql is not the install script of tag v0.1 (a released script is never edited)"
else
  echo "(tag v0.1 not in this clone: released script not compared with it)"
fi

psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $TEST_DB" >/dev/null
log_from=$(wc -c <"$SERVER_LOG")
q -c "CREATE EXTENSION intentlog VERSION '0.1'"
[ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'intentlog'")" = 0.1 ] || fail "0.1 not installed"

phase "use 0.1"
# --- Use it under 0.1 --------------------------------------------------------
use_it

phase "wait for the version warning"
# The library is $version, the SQL 0.1: the database's maintenance worker says so, once.
paused="intentlog maintenance paused in database \"$TEST_DB\""
for _ in $(seq 250); do
  tail -c +"$log_from" "$SERVER_LOG" | grep -qF "$paused" && break
  sleep 0.1
done
tail -c +"$log_from" "$SERVER_LOG" | grep -F -A2 "$paused" | grep -q 'ALTER EXTENSION intentlog UPDATE' \
  || fail "no 'paused ... run ALTER EXTENSION intentlog UPDATE' warning in the server log"
sleep 1  # five more rounds
[ "$(tail -c +"$log_from" "$SERVER_LOG" | grep -cF "$paused")" = 1 ] || fail "the version warning was logged more than once"

catalog >"$SCRATCH/catalog.before"

phase "upgrade"
# --- The upgrade -------------------------------------------------------------
q -c "ALTER EXTENSION intentlog UPDATE"
[ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'intentlog'")" = "$version" ] || fail "not updated to $version"
[ "$(q -c "SELECT intentlog.library_version()")" = "$version" ] || fail "library_version() is not $version"
catalog >"$SCRATCH/catalog.after"
diff "$SCRATCH/catalog.before" "$SCRATCH/catalog.after" >&2 || fail "the update changed catalog rows or intents"
for _ in $(seq 100); do
  tail -c +"$log_from" "$SERVER_LOG" | grep -qF "intentlog maintenance resumed in database \"$TEST_DB\"" && break
  sleep 0.1
done
tail -c +"$log_from" "$SERVER_LOG" | grep -qF "intentlog maintenance resumed in database \"$TEST_DB\"" \
  || fail "maintenance did not say it resumed after the update"

phase "schema comparison"
# --- Same schema as a fresh install with the same domains ---------------------
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $FRESH_DB" >/dev/null
q -d "$FRESH_DB" -c "CREATE EXTENSION intentlog" -c "$DOMAINS" >/dev/null
"$LIB_DIR/schema_dump.sh" "$TEST_DB" >"$SCRATCH/schema.upgraded"
"$LIB_DIR/schema_dump.sh" "$FRESH_DB" >"$SCRATCH/schema.fresh"
[ "$(grep -c 'CREATE FUNCTION intentlog\.' "$SCRATCH/schema.fresh")" -gt 50 ] || fail "the dump does not list the extension's functions"
diff -u "$SCRATCH/schema.fresh" "$SCRATCH/schema.upgraded" >"$SCRATCH/schema.diff" \
  || { head -150 "$SCRATCH/schema.diff" >&2; fail "the upgraded schema differs from a fresh $version install"; }
# The comparison sees a difference: one default changed in the fresh database.
q -d "$FRESH_DB" -c "ALTER TABLE intentlog.domains ALTER COLUMN max_attempts SET DEFAULT 9"
"$LIB_DIR/schema_dump.sh" "$FRESH_DB" >"$SCRATCH/schema.changed"
if diff "$SCRATCH/schema.changed" "$SCRATCH/schema.upgraded" >"$SCRATCH/schema.diff2"; then
  fail "the schema comparison did not see a changed column default"
fi
grep -q 'max_attempts integer DEFAULT 9' "$SCRATCH/schema.diff2" || fail "the comparison's difference is not the changed default"

phase "worker"
# --- The worker resumes from the old cursors ----------------------------------
owed "$SCRATCH"
drain "$SCRATCH"
# New appends after the upgrade stream too, with new seqs.
append orders 81 90
wait_lines "$SCRATCH/orders.jsonl" $(( $(wc -l <"$SCRATCH/expected.orders") + 10 )) 20 || fail "appends after the update were not delivered"

phase "pg_regress"
# --- The SQL tests on an installation upgraded from 0.1 ---------------------------
# Each regress file starts from a fresh CREATE EXTENSION (test/regress/fixtures/
# fresh.sql). With the $version install script out of the way, PostgreSQL can
# only make $version by installing 0.1 and running the upgrade script: the SQL
# tests then run on what ALTER EXTENSION UPDATE makes. The script is put back
# on exit, whatever happens.
EXTDIR=$(pg_config --sharedir)/extension
INSTALL_SCRIPT=$EXTDIR/intentlog--$version.sql
mv "$INSTALL_SCRIPT" "$SCRATCH/"
trap 'rc=$?; set +e; mv "$SCRATCH/intentlog--$version.sql" "$INSTALL_SCRIPT" 2>/dev/null || true; stop_processes; cleanup_dbs; (exit $rc); cleanup' EXIT
[ "$(q -d postgres -c "SELECT string_agg(version, ' ' ORDER BY version) FROM pg_available_extension_versions
                      WHERE name = 'intentlog'")" = "0.1 $version" ] || fail "$version not reachable through the update path"
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $REGRESS_DB" >/dev/null
# What pg_regress sets on the databases it creates itself.
q -d "$REGRESS_DB" -c "ALTER DATABASE $REGRESS_DB SET lc_messages TO 'C'" \
  -c "ALTER DATABASE $REGRESS_DB SET lc_monetary TO 'C'" -c "ALTER DATABASE $REGRESS_DB SET lc_numeric TO 'C'" \
  -c "ALTER DATABASE $REGRESS_DB SET lc_time TO 'C'" -c "ALTER DATABASE $REGRESS_DB SET bytea_output TO 'hex'" \
  -c "ALTER DATABASE $REGRESS_DB SET timezone_abbreviations TO 'Default'"
PGXS_DIR=$(dirname "$(dirname "$(pg_config --pgxs)")")
tests=$(sed -n 's/^REGRESS *= *//p' "$HERE/Makefile")
(cd "$HERE" && "$PGXS_DIR/test/regress/pg_regress" --inputdir=test/regress --outputdir="$SCRATCH/regress" \
   --bindir="$(dirname "$(command -v psql)")" --use-existing --dbname="$REGRESS_DB" $tests) >"$SCRATCH/regress.log" 2>&1 \
  || { tail -20 "$SCRATCH/regress.log" >&2; head -60 "$SCRATCH/regress/regression.diffs" >&2; fail "pg_regress failed on an upgraded database"; }
phase "pgTAP"
psql -XAtq -d postgres -c "DROP DATABASE $REGRESS_DB WITH (FORCE)"
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $REGRESS_DB" >/dev/null
q -d "$REGRESS_DB" -c "CREATE EXTENSION intentlog"
pg_prove -d "$REGRESS_DB" "$HERE"/test/pgtap/*.sql >"$SCRATCH/pgtap.log" 2>&1 \
  || { tail -30 "$SCRATCH/pgtap.log" >&2; fail "pgTAP failed on an upgraded database"; }
mv "$SCRATCH/intentlog--$version.sql" "$INSTALL_SCRIPT"

echo "PASS: 0.1 -> $version in use: catalog kept, schema equal to a fresh install (and the comparison sees a changed default), the worker resumed from the old cursors ($(wc -l <"$SCRATCH/expected.orders") + $(wc -l <"$SCRATCH/expected.cache") intents, retry and parked included, none lost), one version warning while paused, pg_regress and pgTAP pass on an upgraded database"
