\set k random(1, 100000)
BEGIN;
UPDATE accounts SET balance = balance + 1, updated_at = now() WHERE id = :k;
SELECT * FROM intentlog.intent_append('bench_staged', 'acct-' || :k, 'upsert', '\x0a0b6163636f756e742d31323334120f0801120b08011207757064617465641a0c08d2f0a1c00610e8ecd0c503'::bytea);
END;
