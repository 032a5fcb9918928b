-- Consumer credentials: who may connect to a worker over TCP, and with which
-- consumer groups and domains (docs/DESIGN.md, "Security"). A token is
-- NAME/SECRET; only a salted SHA-256 of SECRET is kept (the secret is 244
-- random bits, not a password, so a slow hash buys nothing). Workers read
-- this through intentlog.consumer_credentials() and apply changes within
-- seconds, revocations included.

CREATE TABLE intentlog.consumers (
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
