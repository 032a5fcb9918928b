-- Schema registry: a ladder of versions per compatibility mode, validated
-- appends, JSON appends and decoding. Descriptor sets are compiled from
-- test/fixtures/schemas/*/order.proto by protoc at test time.
\i test/regress/fixtures/fresh.sql
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;

\set v1 `test/fixtures/schemas/set.sh v1`
\set v2 `test/fixtures/schemas/set.sh v2_add_note`
\set v3 `test/fixtures/schemas/set.sh v3_drop_tags`
\set bad_drop_note `test/fixtures/schemas/set.sh bad_drop_note`
\set bad_amount_string `test/fixtures/schemas/set.sh bad_amount_string`
\set bad_item_repeated `test/fixtures/schemas/set.sh bad_item_repeated`
\set bad_reuse_tags `test/fixtures/schemas/set.sh bad_reuse_tags`
\set bad_rename `test/fixtures/schemas/set.sh bad_rename`
\set bad_fake_struct `test/fixtures/schemas/set.sh bad_fake_struct`
\set p2_v1 `test/fixtures/schemas/set.sh p2_v1`
\set p2_add_required `test/fixtures/schemas/set.sh p2_add_required`

SELECT intentlog.create_domain('shop', partitions => 2) > 0 AS created;

-- An intent appended before any schema carries no version.
SELECT partition, seq FROM intentlog.intent_append('shop', 'o0', 'create', '\x0a026f30');

-- Bad input is refused, never a crash.
SELECT intentlog.register_schema('shop', '\xdeadbeef', 'shop.v1.Order');
SELECT intentlog.register_schema('shop', '', 'shop.v1.Order');
SELECT intentlog.register_schema('shop', decode(:'v1', 'base64'), 'shop.v1.Missing');
SELECT intentlog.register_schema('shop', decode(:'v1', 'base64'), 'shop.v1.Order', 'sideways');
SELECT intentlog.register_schema('nope', decode(:'v1', 'base64'), 'shop.v1.Order');
-- Without --include_imports the set lacks google/protobuf/timestamp.proto.
\set no_imports `protoc -I test/fixtures/schemas/v1 --descriptor_set_out=/dev/stdout test/fixtures/schemas/v1/order.proto | base64 -w0`
SELECT intentlog.register_schema('shop', decode(:'no_imports', 'base64'), 'shop.v1.Order');

-- The ladder (default mode: backward).
SELECT intentlog.register_schema('shop', decode(:'v1', 'base64'), '.shop.v1.Order') AS v1;
SELECT intentlog.register_schema('shop', decode(:'v1', 'base64'), 'shop.v1.Order') AS same_again;
SELECT intentlog.register_schema('shop', decode(:'v2', 'base64'), 'shop.v1.Order') AS v2_add_note;
SELECT intentlog.register_schema('shop', decode(:'v3', 'base64'), 'shop.v1.Order') AS v3_drop_tags_reserved;
SELECT intentlog.register_schema('shop', decode(:'bad_drop_note', 'base64'), 'shop.v1.Order');
SELECT intentlog.register_schema('shop', decode(:'bad_amount_string', 'base64'), 'shop.v1.Order', 'forward');
SELECT intentlog.register_schema('shop', decode(:'bad_item_repeated', 'base64'), 'shop.v1.Order', 'full');
SELECT intentlog.register_schema('shop', decode(:'bad_reuse_tags', 'base64'), 'shop.v1.Order');
SELECT intentlog.register_schema('shop', decode(:'bad_rename', 'base64'), 'shop.v1.Purchase');
-- A schema with its own copy of a well-known type, fields changed, is refused
-- in every mode, none included (22023): its payloads could be neither
-- validated nor rendered as JSON.
SELECT intentlog.register_schema('shop', decode(:'bad_fake_struct', 'base64'), 'shop.v1.Order', 'none');
SELECT pg_temp.sqlstate_of(format('SELECT intentlog.register_schema(%L, %L::bytea, %L)', 'shop',
                                  decode(:'bad_fake_struct', 'base64'), 'shop.v1.Order')) AS fake_struct;
-- Every breaking step, per mode: refused unless the mode is none (SQLSTATE 42P17).
SELECT step, mode,
       pg_temp.sqlstate_of(format('SELECT intentlog.register_schema(%L, %L::bytea, %L, %L)', 'shop',
                                  decode(set, 'base64'), msg, mode)) AS result
  FROM (VALUES ('bad_drop_note', :'bad_drop_note', 'shop.v1.Order'),
               ('bad_amount_string', :'bad_amount_string', 'shop.v1.Order'),
               ('bad_item_repeated', :'bad_item_repeated', 'shop.v1.Order'),
               ('bad_reuse_tags', :'bad_reuse_tags', 'shop.v1.Order'),
               ('bad_rename', :'bad_rename', 'shop.v1.Purchase')) AS s(step, set, msg),
       (VALUES ('backward'), ('forward'), ('full')) AS m(mode)
 ORDER BY step, mode;
SELECT version, message, compatibility, length(descriptor_set) > 0 AS has_set
  FROM intentlog.schemas WHERE domain_id = intentlog._domain_id('shop') ORDER BY version;

-- Direction matters: a new required field breaks backward, not forward.
SELECT intentlog.create_domain('shop_p2', partitions => 1) > 0 AS created;
SELECT intentlog.register_schema('shop_p2', decode(:'p2_v1', 'base64'), 'shop.v2.Order');
SELECT pg_temp.sqlstate_of(format('SELECT intentlog.register_schema(%L, %L::bytea, %L, %L)', 'shop_p2',
                                  decode(:'p2_add_required', 'base64'), 'shop.v2.Order', mode)) AS result, mode
  FROM unnest(ARRAY['backward', 'full']) AS mode;
SELECT intentlog.register_schema('shop_p2', decode(:'p2_add_required', 'base64'), 'shop.v2.Order', 'forward');
-- ... and dropping it again breaks forward (old readers require it).
SELECT intentlog.register_schema('shop_p2', decode(:'p2_v1', 'base64'), 'shop.v2.Order', 'forward');

-- JSON through the current schema (version 3), stamped with it.
SELECT partition, seq FROM intentlog.intent_append_json('shop', 'o1', 'create',
  '{"id": "o1", "amountCents": 1250, "status": "STATUS_OPEN", "item": {"sku": "x", "qty": 2},
    "placedAt": "2024-01-02T03:04:05Z", "note": "gift"}');
SELECT partition, seq FROM intentlog.intent_append_json('shop', 'o1', 'cancel', '{"id": "o1", "status": 2}',
                                                          expected_version => 7, headers => '{"by": "test"}');
SELECT intentlog.intent_append_json('shop', 'o1', 'create', '{"id": "o1", "tags": ["a"]}');
SELECT intentlog.intent_append_json('shop', 'o1', 'create', '{"amountCents": "lots"}');
SELECT intentlog.intent_append_json('shop_p2', 'o1', 'create', '{"id": "o1"}');
SELECT intentlog.encode('shop', '{"id": "o1"}', 1), intentlog.encode('shop', NULL);
SELECT key, op, schema_version, intentlog.decode('shop', schema_version, payload)
  FROM intentlog_data.shop ORDER BY seq, partition;

-- Validation: off by default (anything goes, stamped with the current
-- version); once on, only complete messages of the current version.
SELECT intentlog.set_validate_payloads('shop_missing');
SELECT intentlog.create_domain('shop_noschema', partitions => 1) > 0 AS created;
SELECT intentlog.set_validate_payloads('shop_noschema');
SELECT partition, seq FROM intentlog.intent_append('shop', 'o2', 'junk', '\xff');
SELECT intentlog.set_validate_payloads('shop');
SELECT count(*) AS rows_before FROM intentlog_data.shop;
SELECT intentlog.intent_append('shop', 'o2', 'create', '\xff');
SELECT intentlog.intent_append('shop', 'o2', 'create', '\x0a026f32b80101');
SELECT intentlog.intent_append('shop', 'o2', 'create', '\x2a02' || '\x1801'::bytea);
SELECT intentlog.intent_append('shop', 'o2', 'create', '\x1a0161');  -- "tags" (3) is gone in version 3
SELECT pg_temp.sqlstate_of($$SELECT intentlog.intent_append('shop', 'o2', 'create', '\xff')$$);
SELECT * FROM intentlog.intent_append_batch('shop', ARRAY['o3', 'o4'], ARRAY['create', 'create'],
                                            ARRAY['\x0a026f33', '\x0a']::bytea[]);
SELECT count(*) AS rows_after_refusals FROM intentlog_data.shop;
SELECT partition, seq FROM intentlog.intent_append('shop', 'o2', 'create', '\x0a026f32');
SELECT partition, seq FROM intentlog.intent_append('shop', 'o2', 'delete');
SELECT * FROM intentlog.intent_append_batch('shop', ARRAY['o3', 'o4'], ARRAY['create', 'create'],
                                            ARRAY['\x0a026f33', '\x0a026f34']::bytea[]);
SELECT intentlog.intent_append('shop_p2', 'o1', 'create', intentlog.encode('shop_p2', '{"id": "o1"}', 1));
SELECT intentlog.set_validate_payloads('shop_p2');
SELECT intentlog.intent_append('shop_p2', 'o1', 'create', intentlog.encode('shop_p2', '{"id": "o1"}', 1));
SELECT key, op, schema_version, intentlog.decode('shop', schema_version, payload)
  FROM intentlog_data.shop WHERE key <> 'o2' OR op <> 'junk' ORDER BY seq, partition;

-- A new version reaches the append path at once (the cache is invalidated).
SELECT intentlog.register_schema('shop', decode(:'bad_amount_string', 'base64'), 'shop.v1.Order', 'none') AS v4;
SELECT intentlog.intent_append_json('shop', 'o5', 'create', '{"amountCents": 1250}');
SELECT partition, seq FROM intentlog.intent_append_json('shop', 'o5', 'create', '{"amountCents": "1250 EUR"}');
SELECT schema_version, intentlog.decode('shop', schema_version, payload) FROM intentlog_data.shop WHERE key = 'o5';
SELECT intentlog.set_validate_payloads('shop', false);
SELECT partition, seq FROM intentlog.intent_append('shop', 'o6', 'junk', '\xff');

-- Decoding: NULL in, NULL out; unknown versions and garbage are errors.
SELECT intentlog.decode('shop', NULL, '\x0a'), intentlog.decode('shop', 1, NULL);
SELECT intentlog.decode('shop', 9, '\x0a026f31');
SELECT intentlog.decode('shop', 1, '\xff');
SELECT intentlog.decode('nope', 1, '\x0a026f31');

-- What a consumer fetches to decode a version itself.
SELECT version, message, length(descriptor_set) > 0 AS has_set FROM intentlog.schema_descriptor('shop');
SELECT version, message FROM intentlog.schema_descriptor('shop', 2);
SELECT version FROM intentlog.schema_descriptor('shop', 42);
SELECT version FROM intentlog.schema_descriptor('shop_noschema');

-- Who may call what.
SELECT p.proname, r.rolname, has_function_privilege(r.rolname, p.oid, 'EXECUTE') AS can_execute
  FROM pg_proc p CROSS JOIN (VALUES ('intentlog_writer'), ('intentlog_consumer'), ('intentlog_admin')) AS r(rolname)
 WHERE p.pronamespace = 'intentlog'::regnamespace
   AND p.proname IN ('register_schema', 'set_validate_payloads', 'schema_descriptor', 'decode', 'encode',
                     'intent_append_json', '_check_schema')
 ORDER BY p.proname, r.rolname;
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'intentlog'::regnamespace
   AND p.proname IN ('register_schema', 'set_validate_payloads') ORDER BY 1;

SELECT intentlog.drop_domain('shop');
SELECT intentlog.drop_domain('shop_p2');
SELECT intentlog.drop_domain('shop_noschema');
SELECT count(*) AS schemas_left FROM intentlog.schemas;
