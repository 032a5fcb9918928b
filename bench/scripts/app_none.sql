\set k random(1, 100000)
BEGIN;
UPDATE accounts SET balance = balance + 1, updated_at = now() WHERE id = :k;
END;
