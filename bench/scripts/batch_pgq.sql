\set k random(1, 100000)
SELECT count(pgq.insert_event('bench_q', 'upsert', '0a0b6163636f756e742d31323334120f0801120b08011207757064617465641a0c08d2f0a1c00610e8ecd0c503'))
  FROM generate_series(1, 100) g;
