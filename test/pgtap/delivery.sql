-- Properties of the delivery bookkeeping (retries, parking, dead letters),
-- checked against a real server with pgTAP. Run with pg_prove.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS intentlog;
BEGIN;
SELECT plan(20);

SELECT intentlog.create_domain('tap_dl', partitions => 4, max_attempts => 1000);
UPDATE intentlog.domains SET base_backoff = '1 second', max_backoff = '1 minute' WHERE name = 'tap_dl';

-- 1. Backoff: grows with the attempt, bounded by max_backoff, jitter within [d/2, d].
SELECT is((SELECT count(*) FROM generate_series(1, 2000) n,
                  LATERAL (SELECT intentlog._backoff('1 second', '1 minute', n % 40 + 1, random()) AS b) x
            WHERE x.b > interval '1 minute' OR x.b < interval '0.5 seconds'), 0::bigint,
          'a random backoff is between base/2 and max_backoff');
SELECT is((SELECT count(*) FROM generate_series(1, 39) n
            WHERE intentlog._backoff('1 second', '1 minute', n + 1, 0) < intentlog._backoff('1 second', '1 minute', n, 0)
               OR intentlog._backoff('1 second', '1 minute', n + 1, 1) < intentlog._backoff('1 second', '1 minute', n, 1)),
          0::bigint, 'the bounds of the backoff never shrink as attempts grow');
SELECT is(intentlog._backoff('1 second', '1 minute', 1000, 1), interval '1 minute',
          'a huge attempt number is capped at max_backoff (no overflow)');

-- Failing the same intent attempt after attempt: each delay within its jitter
-- window, and the windows double until max_backoff.
SELECT intentlog.intent_append('tap_dl', 'bk', 'set');
CREATE FUNCTION pg_temp.delays(n int) RETURNS TABLE (attempt int, delay float8) LANGUAGE plpgsql AS $$
DECLARE
  p int := intentlog.partition_for('bk', 4);
  s bigint := (SELECT max(seq) FROM intentlog_data.tap_dl WHERE key = 'bk');
  r record;
BEGIN
  FOR i IN 1 .. n LOOP
    SELECT * INTO r FROM intentlog.record_failure('tap', 'tap_dl', p, s, 'e' || i, attempt => i);
    attempt := i;
    delay := extract(epoch FROM r.next_attempt_at - now());
    RETURN NEXT;
  END LOOP;
END $$;
CREATE TEMP TABLE bk AS SELECT * FROM pg_temp.delays(12);
SELECT is((SELECT count(*) FROM bk
            WHERE delay < least(60, power(2, attempt - 1)) / 2 - 1e-6 OR delay > least(60, power(2, attempt - 1)) + 1e-6),
          0::bigint, 'each scheduled retry is within [d/2, d], d = min(max_backoff, base * 2^(attempt-1))');
SELECT ok((SELECT bool_and(b.delay >= a.delay) FROM bk a JOIN bk b ON b.attempt = a.attempt + 1 WHERE b.attempt <= 6),
          'delays grow while below max_backoff');
SELECT is((SELECT attempt FROM intentlog.retries WHERE key = 'bk'), 13, 'the retry row names the next attempt');

