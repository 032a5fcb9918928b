-- The read path: fetch, commit_cursor, consume, cursors, over the intents
-- append.sql writes.
\i test/regress/fixtures/after_append.psql
SELECT seq, key, op, next_cursor FROM intentlog.fetch('readers', 'orders', intentlog.partition_for('o-1', 4));
-- Nothing committed yet: the same rows again.
SELECT count(*) FROM intentlog.fetch('readers', 'orders', intentlog.partition_for('o-1', 4));
SELECT intentlog.commit_cursor('readers', 'orders', intentlog.partition_for('o-1', 4),
       (SELECT max(next_cursor) FROM intentlog.fetch('readers', 'orders', intentlog.partition_for('o-1', 4))));
SELECT count(*) FROM intentlog.fetch('readers', 'orders', intentlog.partition_for('o-1', 4));
SELECT intentlog.get_cursor('readers', 'orders', intentlog.partition_for('o-1', 4));
SELECT intentlog.get_cursor('nobody', 'orders', 0);

-- Paging with max_rows and from_cursor covers every row exactly once.
SELECT p, count(*) AS rows
  FROM generate_series(0, 3) AS p, LATERAL intentlog.fetch('pager', 'orders', p, 1) f GROUP BY p ORDER BY p;
WITH RECURSIVE pages(n, cursor, acc) AS (
  SELECT 0, '0'::text, ARRAY[]::bigint[]
  UNION ALL
  SELECT n + 1, f.next_cursor, acc || f.seqs
    FROM pages, LATERAL (SELECT max(next_cursor) AS next_cursor, array_agg(seq ORDER BY seq) AS seqs
                           FROM intentlog.fetch('pager', 'orders', 0, 2, pages.cursor)) f
   WHERE f.next_cursor IS NOT NULL AND n < 20)
SELECT n AS pages, acc = (SELECT array_agg(seq ORDER BY seq) FROM intentlog_data.orders WHERE partition = 0) AS all_once
  FROM pages ORDER BY n DESC LIMIT 1;

-- fetch_many: each ask as intentlog.fetch would return it, tagged with its
-- position, from the committed cursor (NULL) or from the one given.
SELECT ask, seq, key, next_cursor FROM intentlog.fetch_many('readers', 'orders', ARRAY[0, 1, 2, 3], ARRAY[10, 10, 1, 10])
 ORDER BY ask, seq;
SELECT (SELECT array_agg(ROW(ask, seq, next_cursor)::text ORDER BY ask, seq)
          FROM intentlog.fetch_many('pager', 'orders', ARRAY[3, 0], ARRAY[2, 5], ARRAY['0', NULL]))
     = (SELECT array_agg(ROW(a.i, f.seq, f.next_cursor)::text ORDER BY a.i, f.seq)
          FROM unnest(ARRAY[3, 0], ARRAY[2, 5], ARRAY['0', NULL]) WITH ORDINALITY AS a(p, m, c, i),
               LATERAL intentlog.fetch('pager', 'orders', a.p, a.m, a.c) f) AS same_as_fetch;
SELECT count(*) AS no_asks FROM intentlog.fetch_many('readers', 'orders', '{}', '{}');

-- consume = fetch + commit.
SELECT key, op FROM intentlog.consume('c', 'orders', 0);
SELECT key, op FROM intentlog.consume('c', 'orders', 0);
SELECT * FROM intentlog.intent_append('orders', 'o-4', 'create');
SELECT key, op FROM intentlog.consume('c', 'orders', intentlog.partition_for('o-4', 4));

-- latest_cursor: starts after what is committed now.
SELECT count(*) FROM intentlog.fetch('late', 'orders', 0, 100, intentlog.latest_cursor('orders', 0));

-- Cursors never move backwards.
SELECT intentlog.commit_cursor('c', 'orders', 0, '1');
SELECT group_name, partition, watermark > 0 AS advanced FROM intentlog.cursors WHERE group_name IN ('readers', 'c') ORDER BY 1, 2;

-- What a DBA sees: lag per group and partition.
SELECT group_name, domain, partition, watermark, seq_lag, pending_xids, oldest_undelivered_age IS NULL AS caught_up
  FROM intentlog.lag ORDER BY 1, 2, 3;
SELECT domain, partition, segment, logged FROM intentlog.storage WHERE domain = 'orders' ORDER BY 2, 3;

-- fetch_wait: an ask with a negative since is fetched at once, as fetch_many
-- would; every row carries the tick its cursor is current to.
SELECT (SELECT array_agg(ROW(ask, seq, next_cursor)::text ORDER BY ask, seq)
          FROM intentlog.fetch_wait('waiter', 'orders', ARRAY[0, 1, 2, 3], ARRAY[10, 10, 1, 10], NULL,
                                    ARRAY[-1, -1, -1, -1], 0))
     = (SELECT array_agg(ROW(ask, seq, next_cursor)::text ORDER BY ask, seq)
          FROM intentlog.fetch_many('waiter', 'orders', ARRAY[0, 1, 2, 3], ARRAY[10, 10, 1, 10])) AS same_as_fetch_many;
SELECT count(DISTINCT tick) AS one_tick, min(tick) > 0 AS tick_positive
  FROM intentlog.fetch_wait('waiter', 'orders', ARRAY[0, 1, 2, 3], ARRAY[10, 10, 10, 10], NULL, ARRAY[-1, -1, -1, -1], 0);
-- Nothing committed since the tick: no ask is due, and after the timeout one
-- row of ask 0 carries the tick.
CREATE TEMP TABLE wait_tick AS
  SELECT max(tick) AS t FROM intentlog.fetch_wait('waiter', 'orders', ARRAY[0], ARRAY[1], NULL, ARRAY[-1], 0);
SELECT ask, seq IS NULL AS no_intent, next_cursor IS NULL AS no_cursor, tick >= (SELECT t FROM wait_tick) AS tick_kept
  FROM intentlog.fetch_wait('waiter', 'orders', ARRAY[0, 1, 2, 3], ARRAY[10, 10, 10, 10], NULL,
                            (SELECT array_fill(t, ARRAY[4]) FROM wait_tick), 20);
-- A commit that appended to a partition makes its ask due: its row comes
-- back without waiting for the timeout, with a later tick; the other asks
-- are not fetched.
CREATE TEMP TABLE wait_from AS
  SELECT (SELECT max(tick) FROM intentlog.fetch_wait('waiter', 'orders', ARRAY[0], ARRAY[1], NULL, ARRAY[-1], 0)) AS t,
         ARRAY(SELECT intentlog.latest_cursor('orders', p) FROM generate_series(0, 3) p ORDER BY p) AS cursors;
SELECT partition AS p_new FROM intentlog.intent_append('orders', 'o-wait', 'create') \gset
SELECT ask - 1 = :p_new AS its_partition, key, tick > (SELECT t FROM wait_from) AS later_tick
  FROM intentlog.fetch_wait('waiter', 'orders', ARRAY[0, 1, 2, 3], ARRAY[10, 10, 10, 10],
                            (SELECT cursors FROM wait_from), (SELECT array_fill(t, ARRAY[4]) FROM wait_from), 5000);
SELECT count(*) AS no_asks FROM intentlog.fetch_wait('waiter', 'orders', '{}', '{}', NULL, '{}', 0) WHERE ask > 0;
