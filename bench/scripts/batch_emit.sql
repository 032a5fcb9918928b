\set k random(1, 100000)
SELECT count(pg_logical_emit_message(true, 'intent', convert_to('acct-' || (1 + (:k + g) % 100000), 'UTF8') || '\x757073657274'::bytea || '\x0a0b6163636f756e742d31323334120f0801120b08011207757064617465641a0c08d2f0a1c00610e8ecd0c503'::bytea))
  FROM generate_series(1, 100) g;