-- 2. Exactly max_attempts deliveries, then a dead letter, for any max_attempts.
CREATE FUNCTION pg_temp.fail_until_dead(max_attempts int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  k text := 'dead-' || max_attempts;
  p int;
  s bigint;
  r record;
  n int := 0;
BEGIN
  UPDATE intentlog.domains d SET max_attempts = fail_until_dead.max_attempts WHERE d.name = 'tap_dl';
  SELECT x.partition, x.seq INTO p, s FROM intentlog.intent_append('tap_dl', k, 'set') x;
  LOOP
    n := n + 1;
    SELECT * INTO r FROM intentlog.record_failure('tap', 'tap_dl', p, s, 'attempt ' || n, attempt => n);
    EXIT WHEN r.outcome <> 'retry' OR n > 100;
  END LOOP;
  RETURN n;
END $$;
SELECT is((SELECT array_agg(pg_temp.fail_until_dead(m) ORDER BY m) FROM generate_series(1, 9) m),
          (SELECT array_agg(m ORDER BY m) FROM generate_series(1, 9) m),
          'the max_attempts-th failure, never an earlier one, makes a dead letter');
SELECT is((SELECT count(*) FROM intentlog.dead_letters WHERE key LIKE 'dead-%' AND attempts::text = substr(key, 6)
              AND jsonb_array_length(errors) = attempts), 9::bigint,
          'each dead letter has its attempts and one error per attempt');
SELECT is((SELECT count(*) FROM intentlog.retries WHERE key LIKE 'dead-%'), 0::bigint, 'and no retry is left');
UPDATE intentlog.domains SET max_attempts = 4 WHERE name = 'tap_dl';

-- 3. Order per key across retries and parking: a key whose intents fail at
-- random is still delivered in seq order, every intent exactly once after it
-- succeeds, while its intents are fed to the park path in random batches.
CREATE FUNCTION pg_temp.drive(k text, n int) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  p int := intentlog.partition_for(k, 4);
  seqs bigint[];
  fed int := 1;
  take int;
  delivered bigint[] := '{}';
  r record;
  o text;
  guard int := 0;
BEGIN
  SELECT array_agg(x.seq ORDER BY x.seq) INTO seqs
    FROM (SELECT (intentlog.intent_append('tap_dl', k, 'set')).seq FROM generate_series(1, n)) x;
  -- The first delivery fails, with two intents queued behind it in the worker.
  PERFORM intentlog.record_failure('tap', 'tap_dl', p, seqs[1], 'first', followers => seqs[2:3]);
  fed := 4;
  LOOP
    guard := guard + 1;
    EXIT WHEN guard > 10000;
    -- Feed the next fetched batch through park: all of it must be held.
    IF fed <= n THEN
      take := 1 + (random() * 3)::int;
      IF (SELECT count(*) FROM intentlog.park('tap', 'tap_dl', p, seqs[fed:fed + take - 1],
                                              array_fill(k, ARRAY[least(take, n - fed + 1)]))) <> least(take, n - fed + 1) THEN
        RAISE EXCEPTION 'park let an intent of a held key through';
      END IF;
      fed := fed + take;
    END IF;
    UPDATE intentlog.retries x SET next_attempt_at = now() - interval '1 ms' WHERE x.key = k;
    FOR r IN SELECT * FROM intentlog.due_retries('tap', 'tap_dl', ARRAY[p]) LOOP
      IF random() < 0.3 THEN
        SELECT outcome INTO o FROM intentlog.record_failure('tap', 'tap_dl', p, r.seq, 'random', attempt => r.attempt);
        IF o = 'dead_letter' THEN
          PERFORM intentlog.redrive('tap_dl', key => k);
        END IF;
      ELSE
        delivered := delivered || r.seq;
        PERFORM intentlog.retry_delivered('tap', 'tap_dl', p, r.seq);
      END IF;
    END LOOP;
    EXIT WHEN fed > n AND NOT EXISTS (SELECT 1 FROM intentlog.retries x WHERE x.key = k)
          AND NOT EXISTS (SELECT 1 FROM intentlog.parked x WHERE x.key = k)
          AND NOT EXISTS (SELECT 1 FROM intentlog.dead_letters x WHERE x.key = k);
  END LOOP;
  RETURN delivered;
END $$;
CREATE TEMP TABLE ord AS SELECT pg_temp.drive('ord', 40) AS delivered;
SELECT is((SELECT delivered FROM ord),
          (SELECT array_agg(seq ORDER BY seq) FROM intentlog_data.tap_dl WHERE key = 'ord'),
          'a key''s intents are delivered in seq order, each once, across random failures, parking and redrives');
SELECT is((SELECT count(*) FROM intentlog.held_keys('tap', 'tap_dl', ARRAY[0, 1, 2, 3]) WHERE key = 'ord'), 0::bigint,
          'after which the key streams freely again');

-- 4. Other keys are never held back by a failing one.
SELECT intentlog.record_failure('tap', 'tap_dl', intentlog.partition_for('poison', 4),
                                (intentlog.intent_append('tap_dl', 'poison', 'set')).seq, 'poison');
CREATE TEMP TABLE other AS
  SELECT x.partition, x.seq, 'k' || g AS key
    FROM generate_series(1, 200) g, LATERAL intentlog.intent_append('tap_dl', 'k' || g, 'set') x;
SELECT is((SELECT count(*) FROM generate_series(0, 3) p,
                  LATERAL intentlog.park('tap', 'tap_dl', p,
                                         (SELECT array_agg(o.seq ORDER BY o.seq) FROM other o WHERE o.partition = p),
                                         (SELECT array_agg(o.key ORDER BY o.seq) FROM other o WHERE o.partition = p))),
          0::bigint, 'park holds back no intent of a key without a retry');

-- 5. Redrive re-queues, discard removes.
SELECT pg_temp.fail_until_dead(2);
SELECT is(intentlog.redrive(dead_letter_id), 1) FROM intentlog.dead_letters WHERE key = 'dead-2' AND group_name = 'tap';
SELECT is((SELECT count(*) FROM intentlog.dead_letters WHERE key = 'dead-2'), 0::bigint, 'a redriven dead letter leaves dead_letters');
SELECT is((SELECT attempt || '/' || source FROM intentlog.due_retries('tap', 'tap_dl', ARRAY[intentlog.partition_for('dead-2', 4)])
            WHERE key = 'dead-2'), '1/parked', 'and is delivered again from attempt 1');
SELECT is(intentlog.discard('tap_dl', key => 'dead-3'), 1, 'discard by key removes that key''s dead letter');
SELECT is((SELECT count(*) FROM intentlog.dead_letters WHERE key LIKE 'dead-%'), 7::bigint, 'and only that one');

-- 6. The bookkeeping keeps its copy of the intent: retention may drop the segment.
SELECT intentlog.commit_cursor('tap', 'tap_dl', p, intentlog.latest_cursor('tap_dl', p)) FROM generate_series(0, 3) p;
UPDATE intentlog.domains SET retention = '0' WHERE name = 'tap_dl';
UPDATE intentlog.segments SET created_at = now() - interval '2 hours'
 WHERE domain_id = (SELECT domain_id FROM intentlog.domains WHERE name = 'tap_dl');
SELECT intentlog._rotate(domain_id, p) FROM intentlog.domains, generate_series(0, 3) p WHERE name = 'tap_dl';
SELECT intentlog._retain(domain_id, p) FROM intentlog.domains, generate_series(0, 3) p WHERE name = 'tap_dl';
SELECT is((SELECT count(*) FROM intentlog_data.tap_dl WHERE key = 'poison'), 0::bigint, 'retention dropped the segments');
UPDATE intentlog.retries SET next_attempt_at = now() WHERE key = 'poison';
SELECT is((SELECT op FROM intentlog.due_retries('tap', 'tap_dl', ARRAY[0, 1, 2, 3]) WHERE key = 'poison'), 'set',
          'the retry is still delivered from its own copy');

SELECT * FROM finish();
ROLLBACK;
