\set k random(1, 100000)
SELECT count(*) FROM intentlog.intent_append_batch('bench_staged',
  ARRAY(SELECT 'acct-' || (1 + (:k + g) % 100000) FROM generate_series(1, 100) g),
  array_fill('upsert'::text, ARRAY[100]),
  array_fill('\x0a0b6163636f756e742d31323334120f0801120b08011207757064617465641a0c08d2f0a1c00610e8ecd0c503'::bytea, ARRAY[100]));
