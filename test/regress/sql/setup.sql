-- The extension and the domains orders and cache, which the files that
-- build on it replay quietly (test/regress/fixtures/after_setup.psql).
\i test/regress/fixtures/fresh.sql
SELECT extname, extversion FROM pg_extension WHERE extname = 'intentlog';
SELECT intentlog.create_domain('orders', partitions => 4);
SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged');
SELECT name, partitions, durability, retention, max_attempts, promote_after FROM intentlog.domains ORDER BY name;
-- Storage: a parent per domain, a child per partition, a logged segment each,
-- and for the staged domain an unlogged hot table per partition.
SELECT c.relname, c.relpersistence, i.inhparent::regclass AS parent
  FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
 WHERE c.relnamespace = 'intentlog_data'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname;
-- Each segment and hot table has one index, its primary key on seq: no xid
-- index (late committers are found through the primary key).
SELECT count(*) AS tables, min(n) AS min_indexes, max(n) AS max_indexes, bool_and(pk) AS all_on_seq
  FROM (SELECT c.oid, count(x.indexrelid) AS n,
               bool_and(x.indisprimary AND pg_get_indexdef(x.indexrelid) LIKE '%(seq)') AS pk
          FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
          JOIN pg_inherits i2 ON i2.inhrelid = i.inhparent
          LEFT JOIN pg_index x ON x.indrelid = c.oid
         WHERE c.relnamespace = 'intentlog_data'::regnamespace AND c.relkind = 'r'
         GROUP BY c.oid) s;
-- The partition hash is stable: fixed vectors any client must reproduce.
SELECT k, intentlog.partition_for(k, 16) AS p16, intentlog.partition_for(k, 4) AS p4
  FROM unnest(ARRAY['', 'a', 'foobar', 'order-1', 'order-2', 'user:42']) AS k;
