-- intent_append inside the application's transaction.
\i test/regress/fixtures/after_setup.psql
CREATE TABLE app_orders (id text PRIMARY KEY, total int);

BEGIN;
INSERT INTO app_orders VALUES ('o-1', 10);
SELECT * FROM intentlog.intent_append('orders', 'o-1', 'create', '\x0a03612d31'::bytea, 1, '{"trace": "t1"}');
COMMIT;

-- A rolled-back append leaves nothing behind.
BEGIN;
INSERT INTO app_orders VALUES ('o-2', 20);
SELECT * FROM intentlog.intent_append('orders', 'o-2', 'create');
ROLLBACK;

-- The same key always lands in the same partition, in seq order.
SELECT * FROM intentlog.intent_append('orders', 'o-1', 'update', '\x08'::bytea, 2);
SELECT * FROM intentlog.intent_append('orders', 'o-1', 'delete');

-- Savepoints: a rolled-back subtransaction's intent is gone, the rest stays.
BEGIN;
SELECT * FROM intentlog.intent_append('orders', 'o-3', 'create');
SAVEPOINT s;
SELECT * FROM intentlog.intent_append('orders', 'o-3', 'oops');
ROLLBACK TO SAVEPOINT s;
SELECT * FROM intentlog.intent_append('orders', 'o-3', 'update');
COMMIT;

-- Batch form: input order, all or nothing.
SELECT * FROM intentlog.intent_append_batch('orders', ARRAY['b-1', 'b-2', 'b-1'], ARRAY['create', 'create', 'update'],
                                            ARRAY['\x01', NULL, '\x03']::bytea[]);
SELECT * FROM intentlog.intent_append_batch('orders', ARRAY[]::text[], ARRAY[]::text[]);

SELECT partition, seq, key, op, payload, expected_version, headers
  FROM intentlog_data.orders ORDER BY partition, seq;
-- Every intent of one transaction carries its top-level xid, even one
-- appended inside a savepoint.
SELECT key, count(DISTINCT xid) AS xids FROM intentlog_data.orders WHERE key IN ('o-3', 'b-1', 'b-2') GROUP BY key ORDER BY key;
SELECT count(DISTINCT xid) AS batch_xids FROM intentlog_data.orders WHERE key LIKE 'b-%';
