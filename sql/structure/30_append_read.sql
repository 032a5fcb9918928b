-- Types of the append path.

-- What an append returns. A named type rather than OUT parameters: the
-- executor then takes the result's descriptor from the type cache instead of
-- rebuilding it from pg_proc on every call (about 11,000 instructions, a
-- tenth of a single-intent append).
CREATE TYPE intentlog.append_result AS (partition int, seq bigint);
COMMENT ON TYPE intentlog.append_result IS
  'The identity of an appended intent within its domain: its partition and its seq in that partition.';
