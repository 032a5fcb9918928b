-- Observability: intentlog.lag tells the truth after rolled-back appends,
-- intentlog.blocked_keys, intentlog.hot_keys and intentlog.metrics().
\i test/regress/fixtures/fresh.sql
\set SHOW_CONTEXT never
SELECT intentlog.create_domain('lagged', partitions => 1);
SELECT seq FROM intentlog.intent_append('lagged', 'a', 'x');
SELECT key FROM intentlog.consume('lg', 'lagged', 0);
-- A rolled-back append at the end of the partition: its seq is never read,
-- yet nothing committed is undelivered, so seq_lag is 0.
BEGIN;
SELECT seq FROM intentlog.intent_append('lagged', 'a', 'x');
ROLLBACK;
SELECT count(*) FROM intentlog.consume('lg', 'lagged', 0);
SELECT watermark, last_seq, seq_lag, oldest_undelivered_age IS NULL AS caught_up
  FROM intentlog.lag WHERE domain = 'lagged';
-- A committed intent after the rolled-back seq: the lag counts up to it.
SELECT seq FROM intentlog.intent_append('lagged', 'b', 'x');
SELECT watermark, last_seq, seq_lag, oldest_undelivered_age IS NULL AS caught_up
  FROM intentlog.lag WHERE domain = 'lagged';
SELECT key FROM intentlog.consume('lg', 'lagged', 0);
-- Several rolled back in a row, at the end again.
BEGIN;
SELECT count(*) FROM intentlog.intent_append_batch('lagged', ARRAY['c', 'd', 'e'], ARRAY['x', 'x', 'x']);
ROLLBACK;
SELECT count(*) FROM intentlog.consume('lg', 'lagged', 0);
SELECT watermark, last_seq, seq_lag, oldest_undelivered_age IS NULL AS caught_up
  FROM intentlog.lag WHERE domain = 'lagged';

-- Append counters (shared memory, counted when the transaction ends): 2
-- committed, 4 rolled back; a rolled-back savepoint counts as rolled back.
SELECT domain, intents_committed, intents_rolled_back, append_transactions, counters_since IS NOT NULL AS since,
       partitions, retries, parked, dead_letters
  FROM intentlog.metrics();
BEGIN;
SELECT seq FROM intentlog.intent_append('lagged', 'f', 'x');
SAVEPOINT s;
SELECT count(*) FROM intentlog.intent_append_batch('lagged', ARRAY['g', 'h'], ARRAY['x', 'x']);
ROLLBACK TO s;
SAVEPOINT t;
SELECT seq FROM intentlog.intent_append('lagged', 'f', 'x');
RELEASE t;
COMMIT;
SELECT domain, intents_committed, intents_rolled_back, append_transactions FROM intentlog.metrics();

-- Hot keys of the last minutes, most first.
SELECT count(*) FROM intentlog.intent_append_batch('lagged', ARRAY['h', 'h', 'h', 'i'], ARRAY['x', 'x', 'x', 'x']);
SELECT key, partition, intents, first_appended_at <= last_appended_at AS ordered
  FROM intentlog.hot_keys('lagged', '10 minutes', 3);
SELECT count(*) FROM intentlog.hot_keys('lagged', '1 hour');
SELECT * FROM intentlog.hot_keys('lagged', '0 seconds');
SELECT * FROM intentlog.hot_keys('lagged', '1 minute', 0);
SELECT * FROM intentlog.hot_keys('no_such_domain');

-- A key held behind a retry, with the intents parked behind it.
SELECT intentlog.create_domain('held', partitions => 1, max_attempts => 3) IS NOT NULL AS created;
SELECT count(*) FROM intentlog.intent_append_batch('held', ARRAY['p', 'q', 'p', 'p'], ARRAY['x', 'x', 'x', 'x']);
SELECT outcome, failed_attempts FROM intentlog.record_failure('g', 'held', 0, 1, 'consumer said no', followers => ARRAY[3, 4]::bigint[]);
SELECT group_name, domain, partition, key, seq, attempt, next_attempt_at > now() AS later, in_flight,
       first_failed_at IS NOT NULL AS failing, last_error, parked_behind
  FROM intentlog.blocked_keys;
SELECT domain, retries, parked, dead_letters FROM intentlog.metrics() ORDER BY domain;
SELECT intentlog.drop_domain('held');
SELECT intentlog.drop_domain('lagged');
SELECT count(*) FROM intentlog.blocked_keys;
