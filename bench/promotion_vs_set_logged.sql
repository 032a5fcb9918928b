-- Promotion cost of staged intents, two ways (issue 19, goal 1): intentlog's
-- row copy (INSERT ... SELECT + DELETE, then VACUUM) against ALTER TABLE ...
-- SET LOGGED, on 200,000 intent-shaped rows; prints the WAL bytes per row
-- of each. Run in a scratch database: psql -X -d DB -f bench/promotion_vs_set_logged.sql
\timing on
CREATE UNLOGGED TABLE hot (partition int, seq bigint PRIMARY KEY, xid xid8, key text, op text, payload bytea, schema_version int, expected_version bigint, headers jsonb, appended_at timestamptz);
CREATE TABLE seg (LIKE hot INCLUDING ALL);
CREATE UNLOGGED TABLE hot2 (LIKE hot INCLUDING ALL);
INSERT INTO hot SELECT 0, g, '1'::xid8, 'acct-' || (g % 100000), 'upsert', '\x0a0b6163636f756e742d31323334120f0801120b08011207757064617465641a0c08d2f0a1c00610e8ecd0c503'::bytea, NULL, NULL, NULL, now() FROM generate_series(1, 200000) g;
INSERT INTO hot2 SELECT * FROM hot;
CHECKPOINT;
SELECT pg_current_wal_lsn() AS l0 \gset
BEGIN; INSERT INTO seg SELECT * FROM hot; DELETE FROM hot; COMMIT;
SELECT pg_current_wal_lsn() AS l1 \gset
VACUUM hot;
SELECT pg_current_wal_lsn() AS l2 \gset
CHECKPOINT;
SELECT pg_current_wal_lsn() AS l3 \gset
ALTER TABLE hot2 SET LOGGED;
SELECT pg_current_wal_lsn() AS l4 \gset
SELECT pg_wal_lsn_diff(:'l1', :'l0') / 200000 AS copy_delete_wal_per_row, pg_wal_lsn_diff(:'l2', :'l1') / 200000 AS vacuum_wal_per_row, pg_wal_lsn_diff(:'l4', :'l3') / 200000 AS set_logged_wal_per_row;
