-- intentlog 0.1 -> 0.2: what changes in tables and other objects that are not
-- re-applied. Runs before the re-applied parts (functions, triggers, views,
-- grants: the same files as the install script), so it is only the DDL that
-- CREATE OR REPLACE cannot do. Each statement is idempotent (IF NOT EXISTS,
-- IF EXISTS, or a DO block that looks at the catalog first). See sql/README.md.

-- pg_dump keeps the serial sequences of domains and gaps: restored at 1, they
-- made the next create_domain (and the next crash gap) collide with a
-- restored row's id.
SELECT pg_catalog.pg_extension_config_dump('intentlog.domains_domain_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.gaps_gap_id_seq', '');

-- Consumer credentials (structure/90_consumers.sql).
CREATE TABLE IF NOT EXISTS intentlog.consumers (
  name        text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  token_salt  bytea NOT NULL,
  token_hash  bytea NOT NULL,
  groups      text[] NOT NULL,
  domains     text[],
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);
COMMENT ON TABLE intentlog.consumers IS
  'Consumer credentials (intentlog.create_consumer): the group and domain patterns a token grants (* matches any characters; domains NULL: every domain), sha256(token_salt || secret) of its secret; revoked ones are kept with revoked_at.';
SELECT pg_catalog.pg_extension_config_dump('intentlog.consumers', '');

-- The consumer group name rule as one domain (structure/10_catalog.sql)
-- instead of a CHECK on every group_name column. The views that read those
-- columns are dropped first (ALTER COLUMN TYPE refuses while a view uses
-- the column); views.sql creates them again, grants.sql grants them again.
DO $$ BEGIN
  IF to_regtype('intentlog.group_name') IS NULL THEN
    CREATE DOMAIN intentlog.group_name AS text
      CONSTRAINT group_name_check CHECK (VALUE ~ '^[A-Za-z0-9_.:-]{1,128}$');
    COMMENT ON DOMAIN intentlog.group_name IS
      'A consumer group name: 1 to 128 characters, letters, digits, ''_'', ''.'', '':'' and ''-''.';
  END IF;
END $$;
DROP VIEW IF EXISTS intentlog.lag, intentlog.retries_due, intentlog.blocked_keys, intentlog.dead_letters_per_domain,
                    intentlog.delivery_backlog;
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['cursors', 'lease_members', 'leases', 'gap_notices', 'retries', 'parked', 'dead_letters'] LOOP
    IF (SELECT a.atttypid FROM pg_attribute a
         WHERE a.attrelid = format('intentlog.%I', t)::regclass AND a.attname = 'group_name') = 'text'::regtype THEN
      EXECUTE format('ALTER TABLE intentlog.%I DROP CONSTRAINT IF EXISTS %I', t, t || '_group_name_check');
      EXECUTE format('ALTER TABLE intentlog.%I ALTER COLUMN group_name TYPE intentlog.group_name', t);
    END IF;
  END LOOP;
END $$;

-- Leases are renewed per (group, domain) membership, not per partition
-- (structure/50_worker.sql): the table becomes lease_holds, and
-- intentlog.leases a view (views.sql) with each lease's effective expiry.
DO $$ BEGIN
  IF (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('intentlog.leases')) = 'r' THEN
    ALTER TABLE intentlog.leases RENAME TO lease_holds;
    ALTER TABLE intentlog.lease_holds RENAME CONSTRAINT leases_pkey TO lease_holds_pkey;
    ALTER TABLE intentlog.lease_holds RENAME CONSTRAINT leases_domain_id_fkey TO lease_holds_domain_id_fkey;
    COMMENT ON TABLE intentlog.lease_holds IS
      'Which worker drains a partition for a consumer group. The lease lasts as long as the holder''s membership of the group on the domain (intentlog.lease_members), renewed once per (group, domain) instead of once per partition, or at least until expires_at, the end of the ttl it was taken with. Read intentlog.leases for when each lease expires.';
  END IF;
END $$;

-- The intent row as one composite type (structure/30_append_read.sql).
-- intentlog._intent returned OUT parameters; now it returns the type.
-- intentlog.consume returned a TABLE of the same columns; now SETOF the type.
DO $$ BEGIN
  IF to_regtype('intentlog.intent') IS NULL THEN
    CREATE TYPE intentlog.intent AS (
      seq              bigint,
      key              text,
      op               text,
      payload          bytea,
      schema_version   int,
      expected_version bigint,
      headers          jsonb,
      appended_at      timestamptz);
    COMMENT ON TYPE intentlog.intent IS
      'One intent as delivered: its seq in its partition, key, op, payload (schema_version: the payload schema it was validated against), expected_version, headers and when it was appended.';
  END IF;
END $$;
DROP FUNCTION IF EXISTS intentlog._intent(int, int, bigint);
DROP FUNCTION IF EXISTS intentlog.consume(text, text, int, int);

-- Segments and hot tables lost their xid index: a late committer's rows are
-- found through the primary key (see _create_segment). Dropping one locks
-- its table for a moment.
DO $$
DECLARE
  i regclass;
BEGIN
  FOR i IN
    SELECT x.indexrelid::regclass
      FROM (SELECT hot_rel AS rel FROM intentlog.partitions WHERE hot_rel <> durable_rel
            UNION SELECT rel FROM intentlog.segments) r
      JOIN pg_index x ON x.indrelid = r.rel
      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
     WHERE x.indnatts = 1 AND NOT x.indisprimary AND a.attname = 'xid'
  LOOP
    EXECUTE format('DROP INDEX %s', i);
  END LOOP;
END $$;

-- _promotion_due takes the partition's sequence too (staged promotion steps
-- its cursor over seqs that went straight to a segment).
DROP FUNCTION IF EXISTS intentlog._promotion_due(text, timestamptz, interval, regclass, text);
-- _promotable takes it as well: it checks the sequence against the cursor
-- itself (maintenance and _promotion_due asked it both ways).
DROP FUNCTION IF EXISTS intentlog._promotable(regclass, text);
