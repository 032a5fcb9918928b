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
