#!/usr/bin/env bash
# intentlog.metrics() on a server without intentlog in shared_preload_libraries:
# appends work, the append counters are NULL and a warning says why and how
# to fix it; the rest of the row (partitions, backlog) is still there.
OWN_CLUSTER=nopreload source "$(dirname "$0")/lib/own_cluster.sh"

data=$(q -d postgres -c 'SHOW data_directory')
echo "shared_preload_libraries = ''" >>"$data/postgresql.conf"
"$_PG" stop "$CLUSTER" >/dev/null
"$_PG" start "$CLUSTER" >/dev/null
[ -z "$(q -d postgres -c 'SHOW shared_preload_libraries')" ] || fail "the server still preloads intentlog"

make_db
q -c "SELECT intentlog.create_domain('d', partitions => 2)" >/dev/null
q -c "SELECT count(*) FROM intentlog.intent_append_batch('d', ARRAY['a', 'b'], ARRAY['x', 'x'])" >/dev/null
row=$(psql -XAt -v ON_ERROR_STOP=1 -d "$TEST_DB" -c "SELECT domain, intents_committed IS NULL, intents_rolled_back IS NULL,
        append_transactions IS NULL, counters_since IS NULL, partitions, retries FROM intentlog.metrics()" 2>"$SCRATCH/err")
[ "$row" = "d|t|t|t|t|2|0" ] || fail "metrics() without preload: $row"
grep -q 'WARNING:  intentlog append counters are not kept: the library is not in shared_preload_libraries' "$SCRATCH/err" ||
  fail "no warning: $(cat "$SCRATCH/err")"
grep -q 'HINT:  Add intentlog to shared_preload_libraries' "$SCRATCH/err" || fail "no hint: $(cat "$SCRATCH/err")"
echo "PASS: without shared_preload_libraries appends work and intentlog.metrics() returns NULL counters with a warning and a hint"
