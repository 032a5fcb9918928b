-- Bad input: a clear message, a proper SQLSTATE, nothing written.
\i test/regress/fixtures/after_append.psql
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT count(*) AS before FROM intentlog_data.orders \gset

SELECT q, pg_temp.err(q) FROM (VALUES
  ($$SELECT intentlog.intent_append('nope', 'k', 'op')$$),
  ($$SELECT intentlog.intent_append(NULL, 'k', 'op')$$),
  ($$SELECT intentlog.intent_append('orders', NULL, 'op')$$),
  ($$SELECT intentlog.intent_append('orders', '', 'op')$$),
  ($$SELECT intentlog.intent_append('orders', repeat('k', 513), 'op')$$),
  ($$SELECT intentlog.intent_append('orders', 'k', NULL)$$),
  ($$SELECT intentlog.intent_append('orders', 'k', '')$$),
  ($$SELECT intentlog.intent_append('orders', 'k', 'has space')$$),
  ($$SELECT intentlog.intent_append('orders', 'k', 'op', decode(repeat('00', 262145), 'hex'))$$),
  ($$SELECT intentlog.intent_append('orders', 'k', 'op', NULL, NULL, '[1, 2]')$$),
  ($$SELECT intentlog.intent_append('orders', 'k', 'op', NULL, NULL, jsonb_build_object('x', repeat('y', 9000)))$$),
  ($$SELECT intentlog.intent_append_batch('orders', ARRAY['a', 'b'], ARRAY['op'])$$),
  ($$SELECT intentlog.intent_append_batch('orders', ARRAY['a', 'b'], ARRAY['op', 'op'], ARRAY['\x01']::bytea[])$$),
  ($$SELECT intentlog.intent_append_batch('orders', ARRAY['a', NULL], ARRAY['op', 'op'])$$),
  ($$SELECT intentlog.intent_append_batch('orders', ARRAY['a', ''], ARRAY['op', 'op'])$$),
  ($$SELECT intentlog.intent_append_batch('orders', array_fill('k'::text, ARRAY[10001]), array_fill('op'::text, ARRAY[10001]))$$)
) AS t(q);
-- The limits say what was sent and what is allowed.
SELECT intentlog.intent_append('orders', repeat('k', 513), 'op');
SELECT intentlog.intent_append('orders', 'k', 'op', decode(repeat('00', 262145), 'hex'));
-- Nothing from any of those was written.
SELECT count(*) - :before AS written FROM intentlog_data.orders;

SELECT q, pg_temp.err(q) FROM (VALUES
  ($$SELECT intentlog.create_domain('Orders')$$),
  ($$SELECT intentlog.create_domain('bad-name')$$),
  ($$SELECT intentlog.create_domain('x; DROP TABLE app_orders')$$),
  ($$SELECT intentlog.create_domain('x"y')$$),
  ($$SELECT intentlog.create_domain(repeat('d', 49))$$),
  ($$SELECT intentlog.create_domain('')$$),
  ($$SELECT intentlog.create_domain(NULL)$$),
  ($$SELECT intentlog.create_domain('orders')$$),
  ($$SELECT intentlog.create_domain('p0', partitions => 0)$$),
  ($$SELECT intentlog.create_domain('p2000', partitions => 2000)$$),
  ($$SELECT intentlog.create_domain('dur', durability => 'fast')$$),
  ($$SELECT intentlog.create_domain('att', max_attempts => 0)$$),
  ($$SELECT intentlog.create_domain('ret', retention => '-1 day')$$),
  ($$SELECT intentlog.create_domain('pa', promote_after => '0 s')$$),
  ($$SELECT intentlog.create_domain('seg', segment_rows => 10)$$),
  ($$SELECT intentlog.create_domain('odl', on_dead_letter => 'explode')$$),
  ($$SELECT intentlog.drop_domain('nope')$$)
) AS t(q);
-- No domain and no table was created by any of those.
SELECT count(*) AS domains FROM intentlog.domains;
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'intentlog_data'::regnamespace AND relname NOT LIKE 'orders%' AND relname NOT LIKE 'cache%';
SELECT count(*) AS app_orders_still_there FROM app_orders;

