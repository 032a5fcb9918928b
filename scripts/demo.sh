#!/usr/bin/env bash
# The main job, end to end, on a throwaway cluster:
#   PostgreSQL 15 + CREATE EXTENSION intentlog + a domain
#   -> an application appends intents inside its own transactions
#      (one of them rolls back, one stays open for a while)
#   -> intentlog-worker drains the log per key
#   -> intentlog-tail prints the events as JSON lines and acks them.
# Everything is removed at the end. Works as root and as an ordinary user.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"

scripts/install-deps.sh
echo "== building"
make -s >/dev/null
make -s programs >/dev/null
scripts/pg.sh install

NAME=demo-$$
WORKER_PID=
cleanup() {
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null
  scripts/pg.sh stop "$NAME" --rm >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo "== starting a throwaway PostgreSQL 15 cluster"
scripts/pg.sh start "$NAME"
eval "$(scripts/pg.sh env "$NAME")"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "== CREATE EXTENSION intentlog; a domain 'orders' with 4 partitions"
psql <<'SQL'
CREATE EXTENSION intentlog;
SELECT intentlog.create_domain('orders', partitions => 4) \g /dev/null
CREATE TABLE orders (id text PRIMARY KEY, status text, total_cents int);
SQL

echo "== the application writes orders; each write records its intent in the same transaction"
psql <<'SQL'
BEGIN;
INSERT INTO orders VALUES ('o-1', 'created', 1200);
SELECT partition, seq FROM intentlog.intent_append('orders', 'o-1', 'created', '\x0801'::bytea, 1, '{"trace_id": "t-1"}');
COMMIT;
BEGIN;
UPDATE orders SET status = 'paid' WHERE id = 'o-1';
SELECT partition, seq FROM intentlog.intent_append('orders', 'o-1', 'paid', '\x0802'::bytea, 2);
COMMIT;
-- A failed write: its intent rolls back with it and is never delivered.
BEGIN;
INSERT INTO orders VALUES ('o-2', 'created', 99);
SELECT partition, seq FROM intentlog.intent_append('orders', 'o-2', 'created');
ROLLBACK;
-- Many intents in one call.
SELECT count(*) AS batch_appended FROM intentlog.intent_append_batch('orders',
  ARRAY['o-3', 'o-4', 'o-5', 'o-3'], ARRAY['created', 'created', 'created', 'cancelled']);
SQL
# A long transaction holds an intent open while the rest flows past it.
( command psql -X -q -c "BEGIN; INSERT INTO orders VALUES ('o-6', 'created', 600);
    SELECT intentlog.intent_append('orders', 'o-6', 'created'); SELECT pg_sleep(2); COMMIT;" >/dev/null ) &
LONG_PID=$!

SOCK=$(scripts/pg.sh dir "$NAME")/intentlog.sock
echo "== starting intentlog-worker on unix:$SOCK"
build/intentlog-worker --db "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" \
  --listen "unix:$SOCK" --log-level warn &
WORKER_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done

echo "== intentlog-tail: the consumer group 'billing' reads every committed intent, in order per key"
build/intentlog-tail --connect "unix:$SOCK" --group billing --domain orders --from earliest --limit 7 --format json
wait "$LONG_PID"

echo "== what a DBA sees: the committed cursors of group 'billing'"
psql -c "SELECT c.group_name, d.name AS domain, c.partition, c.watermark, c.updated_at
           FROM intentlog.cursors c JOIN intentlog.domains d USING (domain_id) ORDER BY 3"
echo "== done: the cluster is removed"
