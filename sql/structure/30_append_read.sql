-- Types of the append path.

-- What an append returns. A named type rather than OUT parameters: the
-- executor then takes the result's descriptor from the type cache instead of
-- rebuilding it from pg_proc on every call (about 11,000 instructions, a
-- tenth of a single-intent append).
CREATE TYPE intentlog.append_result AS (partition int, seq bigint);
COMMENT ON TYPE intentlog.append_result IS
  'The identity of an appended intent within its domain: its partition and its seq in that partition.';

-- The intent as a consumer sees it, named once: what intentlog.fetch returns
-- first on every row (then xid and next_cursor), what intentlog.consume
-- returns, what intentlog.due_retries returns after the partition, and the
-- columns of it that intentlog.retries, intentlog.parked and
-- intentlog.dead_letters keep (flat, so a DBA reads and repairs them with
-- psql; intentlog.intent(row) gives one of their rows' intent as this type).
-- test/regress/sql/intent_row.sql checks that all of them agree with it.
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
