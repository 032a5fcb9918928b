-- Schemas. (The schema intentlog itself is created by CREATE EXTENSION: see the control file.)

-- Intent storage: one parent table per domain, one child per partition, and
-- the segments (and, for staged domains, the unlogged hot table) below those.
CREATE SCHEMA intentlog_data;
COMMENT ON SCHEMA intentlog_data IS
  'intentlog storage: per domain a parent table, per partition a child, per segment a grandchild. Managed by intentlog; read it, do not write it.';