SELECT q, pg_temp.err(q) FROM (VALUES
  ($$SELECT intentlog.fetch('g', 'orders', 4)$$),
  ($$SELECT intentlog.fetch('g', 'orders', -1)$$),
  ($$SELECT intentlog.fetch('g', 'orders', 0, 0)$$),
  ($$SELECT intentlog.fetch('g', 'orders', 0, 100001)$$),
  ($$SELECT intentlog.fetch('bad group!', 'orders', 0)$$),
  ($$SELECT intentlog.fetch(NULL, 'orders', 0)$$),
  ($$SELECT intentlog.fetch('g', 'nope', 0)$$),
  ($$SELECT intentlog.fetch('g', 'orders', 0, 10, 'garbage')$$),
  ($$SELECT intentlog.fetch('g', 'orders', 0, 10, '5;3:1,2:1')$$),
  ($$SELECT intentlog.fetch('g', 'orders', 0, 10, '-5')$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', ARRAY[0, 1], ARRAY[10])$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', ARRAY[0], ARRAY[10], ARRAY['0', '0'])$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', ARRAY[0, NULL], ARRAY[10, 10])$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', ARRAY[0, 1], ARRAY[10, 0])$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', ARRAY[0, 4], ARRAY[10, 10])$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', ARRAY[0], ARRAY[10], ARRAY['garbage'])$$),
  ($$SELECT intentlog.fetch_many('g', 'orders', NULL, ARRAY[10])$$),
  ($$SELECT intentlog.fetch_many('bad group!', 'orders', ARRAY[0], ARRAY[10])$$),
  ($$SELECT intentlog.fetch_wait('g', 'orders', ARRAY[0, 1], ARRAY[10, 10], NULL, ARRAY[-1])$$),
  ($$SELECT intentlog.fetch_wait('g', 'orders', ARRAY[0], ARRAY[10], NULL, ARRAY[NULL]::bigint[])$$),
  ($$SELECT intentlog.fetch_wait('g', 'orders', ARRAY[0], ARRAY[10], NULL, NULL)$$),
  ($$SELECT intentlog.fetch_wait('g', 'orders', ARRAY[0], ARRAY[10], NULL, ARRAY[-1], -1)$$),
  ($$SELECT intentlog.fetch_wait('g', 'orders', ARRAY[5], ARRAY[10], NULL, ARRAY[-1])$$),
  ($$SELECT intentlog.fetch_wait('g', 'orders', ARRAY[0], ARRAY[0], NULL, ARRAY[-1])$$),
  ($$SELECT intentlog.fetch_wait('bad group!', 'orders', ARRAY[0], ARRAY[10], NULL, ARRAY[-1])$$),
  ($$SELECT intentlog.commit_cursor('g', 'orders', 0, 'x')$$),
  ($$SELECT intentlog.commit_cursor('g', 'orders', 9, '1')$$),
  ($$SELECT intentlog.commit_cursor('g', 'nope', 0, '1')$$),
  ($$SELECT intentlog.commit_cursor('g', 'orders', 0, NULL)$$),
  ($$SELECT intentlog.latest_cursor('orders', 7)$$),
  ($$SELECT intentlog.partition_for('k', 0)$$)
) AS t(q);
SELECT count(*) AS cursors_of_g FROM intentlog.cursors WHERE group_name = 'g';

-- Roles: an application role needs intentlog_writer to append, and only that.
CREATE ROLE app_no_rights;
CREATE ROLE app_writer IN ROLE intentlog_writer;
SET ROLE app_no_rights;
SELECT pg_temp.err($$SELECT intentlog.intent_append('orders', 'k', 'op')$$);
RESET ROLE;
SET ROLE app_writer;
SELECT partition >= 0 AS appended FROM intentlog.intent_append('orders', 'k', 'op');
SELECT pg_temp.err($$SELECT intentlog.create_domain('mine')$$);
SELECT pg_temp.err($$SELECT intentlog.fetch('g', 'orders', 0)$$);
SELECT pg_temp.err($$DELETE FROM intentlog_data.orders$$);
RESET ROLE;
DROP ROLE app_no_rights;
DROP ROLE app_writer;
