-- Consumer credentials (structure/90_consumers.sql): created and revoked by
-- intentlog_admin, read by the worker (intentlog_consumer).

-- Group and domain patterns: 1 to 128 of the name characters, or '*'.
CREATE OR REPLACE FUNCTION intentlog._check_patterns(what text, patterns text[])
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE p text;
BEGIN
  IF patterns IS NULL THEN
    RETURN;
  END IF;
  IF cardinality(patterns) = 0 OR cardinality(patterns) > 256 THEN
    RAISE EXCEPTION '% must list 1 to 256 patterns', what USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH p IN ARRAY patterns LOOP
    IF p IS NULL OR p !~ '^[A-Za-z0-9_.:*-]{1,128}$' THEN
      RAISE EXCEPTION 'invalid % pattern %', what, coalesce(quote_literal(p), 'NULL')
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'A pattern is 1 to 128 of [A-Za-z0-9_.:-], where * matches any characters.';
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION intentlog.create_consumer(name text, groups text[], domains text[] DEFAULT NULL)
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  secret text;
  salt   bytea;
BEGIN
  IF name IS NULL OR groups IS NULL THEN
    RAISE EXCEPTION 'name and groups must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF name !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
    RAISE EXCEPTION 'invalid consumer name %', quote_literal(name) USING ERRCODE = 'invalid_name',
      HINT = 'A consumer name is 1 to 128 of [A-Za-z0-9_.:-].';
  END IF;
  PERFORM intentlog._check_patterns('group', groups);
  PERFORM intentlog._check_patterns('domain', domains);
  -- gen_random_uuid() is core PostgreSQL (pgcrypto is not needed): two v4
  -- UUIDs are 244 random bits.
  secret := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  salt := decode(replace(gen_random_uuid()::text, '-', ''), 'hex');
  INSERT INTO intentlog.consumers AS c (name, token_salt, token_hash, groups, domains)
  VALUES (create_consumer.name, salt, sha256(salt || convert_to(secret, 'UTF8')), groups, domains)
  ON CONFLICT ON CONSTRAINT consumers_pkey DO UPDATE
     SET token_salt = EXCLUDED.token_salt, token_hash = EXCLUDED.token_hash, groups = EXCLUDED.groups,
         domains = EXCLUDED.domains, created_at = now(), revoked_at = NULL
   WHERE c.revoked_at IS NOT NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'consumer "%" already exists', name USING ERRCODE = 'duplicate_object',
      HINT = 'Revoke it first (intentlog.revoke_consumer) to give the name a new token.';
  END IF;
  RETURN name || '/' || secret;
END $$;
COMMENT ON FUNCTION intentlog.create_consumer(text, text[], text[]) IS
  'Creates a consumer credential and returns its token (NAME/SECRET), shown this once: only a salted hash is stored. groups and domains are patterns (* matches any characters); domains NULL: every domain. A revoked name may be created again (a new token).';

CREATE OR REPLACE FUNCTION intentlog.revoke_consumer(name text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE intentlog.consumers c SET revoked_at = now() WHERE c.name = revoke_consumer.name AND c.revoked_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no active consumer "%"', name USING ERRCODE = 'no_data_found';
  END IF;
END $$;
COMMENT ON FUNCTION intentlog.revoke_consumer(text) IS
  'Revokes a consumer''s token: workers refuse it and close its sessions within seconds.';

-- What workers check Hellos against: the active credentials.
CREATE OR REPLACE FUNCTION intentlog.consumer_credentials()
RETURNS TABLE (name text, token_salt bytea, token_hash bytea, groups text[], domains text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.name, c.token_salt, c.token_hash, c.groups, c.domains
    FROM intentlog.consumers c
   WHERE c.revoked_at IS NULL
   ORDER BY c.name
$$;
COMMENT ON FUNCTION intentlog.consumer_credentials() IS
  'For workers: the active consumer credentials (salted hashes, never tokens) and their grants.';
