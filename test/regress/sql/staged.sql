-- Staged durability: appends go to the unlogged hot table (unless their
-- transaction flushes the WAL at commit anyway); maintenance moves
-- what committed into the logged segment, at least every promote_after.
\i test/regress/fixtures/after_setup.psql
SELECT * FROM intentlog.intent_append('cache', 'a', 'set');
SELECT * FROM intentlog.intent_append('cache', 'b', 'set');
SELECT * FROM intentlog.intent_append_batch('cache', ARRAY['a', 'b', 'c'], ARRAY['x', 'y', 'z']);
-- Readers see the rows wherever they are, hot or promoted.
SELECT key, op FROM intentlog.fetch('g', 'cache', 0) ORDER BY seq;
-- Promote now rather than wait for the background worker's next round.
SELECT sum(intentlog._promote(domain_id, partition)) >= 0 AS promoted
  FROM intentlog.partitions WHERE domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'cache');
SELECT c.relpersistence, count(*) FROM intentlog_data.cache t JOIN pg_class c ON c.oid = t.tableoid GROUP BY 1;
SELECT key, op FROM intentlog.fetch('g', 'cache', 0) ORDER BY seq;
SELECT count(*) AS gaps FROM intentlog.gaps;
-- Dropping a domain removes its storage.
SELECT intentlog.create_domain('tmp', partitions => 2, durability => 'staged');
SELECT * FROM intentlog.intent_append('tmp', 'x', 'set');
SELECT intentlog.drop_domain('tmp');
SELECT count(*) FROM pg_class WHERE relname LIKE 'tmp%' AND relnamespace = 'intentlog_data'::regnamespace;
SELECT * FROM intentlog.intent_append('tmp', 'x', 'set');
-- A large batch commits with a WAL flush anyway (its seqs write WAL: a
-- sequence logs once every 32 values), so it goes straight to the logged segment,
-- durable with its transaction, and leaves promotion nothing to move.
SELECT intentlog.create_domain('bulk', partitions => 1, durability => 'staged', promote_after => '1 hour') > 0 AS created;
SELECT domain_id AS bulk_id FROM intentlog.domains WHERE name = 'bulk' \gset
SELECT count(*) AS appended, count(DISTINCT seq) AS seqs
  FROM intentlog.intent_append_batch('bulk', (SELECT array_agg('k' || i ORDER BY i) FROM generate_series(1, 2500) i),
                                     array_fill('set'::text, ARRAY[2500]));
SELECT c.relpersistence, count(*) FROM intentlog_data.bulk t JOIN pg_class c ON c.oid = t.tableoid GROUP BY 1;
SELECT intentlog._promote(:bulk_id, 0, 1000) AS moved;
-- So does an append in a transaction that wrote WAL before it.
BEGIN;
CREATE TEMP TABLE t_wal (i int);
INSERT INTO t_wal VALUES (1);
SELECT seq FROM intentlog.intent_append('bulk', 'after-wal', 'set');
COMMIT;
SELECT c.relpersistence FROM intentlog_data.bulk t JOIN pg_class c ON c.oid = t.tableoid WHERE t.key = 'after-wal';
SELECT intentlog.drop_domain('bulk');
-- Appends that would have written no WAL go to the hot table: after a first
-- append (a new sequence logs its first value and the 32 after it), 30 in
-- one batch, then a promotion in steps, each of at most 10 rows picking up
-- where the last one ended; the moved rows are in the segment's indexes too.
SELECT intentlog.create_domain('bulk', partitions => 1, durability => 'staged', promote_after => '1 hour') > 0 AS created;
SELECT domain_id AS bulk_id FROM intentlog.domains WHERE name = 'bulk' \gset
SELECT seq FROM intentlog.intent_append('bulk', 'first', 'set');
SELECT count(*) AS appended FROM intentlog.intent_append_batch('bulk',
    (SELECT array_agg('h' || i ORDER BY i) FROM generate_series(1, 30) i), array_fill('set'::text, ARRAY[30]));
SELECT c.relpersistence, count(*) FROM intentlog_data.bulk t JOIN pg_class c ON c.oid = t.tableoid
 WHERE t.key LIKE 'h%' GROUP BY 1;
-- A reader reads them while hot (and commits its cursor) ...
SELECT intentlog.commit_cursor('hot_reader', 'bulk', 0,
         (SELECT next_cursor FROM intentlog.fetch('hot_reader', 'bulk', 0, 100) ORDER BY seq DESC LIMIT 1));
SELECT intentlog._promote(:bulk_id, 0, 10) AS moved;
SELECT intentlog._promote(:bulk_id, 0, 10) AS moved;
SELECT intentlog._promote(:bulk_id, 0, 10) AS moved;
SELECT intentlog._promote(:bulk_id, 0, 10) AS moved;
SELECT c.relpersistence, count(*), count(DISTINCT t.seq) AS seqs, max(t.seq) - min(t.seq) + 1 AS span
  FROM intentlog_data.bulk t JOIN pg_class c ON c.oid = t.tableoid GROUP BY 1;
-- ... and does not read them again once they are promoted.
SELECT count(*) AS read_again FROM intentlog.fetch('hot_reader', 'bulk', 0, 100);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS by_seq FROM intentlog_data.bulk WHERE seq BETWEEN 1 AND 1000000;
SELECT count(*) AS by_xid FROM intentlog_data.bulk WHERE xid = (SELECT xid FROM intentlog_data.bulk WHERE key = 'h1');
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*) AS fetched FROM intentlog.fetch('g', 'bulk', 0, 100000);
SELECT intentlog.drop_domain('bulk');
-- _promote_rows writes into the segment without the executor: only the
-- maintenance path may call it, and it checks INSERT on the segment itself.
SELECT has_function_privilege('intentlog_writer', 'intentlog._promote_rows(regclass, regclass, text, int)', 'EXECUTE')
    AS writer_may_promote;
SELECT hot_rel AS cache_hot, durable_rel AS cache_segment FROM intentlog.partitions
 WHERE domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'cache') AND partition = 0 \gset
CREATE ROLE intentlog_regress_nobody;
GRANT USAGE ON SCHEMA intentlog, intentlog_data TO intentlog_regress_nobody;
GRANT EXECUTE ON FUNCTION intentlog._promote_rows(regclass, regclass, text, int) TO intentlog_regress_nobody;
SET ROLE intentlog_regress_nobody;
SELECT * FROM intentlog._promote_rows(:'cache_hot', :'cache_segment', '0', 10);
RESET ROLE;
REVOKE ALL ON FUNCTION intentlog._promote_rows(regclass, regclass, text, int) FROM intentlog_regress_nobody;
REVOKE ALL ON SCHEMA intentlog, intentlog_data FROM intentlog_regress_nobody;
DROP ROLE intentlog_regress_nobody;
