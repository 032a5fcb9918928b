-- Delivery bookkeeping: retries, parked intents, dead letters, redrive, discard.
\i test/regress/fixtures/fresh.sql
\set SHOW_CONTEXT never
SELECT intentlog.create_domain('dl', partitions => 1, max_attempts => 3) IS NOT NULL AS created;
SELECT intentlog.create_domain('dlk', partitions => 1, max_attempts => 2, on_dead_letter => 'dead_letter_key') IS NOT NULL AS created;
UPDATE intentlog.domains SET base_backoff = '10 seconds', max_backoff = '15 seconds' WHERE name IN ('dl', 'dlk');
-- One partition: seqs are 1, 2, ... in append order.
SELECT * FROM intentlog.intent_append_batch('dl', ARRAY['a', 'b', 'a', 'c', 'a'], ARRAY['set', 'set', 'set', 'set', 'set']);

-- The first delivery of a:1 failed while a:3 and a:5 waited behind it in the worker.
BEGIN;
SELECT outcome, failed_attempts, dead_letter_id,
       next_attempt_at BETWEEN now() + interval '5 seconds' AND now() + interval '10 seconds' AS backoff_in_bounds
  FROM intentlog.record_failure('g', 'dl', 0, 1, 'consumer said no', followers => ARRAY[3, 5]::bigint[]);
COMMIT;
SELECT seq, key, attempt, last_error, errors -> 0 ->> 'error' AS first_error, delivering_until FROM intentlog.retries;
SELECT seq, key, reason FROM intentlog.parked ORDER BY seq;
SELECT * FROM intentlog.held_keys('g', 'dl', ARRAY[0]);
-- Other groups are not affected.
SELECT count(*) FROM intentlog.held_keys('other', 'dl', ARRAY[0]);

-- Intents fetched later: those of a are held back, the others go out.
SELECT intentlog.intent_append('dl', 'a', 'set'), intentlog.intent_append('dl', 'b', 'set');
SELECT * FROM intentlog.park('g', 'dl', 0, ARRAY[6, 7], ARRAY['a', 'b']);
-- Fetched again after a worker restart: already held, not delivered twice.
SELECT * FROM intentlog.park('g', 'dl', 0, ARRAY[1, 2, 3, 4, 5, 6, 7], ARRAY['a', 'b', 'a', 'c', 'a', 'a', 'b']);
SELECT seq, key FROM intentlog.parked ORDER BY seq;

-- Not due yet: nothing to deliver (parked intents wait behind the retry).
SELECT count(*) FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
UPDATE intentlog.retries SET next_attempt_at = now() - interval '1 second';
SELECT seq, key, attempt, source, last_error FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
-- Claimed: not handed out twice.
SELECT count(*) FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT seq, attempt, in_flight, parked_behind FROM intentlog.retries_due;

-- Attempt 2 fails: attempt 3 is scheduled, the claim is gone.
SELECT outcome, failed_attempts FROM intentlog.record_failure('g', 'dl', 0, 1, 'still no', attempt => 2);
-- A late report about attempt 2 is stale and changes nothing.
SELECT outcome, failed_attempts FROM intentlog.record_failure('g', 'dl', 0, 1, 'late', attempt => 2);
SELECT seq, attempt, last_error, jsonb_array_length(errors) AS errors, delivering_until FROM intentlog.retries;
-- Attempt 3 fails: max_attempts reached, a dead letter with its three errors.
SELECT outcome, failed_attempts, next_attempt_at FROM intentlog.record_failure('g', 'dl', 0, 1, 'no again', attempt => 3);
SELECT seq, key, attempts, last_error, jsonb_path_query_array(errors, '$[*].error') AS errors, reason
  FROM intentlog.dead_letters;
SELECT count(*) AS retries FROM intentlog.retries;
-- on_dead_letter = continue: the key's parked intents go out in order, one at a time.
SELECT seq, key, attempt, source FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT count(*) FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT intentlog.retry_delivered('g', 'dl', 0, 3);
SELECT intentlog.retry_delivered('g', 'dl', 0, 3);  -- duplicate report: NULL
SELECT seq, key, attempt, source FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
-- A parked intent that fails becomes a retry of its own (attempt 2 next).
SELECT outcome, failed_attempts FROM intentlog.record_failure('g', 'dl', 0, 5, 'parked one failed', attempt => 1);
SELECT seq, attempt FROM intentlog.retries;
SELECT seq FROM intentlog.parked;
UPDATE intentlog.retries SET next_attempt_at = now() - interval '1 second';
SELECT seq, attempt, source FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT intentlog.retry_delivered('g', 'dl', 0, 5);
SELECT seq, attempt, source FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT intentlog.retry_delivered('g', 'dl', 0, 6);
SELECT count(*) AS held FROM intentlog.held_keys('g', 'dl', ARRAY[0]);
SELECT domain, group_name, dead_letters, keys, newest_error FROM intentlog.dead_letters_per_domain;

