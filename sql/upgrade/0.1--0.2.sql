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
