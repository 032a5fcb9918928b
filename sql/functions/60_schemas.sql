-- Schema registry (tables: sql/structure/60_schemas.sql). C++: src/extension/schema_registry.cpp.

CREATE OR REPLACE FUNCTION intentlog._check_schema(
  domain text, prev_version int, prev_set bytea, prev_message text,
  descriptor_set bytea, message text, compatibility text)
RETURNS text LANGUAGE c IMMUTABLE
AS 'MODULE_PATHNAME', 'intentlog_check_schema';
COMMENT ON FUNCTION intentlog._check_schema(text, int, bytea, text, bytea, text, text) IS
  'Internal: parses a descriptor set, finds the message (returns its full name) and raises unless it keeps the compatibility mode with the previous version.';

CREATE OR REPLACE FUNCTION intentlog.register_schema(
  domain         text,
  descriptor_set bytea,
  message        text,
  compatibility  text DEFAULT 'backward')
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d         int;
  prev      intentlog.schemas%ROWTYPE;
  full_name text;
  v         int;
BEGIN
  d := intentlog._domain_id(domain);
  -- One registration per domain at a time: each version is checked against
  -- the one before it. NO KEY: appends and foreign keys are not blocked.
  PERFORM 1 FROM intentlog.domains x WHERE x.domain_id = d FOR NO KEY UPDATE;
  SELECT * INTO prev FROM intentlog.schemas s WHERE s.domain_id = d ORDER BY s.version DESC LIMIT 1;
  IF FOUND AND prev.descriptor_set = register_schema.descriptor_set
     AND prev.message = ltrim(register_schema.message, '.') THEN
    RETURN prev.version;  -- the same schema again
  END IF;
  full_name := intentlog._check_schema(domain, prev.version, prev.descriptor_set, prev.message,
                                       register_schema.descriptor_set, register_schema.message,
                                       register_schema.compatibility);
  v := coalesce(prev.version, 0) + 1;
  INSERT INTO intentlog.schemas (domain_id, version, message, descriptor_set, compatibility)
  VALUES (d, v, full_name, register_schema.descriptor_set, register_schema.compatibility);
  RETURN v;
END $$;
COMMENT ON FUNCTION intentlog.register_schema(text, bytea, text, text) IS
  'Registers a serialized FileDescriptorSet (protoc --include_imports --descriptor_set_out) and the full name of the payload message as the domain''s next schema version, and returns that version (the existing one if the same schema is registered again). Refuses, naming the field, changes that break compatibility with the previous version: backward (default; new readers read old data), forward (old readers read new data), full (both) or none.';

CREATE OR REPLACE FUNCTION intentlog.set_validate_payloads(domain text, validate boolean DEFAULT true)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE d int;
BEGIN
  d := intentlog._domain_id(domain);
  IF validate IS NULL THEN
    RAISE EXCEPTION 'validate must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF validate AND NOT EXISTS (SELECT 1 FROM intentlog.schemas s WHERE s.domain_id = d) THEN
    RAISE EXCEPTION 'intentlog domain "%" has no registered schema', domain
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Register one with intentlog.register_schema().';
  END IF;
  -- The trigger on intentlog.domains invalidates every backend's cache.
  UPDATE intentlog.domains x SET validate_payloads = validate WHERE x.domain_id = d;
END $$;
COMMENT ON FUNCTION intentlog.set_validate_payloads(text, boolean) IS
  'Makes intent_append refuse (SQLSTATE 22P03, nothing written) payloads that are not a complete message of the domain''s current schema version, with no field that version does not define; false turns the check off. NULL payloads are always accepted.';

CREATE OR REPLACE FUNCTION intentlog.schema_descriptor(domain text, schema_version int DEFAULT NULL)
RETURNS TABLE (version int, message text, descriptor_set bytea)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE d int;
BEGIN
  d := intentlog._domain_id(domain);
  RETURN QUERY
    SELECT s.version, s.message, s.descriptor_set FROM intentlog.schemas s
     WHERE s.domain_id = d AND (schema_version IS NULL OR s.version = schema_version)
     ORDER BY s.version DESC LIMIT 1;
  IF NOT FOUND AND schema_version IS NULL THEN
    RAISE EXCEPTION 'intentlog domain "%" has no registered schema', domain
      USING ERRCODE = 'undefined_object', HINT = 'Register one with intentlog.register_schema().';
  ELSIF NOT FOUND THEN
    RAISE EXCEPTION 'intentlog domain "%" has no schema version %', domain, schema_version
      USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION intentlog.schema_descriptor(text, int) IS
  'The descriptor set and message name of one schema version of a domain (the current one if schema_version is NULL), for consumers that decode payloads: an intent''s schema_version names the version its payload was appended under.';

CREATE OR REPLACE FUNCTION intentlog.decode(domain text, schema_version int, payload bytea)
RETURNS jsonb LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'intentlog_decode';
COMMENT ON FUNCTION intentlog.decode(text, int, bytea) IS
  'A payload as JSON, decoded with the given schema version of the domain (proto3 JSON mapping: lowerCamelCase field names, enums by name, 64-bit integers as strings). NULL if any argument is NULL, e.g. an intent appended before the domain had a schema. A string field holding a NUL character cannot be shown in jsonb (SQLSTATE 22P05).';

CREATE OR REPLACE FUNCTION intentlog.encode(domain text, payload jsonb, schema_version int DEFAULT NULL)
RETURNS bytea LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intentlog_encode';
COMMENT ON FUNCTION intentlog.encode(text, jsonb, int) IS
  'JSON encoded as the domain''s payload message (proto3 JSON mapping; field names in either spelling; unknown fields are an error, SQLSTATE 22P02). Uses the current schema version when schema_version is NULL. NULL for a NULL payload.';

CREATE OR REPLACE FUNCTION intentlog.intent_append_json(
  domain           text,
  key              text,
  op               text,
  payload          jsonb,
  expected_version bigint DEFAULT NULL,
  headers          jsonb DEFAULT NULL)
RETURNS intentlog.append_result LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT a.partition, a.seq FROM intentlog.intent_append($1, $2, $3, intentlog.encode($1, $4), $5, $6) a $$;
COMMENT ON FUNCTION intentlog.intent_append_json(text, text, text, jsonb, bigint, jsonb) IS
  'intent_append with a JSON payload, encoded through the domain''s current schema version (which the intent then carries). JSON that does not match the schema is refused with SQLSTATE 22P02.';