-- Claims of a crashed worker are released by the next lease owner.
SELECT outcome FROM intentlog.record_failure('g', 'dl', 0, 7, 'b failed');
UPDATE intentlog.retries SET next_attempt_at = now() - interval '1 second';
SELECT seq FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT intentlog.release_claims('g', 'dl', ARRAY[0]);
SELECT seq, attempt FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT intentlog.retry_delivered('g', 'dl', 0, 7);

-- Redrive puts a dead letter back: parked, due at once, attempt 1, history kept.
SELECT intentlog.redrive(dead_letter_id) FROM intentlog.dead_letters WHERE seq = 1;
SELECT count(*) AS dead FROM intentlog.dead_letters;
SELECT seq, key, jsonb_array_length(errors) AS errors FROM intentlog.parked;
SELECT seq, attempt, source FROM intentlog.due_retries('g', 'dl', ARRAY[0]);
SELECT intentlog.retry_delivered('g', 'dl', 0, 1);

-- on_dead_letter = dead_letter_key: the key's parked intents die with it, and
-- so do its later intents until the key's dead letters are redriven or discarded.
SELECT * FROM intentlog.intent_append_batch('dlk', ARRAY['x', 'x', 'y', 'x'], ARRAY['set', 'set', 'set', 'set']);
SELECT outcome FROM intentlog.record_failure('g', 'dlk', 0, 1, 'x is poison', followers => ARRAY[2, 4]::bigint[]);
SELECT outcome FROM intentlog.record_failure('g', 'dlk', 0, 1, 'x is poison', attempt => 2);
SELECT seq, key, attempts, reason FROM intentlog.dead_letters
 WHERE domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'dlk') ORDER BY seq;
SELECT count(*) AS parked FROM intentlog.parked;
SELECT intentlog.intent_append('dlk', 'x', 'set'), intentlog.intent_append('dlk', 'y', 'set');
SELECT * FROM intentlog.park('g', 'dlk', 0, ARRAY[5, 6], ARRAY['x', 'y']);
SELECT * FROM intentlog.held_keys('g', 'dlk', ARRAY[0]);
-- Redrive by key: all four back, delivered in seq order.
SELECT intentlog.redrive('dlk', key => 'x');
SELECT seq, attempt, source FROM intentlog.due_retries('g', 'dlk', ARRAY[0]);
SELECT intentlog.retry_delivered('g', 'dlk', 0, 1);
SELECT seq, attempt, source FROM intentlog.due_retries('g', 'dlk', ARRAY[0]);
-- Discard: dead letters of a domain, of a key, or one by id.
SELECT outcome FROM intentlog.record_failure('g', 'dlk', 0, 2, 'again', attempt => 1);
SELECT outcome FROM intentlog.record_failure('g', 'dlk', 0, 2, 'again', attempt => 2);
SELECT seq, reason FROM intentlog.dead_letters ORDER BY seq;
SELECT intentlog.discard(dead_letter_id) FROM intentlog.dead_letters WHERE seq = 2;
SELECT intentlog.discard('dlk', key => 'nope');
SELECT intentlog.discard('dlk');
SELECT count(*) AS dead FROM intentlog.dead_letters;
SELECT intentlog.redrive('dlk');

-- Bad input: a clear message, a proper SQLSTATE, nothing changed.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT intentlog.intent_append('dl', 'z', 'set');
SELECT outcome FROM intentlog.record_failure('g', 'dl', 0, 8, 'to have a retry');
INSERT INTO intentlog.dead_letters (group_name, domain_id, partition, seq, key, attempts, reason, op, appended_at)
SELECT 'g', domain_id, 0, 100, 'q', 3, 'fixture', 'set', now() FROM intentlog.domains WHERE name = 'dl';
CREATE TEMP TABLE before AS
  SELECT (SELECT count(*) FROM intentlog.retries) AS retries, (SELECT count(*) FROM intentlog.parked) AS parked,
         (SELECT count(*) FROM intentlog.dead_letters) AS dead,
         (SELECT string_agg(seq || ':' || attempt || ':' || coalesce(delivering_until::text, '-'), ',') FROM intentlog.retries) AS r;
