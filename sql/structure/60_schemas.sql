-- Schema registry (DESIGN.md, "Schemas"): Protobuf descriptor sets per domain
-- and version, compatibility checks, validated and JSON appends, decoding.
-- C++: src/extension/schema_registry.cpp over src/common/schema_compat.cpp
-- and src/common/payload_codec.cpp.

CREATE TABLE intentlog.schemas (
  domain_id      int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  version        int NOT NULL CHECK (version >= 1),
  message        text NOT NULL,
  descriptor_set bytea NOT NULL,
  compatibility  text NOT NULL CHECK (compatibility IN ('backward', 'forward', 'full', 'none')),
  registered_at  timestamptz NOT NULL DEFAULT now(),
  registered_by  text NOT NULL DEFAULT current_user,
  PRIMARY KEY (domain_id, version)
);
COMMENT ON TABLE intentlog.schemas IS
  'Protobuf schema versions of each domain: a serialized FileDescriptorSet (protoc --include_imports --descriptor_set_out) and the full name of the payload message. Register with intentlog.register_schema(); intents carry the version they were appended under.';
COMMENT ON COLUMN intentlog.schemas.message IS 'Full name of the payload message, e.g. shop.v1.Order.';
COMMENT ON COLUMN intentlog.schemas.compatibility IS
  'Mode this version was checked under against the previous one: backward, forward, full or none.';
SELECT pg_catalog.pg_extension_config_dump('intentlog.schemas', '');
