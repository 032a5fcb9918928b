#!/usr/bin/env bash
# pg_dump of a database in use (a durable and a staged domain, cursors part
# way, a retry with parked intents, a dead letter, a schema), restored with
# pg_restore into a new database: the catalog and the intents are the same,
# every partition's seq goes on where it was (new appends get new seqs, none
# reused), a new domain gets a new id, and a worker on the restored database
# resumes from the dumped cursors with nothing lost.
TEST_TIMEOUT=150
source "$(dirname "$0")/lib/common.sh"
source "$LIB_DIR/lifecycle.sh"
# The database in use is dumped from DUMPED_DB and restored into TEST_DB,
# the one the worker (start_worker) connects to.
DUMPED_DB=${TEST_DB}_dumped
trap 'rc=$?; set +e; stop_processes; psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DUMPED_DB WITH (FORCE)" >/dev/null 2>&1 || true; (exit $rc); cleanup' EXIT
last_seqs() {
  q -c "SELECT d.name, p.partition, intentlog._last_seq(p.seq_rel) FROM intentlog.partitions p
          JOIN intentlog.domains d USING (domain_id) ORDER BY 1, 2"
}

export PGDATABASE=$DUMPED_DB
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $DUMPED_DB" >/dev/null
q -c "CREATE EXTENSION intentlog"
use_it
catalog >"$SCRATCH/catalog.dumped"
last_seqs >"$SCRATCH/seqs.dumped"
max_domain_id=$(q -c "SELECT max(domain_id) FROM intentlog.domains")
pg_dump -Fc -f "$SCRATCH/db.dump" "$DUMPED_DB" || fail "pg_dump failed"

export PGDATABASE=$TEST_DB
psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $TEST_DB" >/dev/null
pg_restore --exit-on-error -d "$TEST_DB" "$SCRATCH/db.dump" 2>"$SCRATCH/restore.err" \
  || { cat "$SCRATCH/restore.err" >&2; fail "pg_restore failed"; }
[ -s "$SCRATCH/restore.err" ] && { cat "$SCRATCH/restore.err" >&2; fail "pg_restore printed errors or warnings"; }
catalog >"$SCRATCH/catalog.restored"
diff "$SCRATCH/catalog.dumped" "$SCRATCH/catalog.restored" >&2 || fail "catalog rows or intents differ after restore"
last_seqs >"$SCRATCH/seqs.restored"
diff "$SCRATCH/seqs.dumped" "$SCRATCH/seqs.restored" >&2 || fail "partition seqs differ after restore"
[ "$(q -c "SELECT count(*) FROM intentlog.crash_sentinel")" = 1 ] || fail "the restored database looks crashed"
[ "$(q -c "SELECT count(*) FROM intentlog.gaps")" = 0 ] || fail "gaps recorded in the restored database"
# The dumped database goes away: nothing can be delivered from it.
psql -XAtq -d postgres -c "DROP DATABASE $DUMPED_DB WITH (FORCE)"

owed "$SCRATCH"
drain "$SCRATCH"

# Appends go on with new seqs; a new domain gets a new id.
q -c "CREATE TABLE public.seen AS SELECT 'orders' AS d, partition, max(seq) AS top FROM intentlog_data.orders GROUP BY 1, 2
      UNION ALL SELECT 'cache', partition, max(seq) FROM intentlog_data.cache GROUP BY 1, 2"
append orders 81 100 || fail "appends to orders after the restore failed"
append cache 41 50 || fail "appends to cache after the restore failed"
reused=$(q -c "SELECT count(*) FROM (SELECT 'orders' AS d, partition, seq, payload FROM intentlog_data.orders
                                     UNION ALL SELECT 'cache', partition, seq, payload FROM intentlog_data.cache) i
                JOIN public.seen s USING (d, partition)
               WHERE convert_from(i.payload, 'UTF8')::int > 80 - 40 * (d = 'cache')::int AND i.seq <= s.top")
[ "$reused" = 0 ] || fail "$reused appends after the restore got a seq at or below one handed out before the dump"
new_id=$(q -c "SELECT intentlog.create_domain('after_restore', partitions => 2)") || fail "create_domain after the restore failed"
[ "$new_id" -gt "$max_domain_id" ] || fail "the new domain got id $new_id, not above the restored $max_domain_id"
n_orders=$(wc -l <"$SCRATCH/expected.orders")
n_cache=$(wc -l <"$SCRATCH/expected.cache")
wait_lines "$SCRATCH/orders.jsonl" $((n_orders + 20)) 20 || fail "orders appended after the restore were not delivered"
wait_lines "$SCRATCH/cache.jsonl" $((n_cache + 10)) 20 || fail "cache intents appended after the restore were not delivered"
echo "PASS: dump and restore kept catalog, intents, seqs, cursors, retries, parked intents and the dead letter; the worker delivered the $n_orders + $n_cache owed intents and the 30 appended after the restore; no seq or domain id reused"
