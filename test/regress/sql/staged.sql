-- Staged durability: appends go to the unlogged hot table; maintenance moves
-- what committed into the logged segment, at least every promote_after.
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
