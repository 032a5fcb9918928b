-- Consumer credentials: create_consumer, revoke_consumer, the grants view,
-- what the worker reads, errors and privileges.
\i test/regress/fixtures/fresh.sql
\set SHOW_CONTEXT never
-- The token is NAME/SECRET (64 hex digits); only sha256(salt || SECRET) is kept.
SELECT intentlog.create_consumer('billing', groups => '{billing.*}', domains => '{orders,pay*}') AS token \gset
SELECT :'token' ~ '^billing/[0-9a-f]{64}$' AS token_shape;
SELECT c.token_hash = sha256(c.token_salt || convert_to(split_part(:'token', '/', 2), 'UTF8')) AS hash_matches,
       length(c.token_salt) AS salt_bytes,
       position(convert_to(split_part(:'token', '/', 2), 'UTF8') IN c.token_hash) = 0 AS secret_not_stored
  FROM intentlog.consumers c WHERE name = 'billing';
SELECT intentlog.create_consumer('ops', groups => '{*}') ~ '^ops/' AS created;
SELECT consumer, groups, domains, active, revoked_at FROM intentlog.consumer_grants ORDER BY consumer;
SELECT name, groups, domains, length(token_hash) AS hash_bytes FROM intentlog.consumer_credentials();
-- Two tokens never repeat.
SELECT intentlog.create_consumer('c1', '{g}') <> intentlog.create_consumer('c2', '{g}') AS distinct_tokens;

-- Errors (with their SQLSTATE), nothing written.
\set VERBOSITY sqlstate
SELECT intentlog.create_consumer('billing', '{x}');
SELECT intentlog.create_consumer('bad name', '{x}');
SELECT intentlog.create_consumer('n', '{}');
SELECT intentlog.create_consumer('n', '{"a b"}');
SELECT intentlog.create_consumer('n', '{g}', domains => '{""}');
SELECT intentlog.create_consumer('n', NULL);
SELECT intentlog.create_consumer(NULL, '{g}');
SELECT intentlog.revoke_consumer('nobody');
\set VERBOSITY default
SELECT count(*) FROM intentlog.consumers WHERE name = 'n';

-- Revoked: gone from what workers read, kept in the view; the name can get a new token.
SELECT intentlog.revoke_consumer('billing');
SELECT intentlog.revoke_consumer('billing');
SELECT consumer, active, revoked_at IS NOT NULL AS revoked FROM intentlog.consumer_grants WHERE consumer = 'billing';
SELECT count(*) FROM intentlog.consumer_credentials() WHERE name = 'billing';
SELECT intentlog.create_consumer('billing', '{billing}') <> :'token' AS new_token;
SELECT consumer, groups, domains, active FROM intentlog.consumer_grants WHERE consumer = 'billing';

-- Privileges: intentlog_admin administers, intentlog_consumer (the worker) reads
-- credentials, nobody else does either; nobody reads the hashes' table.
CREATE ROLE consumers_admin IN ROLE intentlog_admin;
CREATE ROLE consumers_worker IN ROLE intentlog_consumer;
SET ROLE consumers_admin;
SELECT intentlog.create_consumer('by_admin', '{g}') ~ '^by_admin/' AS created;
SELECT consumer FROM intentlog.consumer_grants WHERE consumer = 'by_admin';
SELECT count(*) FROM intentlog.consumers;
SELECT count(*) FROM intentlog.consumer_credentials();
RESET ROLE;
SET ROLE consumers_worker;
SELECT count(*) > 0 AS reads_credentials FROM intentlog.consumer_credentials();
SELECT intentlog.create_consumer('by_worker', '{g}');
SELECT intentlog.revoke_consumer('by_admin');
SELECT count(*) FROM intentlog.consumer_grants;
RESET ROLE;
CREATE ROLE consumers_nobody;
SET ROLE consumers_nobody;
SELECT count(*) FROM intentlog.consumer_credentials();
SELECT count(*) FROM intentlog.consumer_grants;
RESET ROLE;
DROP ROLE consumers_admin;
DROP ROLE consumers_worker;
DROP ROLE consumers_nobody;
SELECT p.oid::regprocedure AS function,
       has_function_privilege('intentlog_consumer', p.oid, 'EXECUTE') AS consumer,
       has_function_privilege('intentlog_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('intentlog_writer', p.oid, 'EXECUTE') AS writer,
       p.prosecdef AS security_definer,
       p.proconfig AS config,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'intentlog'::regnamespace
   AND p.proname IN ('create_consumer', 'revoke_consumer', 'consumer_credentials', '_check_patterns')
 ORDER BY 1::text;
