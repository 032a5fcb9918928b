\set k random(1, 100000)
INSERT INTO outbox (partition, xid, key, op, payload, appended_at)
SELECT abs(hashtext(k)) % 16, pg_current_xact_id(), k, 'upsert', '\x0a0b6163636f756e742d31323334120f0801120b08011207757064617465641a0c08d2f0a1c00610e8ecd0c503'::bytea, now()
  FROM (SELECT 'acct-' || (1 + (:k + g) % 100000) AS k FROM generate_series(1, 100) g) s;