SELECT q, pg_temp.err(q) FROM (VALUES
  ($$SELECT intentlog.record_failure(NULL, 'dl', 0, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('bad group', 'dl', 0, 8, 'e')$$),
  ($$SELECT intentlog.record_failure(repeat('g', 129), 'dl', 0, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('g', NULL, 0, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'nope', 0, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'dl', NULL, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 1, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'dl', -1, 8, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, NULL, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, 8, NULL)$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, 999, 'e')$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, 4, 'e', attempt => 0)$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, 4, 'e', followers => ARRAY[NULL]::bigint[])$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, 4, 'e', followers => ARRAY[2]::bigint[])$$),
  ($$SELECT intentlog.record_failure('g', 'dl', 0, 4, 'e', followers => ARRAY[999]::bigint[])$$),
  ($$SELECT intentlog.park(NULL, 'dl', 0, ARRAY[1], ARRAY['a'])$$),
  ($$SELECT intentlog.park('g', 'nope', 0, ARRAY[1], ARRAY['a'])$$),
  ($$SELECT intentlog.park('g', 'dl', 7, ARRAY[1], ARRAY['a'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, NULL, ARRAY['a'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, ARRAY[1, 2], ARRAY['a'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, ARRAY[NULL]::bigint[], ARRAY['a'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, ARRAY[9], ARRAY['z'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, ARRAY[999], ARRAY['z'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, ARRAY[4], ARRAY['z'])$$),
  ($$SELECT intentlog.park('g', 'dl', 0, array_fill(1::bigint, ARRAY[100001]), array_fill('a'::text, ARRAY[100001]))$$),
  ($$SELECT intentlog.due_retries('g', 'dl', NULL)$$),
  ($$SELECT intentlog.due_retries('g', 'dl', ARRAY[0, NULL])$$),
  ($$SELECT intentlog.due_retries('g', 'dl', ARRAY[0, 3])$$),
  ($$SELECT intentlog.due_retries('g', 'dl', ARRAY[0], 0)$$),
  ($$SELECT intentlog.due_retries('g', 'dl', ARRAY[0], 100, '0 s')$$),
  ($$SELECT intentlog.due_retries('g', 'dl', ARRAY[0], 100, NULL)$$),
  ($$SELECT intentlog.due_retries('g!', 'dl', ARRAY[0])$$),
  ($$SELECT intentlog.retry_delivered('g', 'dl', 0, NULL)$$),
  ($$SELECT intentlog.retry_delivered('g', 'nope', 0, 8)$$),
  ($$SELECT intentlog.retry_delivered('g', 'dl', 5, 8)$$),
  ($$SELECT intentlog.held_keys('g', 'dl', ARRAY[-1])$$),
  ($$SELECT intentlog.held_keys('', 'dl', ARRAY[0])$$),
  ($$SELECT intentlog.release_claims('g', 'nope', ARRAY[0])$$),
  ($$SELECT intentlog.release_claims('g', 'dl', ARRAY[1])$$),
  ($$SELECT intentlog.redrive(NULL::bigint)$$),
  ($$SELECT intentlog.redrive(424242)$$),
  ($$SELECT intentlog.redrive(NULL::text)$$),
  ($$SELECT intentlog.redrive('nope')$$),
  ($$SELECT intentlog.redrive('dl', group_name => 'bad group')$$),
  ($$SELECT intentlog.discard(NULL::bigint)$$),
  ($$SELECT intentlog.discard(424242)$$),
  ($$SELECT intentlog.discard('nope')$$),
  ($$SELECT intentlog.discard('dl', group_name => 'x y')$$)
) AS t(q);
-- Nothing changed by any of those.
SELECT b.retries = (SELECT count(*) FROM intentlog.retries) AS retries_same,
       b.parked = (SELECT count(*) FROM intentlog.parked) AS parked_same,
       b.dead = (SELECT count(*) FROM intentlog.dead_letters) AS dead_same,
       b.r = (SELECT string_agg(seq || ':' || attempt || ':' || coalesce(delivering_until::text, '-'), ',') FROM intentlog.retries) AS retries_unchanged
  FROM before b;

-- Only the worker's role may report deliveries, only admins may redrive.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('intentlog_consumer', p.oid, 'EXECUTE') AS consumer,
       has_function_privilege('intentlog_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('intentlog_writer', p.oid, 'EXECUTE') AS writer,
       p.prosecdef AS security_definer,
       p.proconfig AS config,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'intentlog'::regnamespace
   AND p.proname IN ('park', 'record_failure', 'due_retries', 'retry_delivered', 'held_keys', 'release_claims',
                     'redrive', 'discard')
 ORDER BY 1::text;
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c
 WHERE c.relnamespace = 'intentlog'::regnamespace
   AND c.relname IN ('retries', 'parked', 'dead_letters', 'retries_due', 'dead_letters_per_domain', 'delivery_backlog')
 ORDER BY 1;

-- Dropping a domain drops its delivery bookkeeping.
SELECT domain, group_name, retries, parked, dead_letters FROM intentlog.delivery_backlog ORDER BY 1, 2;
SELECT intentlog.drop_domain('dl');
SELECT intentlog.drop_domain('dlk');
SELECT (SELECT count(*) FROM intentlog.retries) + (SELECT count(*) FROM intentlog.parked)
     + (SELECT count(*) FROM intentlog.dead_letters) AS left_over;
