-- intentlog 0.1 install script, assembled from sql/src/*.sql in name order.
\echo Use "CREATE EXTENSION intentlog" to load this file. \quit

-- Roles are cluster-wide: create them once, reuse them in every database.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_writer') THEN
    CREATE ROLE intentlog_writer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_consumer') THEN
    CREATE ROLE intentlog_consumer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_admin') THEN
    CREATE ROLE intentlog_admin NOLOGIN;
  END IF;
END
$roles$;

-- Intent storage: one parent table per domain, one child per partition, and
-- the segments (and, for staged domains, the unlogged hot table) below those.
CREATE SCHEMA intentlog_data;
COMMENT ON SCHEMA intentlog_data IS
  'intentlog storage: per domain a parent table, per partition a child, per segment a grandchild. Managed by intentlog; read it, do not write it.';

GRANT USAGE ON SCHEMA intentlog TO intentlog_writer, intentlog_consumer, intentlog_admin;
GRANT USAGE ON SCHEMA intentlog_data TO intentlog_writer, intentlog_consumer, intentlog_admin;
