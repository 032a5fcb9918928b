-- Properties of the SQL surface, checked against a real server with pgTAP.
-- Run with pg_prove in a database where intentlog and pgtap can be created.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS intentlog;
BEGIN;
SELECT plan(17);

SELECT intentlog.create_domain('tap_d', partitions => 8);
SELECT intentlog.create_domain('tap_s', partitions => 2, durability => 'staged');
SELECT intentlog.create_domain('tap_r', partitions => 1, segment_rows => 1000, retention => '0');

-- 1. Every intent lands in partition_for(key): the extension and any client agree.
SELECT count(*) FROM (SELECT intentlog.intent_append('tap_d', 'key-' || (random() * 200)::int, 'set')
                        FROM generate_series(1, 500)) x;
SELECT is((SELECT count(*) FROM intentlog_data.tap_d WHERE partition <> intentlog.partition_for(key, 8)), 0::bigint,
          'every intent is stored in partition_for(key)');
SELECT is((SELECT count(*) FROM intentlog_data.tap_d t JOIN pg_class c ON c.oid = t.tableoid
            WHERE c.relname NOT LIKE format('tap_d_p%s_s%%', lpad(t.partition::text, 4, '0'))), 0::bigint,
          'every intent is stored in a segment of its own partition');

-- 2. Seqs are unique per partition and follow append order per key.
SELECT is((SELECT count(*) FROM (SELECT partition, seq FROM intentlog_data.tap_d GROUP BY 1, 2 HAVING count(*) > 1) d),
          0::bigint, 'seqs are unique within a partition');
SELECT is((SELECT count(*) FROM (SELECT seq < lag(seq) OVER (PARTITION BY key ORDER BY appended_at, seq) AS back
                                   FROM intentlog_data.tap_d) o WHERE back), 0::bigint,
          'per key, seqs grow in append order');

-- 3. A batch with one bad element writes nothing.
SELECT throws_ok($$SELECT intentlog.intent_append_batch('tap_d', ARRAY['a', 'b', ''], ARRAY['x', 'y', 'z'])$$,
                 '22023', NULL, 'a batch with an empty key fails');
SELECT is((SELECT count(*) FROM intentlog_data.tap_d WHERE key IN ('a', 'b')), 0::bigint,
          'and none of its intents were written');

-- 4. Paging through a partition with random batch sizes reads every intent exactly once.
CREATE FUNCTION pg_temp.page_all(g text, d text, p int) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
  cur text := '0';
  next text;
  r record;
BEGIN
  LOOP
    next := NULL;
    FOR r IN SELECT * FROM intentlog.fetch(g, d, p, 1 + (random() * 7)::int, cur) LOOP
      next := r.next_cursor;
      RETURN NEXT r.seq;
    END LOOP;
    EXIT WHEN next IS NULL;
    cur := next;
  END LOOP;
END $$;
SELECT is((SELECT array_agg(s ORDER BY s) FROM pg_temp.page_all('tap', 'tap_d', 3) s),
          (SELECT array_agg(seq ORDER BY seq) FROM intentlog_data.tap_d WHERE partition = 3),
          'random page sizes read every intent of a partition exactly once, in seq order');

-- 5. Staged, in a transaction that has written WAL (this file is one): the
-- commit flushes anyway, so the appends go straight to the logged segment,
-- and promotion has nothing to move. (Hot rows read before and after their
-- promotion: the regress test staged.)
SELECT count(*) FROM (SELECT intentlog.intent_append('tap_s', 'k' || g, 'set') FROM generate_series(1, 50) g) x;
SELECT is((SELECT count(*) FROM intentlog_data.tap_s t JOIN pg_class c ON c.oid = t.tableoid WHERE c.relpersistence = 'p'),
          50::bigint, 'staged appends of a transaction that wrote WAL go to the logged segment');
SELECT intentlog.commit_cursor('tap', 'tap_s', 0, (SELECT max(next_cursor) FROM intentlog.fetch('tap', 'tap_s', 0)));
SELECT is((SELECT sum(intentlog._promote(domain_id, partition)) FROM intentlog.partitions
            WHERE domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'tap_s')),
          0::numeric, 'promotion finds nothing to move');
SELECT is((SELECT count(*) FROM intentlog_data.tap_s), 50::bigint, 'every intent is kept');
SELECT is((SELECT count(*) FROM intentlog.fetch('tap', 'tap_s', 0)), 0::bigint,
          'a reader that read them does not read them again');
SELECT count(*) FROM (SELECT intentlog.intent_append('tap_s', 'k' || g, 'set') FROM generate_series(51, 60) g) x;
SELECT is((SELECT count(*) FROM intentlog.fetch('tap', 'tap_s', 0)),
          (SELECT count(*) FROM intentlog_data.tap_s WHERE partition = 0 AND key IN (SELECT 'k' || g FROM generate_series(51, 60) g)),
          'and reads the new ones');

-- 6. Rotation: a full segment is sealed and appends move to the new one, in
-- this backend too (its cached target is invalidated).
SELECT count(*) FROM (SELECT intentlog.intent_append('tap_r', 'r' || g, 'set') FROM generate_series(1, 1200) g) x;
SELECT ok(intentlog._rotate(d.domain_id, 0), 'a segment past segment_rows rotates')
  FROM intentlog.domains d WHERE d.name = 'tap_r';
SELECT count(*) FROM (SELECT intentlog.intent_append('tap_r', 'after', 'set')) x;
SELECT is((SELECT c.relname::text FROM intentlog_data.tap_r t JOIN pg_class c ON c.oid = t.tableoid WHERE t.key = 'after'),
          'tap_r_p0000_s000002', 'appends after the rotation go to the new segment');

-- 7. Retention drops whole segments only once every group has read past them.
SELECT intentlog.commit_cursor('lagging', 'tap_r', 0, '5');
SELECT intentlog.commit_cursor('done', 'tap_r', 0, (SELECT intentlog._last_seq(seq_rel)::text FROM intentlog.partitions p
                                                     JOIN intentlog.domains d USING (domain_id) WHERE d.name = 'tap_r'));
SELECT is(intentlog._retain(d.domain_id, 0), 0, 'a segment a group has not read is kept')
  FROM intentlog.domains d WHERE d.name = 'tap_r';
SELECT intentlog.commit_cursor('lagging', 'tap_r', 0, intentlog.get_cursor('done', 'tap_r', 0));
SELECT is(intentlog._retain(d.domain_id, 0), 1, 'once every group is past it, it is dropped')
  FROM intentlog.domains d WHERE d.name = 'tap_r';
SELECT is((SELECT count(*) FROM intentlog_data.tap_r), 1::bigint, 'leaving the live segment''s intents');

SELECT * FROM finish();
ROLLBACK;
