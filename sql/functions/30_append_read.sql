-- The append path and the read path (C++: src/extension/append.cpp, fetch.cpp).

CREATE OR REPLACE FUNCTION intentlog.intent_append(
  domain           text,
  key              text,
  op               text,
  payload          bytea DEFAULT NULL,
  expected_version bigint DEFAULT NULL,
  headers          jsonb DEFAULT NULL)
RETURNS intentlog.append_result LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_intent_append';
COMMENT ON FUNCTION intentlog.intent_append(text, text, text, bytea, bigint, jsonb) IS
  'Records the intent of a write inside the caller''s transaction: it commits or rolls back with it. Returns the intent''s (partition, seq); (domain, partition, seq) is its identity. Intents of one key are delivered in the order their transactions commit.';

CREATE OR REPLACE FUNCTION intentlog.intent_append_batch(
  domain            text,
  keys              text[],
  ops               text[],
  payloads          bytea[] DEFAULT NULL,
  expected_versions bigint[] DEFAULT NULL,
  headers           jsonb[] DEFAULT NULL)
RETURNS SETOF intentlog.append_result LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_intent_append_batch';
COMMENT ON FUNCTION intentlog.intent_append_batch(text, text[], text[], bytea[], bigint[], jsonb[]) IS
  'Appends many intents in one call (arrays of equal length; payloads, expected_versions and headers may be NULL). Returns (partition, seq) per intent, in input order. All or nothing.';

CREATE OR REPLACE FUNCTION intentlog.fetch(
  group_name  text,
  domain      text,
  partition   int,
  max_rows    int DEFAULT 1000,
  from_cursor text DEFAULT NULL)
-- The columns of intentlog.intent, then xid and next_cursor (a C function
-- fills them straight from the scan of the partition, src/extension/fetch.cpp).
RETURNS TABLE (seq bigint, key text, op text, payload bytea, schema_version int, expected_version bigint,
               headers jsonb, appended_at timestamptz, xid xid8, next_cursor text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_fetch';
COMMENT ON FUNCTION intentlog.fetch(text, text, int, int, text) IS
  'Reads the next intents of a partition for a consumer group through the snapshot cursor: never skips an intent that commits late, never returns an aborted one, and is not held back by long transactions. Starts at from_cursor, or at the group''s committed cursor. next_cursor (same on every row) is the cursor after this batch: pass it to intentlog.commit_cursor once the batch is delivered, or to the next fetch.';

CREATE OR REPLACE FUNCTION intentlog.fetch_many(
  group_name   text,
  domain       text,
  partitions   int[],
  max_rows     int[],
  from_cursors text[] DEFAULT NULL)
-- ask: the 1-based position of the partition in the arrays; then the columns
-- of intentlog.fetch.
RETURNS TABLE (ask int, seq bigint, key text, op text, payload bytea, schema_version int, expected_version bigint,
               headers jsonb, appended_at timestamptz, xid xid8, next_cursor text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_fetch_many';
COMMENT ON FUNCTION intentlog.fetch_many(text, text, int[], int[], text[]) IS
  'intentlog.fetch of several partitions of one domain in one call (arrays of equal length; a NULL from_cursors, or a NULL element of it, starts at the group''s committed cursor). Rows come per ask, in the arrays'' order, each with its ask''s 1-based position and that partition''s next_cursor. The worker reads a busy domain with it: one statement, and one plan kept for all calls.';

CREATE OR REPLACE FUNCTION intentlog.fetch_wait(
  group_name   text,
  domain       text,
  partitions   int[],
  max_rows     int[],
  from_cursors text[],
  sinces       bigint[],
  timeout_ms   int DEFAULT 1000)
-- The columns of intentlog.fetch_many, then the wake-up tick the asks'
-- cursors are current to.
RETURNS TABLE (ask int, seq bigint, key text, op text, payload bytea, schema_version int, expected_version bigint,
               headers jsonb, appended_at timestamptz, xid xid8, next_cursor text, tick bigint)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_fetch_wait';
COMMENT ON FUNCTION intentlog.fetch_wait(text, text, int[], int[], text[], bigint[], int) IS
  'A long poll: intentlog.fetch_many of the asks that may have new rows, waiting up to timeout_ms for one. An ask is due when a transaction that appended to its partition committed after wake-up tick sinces[i], or when sinces[i] is negative (fetch it now). Every row carries the tick T that all the asks'' cursors are then current to (pass it as their since next time); with no rows, one row (ask 0, tick T, the rest NULL). The worker reads an active domain with it: the wake-up and the fetch in one statement. Needs shared_preload_libraries (without it: a 50 ms poll, tick 0).';

CREATE OR REPLACE FUNCTION intentlog._valid_cursor(cursor text)
RETURNS boolean LANGUAGE c IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'intentlog_valid_cursor';

CREATE OR REPLACE FUNCTION intentlog.commit_cursor(group_name text, domain text, partition int, cursor text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int;
  w bigint;
  old bigint;
BEGIN
  d := intentlog._domain_id(domain);
  IF group_name IS NULL OR partition IS NULL OR cursor IS NULL THEN
    RAISE EXCEPTION 'group_name, partition and cursor must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF NOT intentlog._valid_cursor(cursor) THEN
    RAISE EXCEPTION 'invalid intentlog cursor: %', cursor USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM intentlog.partitions p WHERE p.domain_id = d AND p.partition = commit_cursor.partition) THEN
    RAISE EXCEPTION 'domain "%" has no partition %', domain, partition USING ERRCODE = 'invalid_parameter_value';
  END IF;
  w := split_part(cursor, ';', 1)::bigint;
  SELECT c.watermark INTO old FROM intentlog.cursors c
   WHERE c.group_name = commit_cursor.group_name AND c.domain_id = d AND c.partition = commit_cursor.partition
   FOR UPDATE;
  IF old > w THEN
    RAISE EXCEPTION 'cursor of group "%" on %/% would move backwards (% -> %)', group_name, domain, partition, old, w
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO intentlog.cursors AS c (group_name, domain_id, partition, watermark, pending, updated_at)
  VALUES (group_name, d, partition, w, split_part(cursor, ';', 2), now())
  ON CONFLICT ON CONSTRAINT cursors_pkey DO UPDATE
    SET watermark = excluded.watermark, pending = excluded.pending, updated_at = excluded.updated_at;
END $$;
COMMENT ON FUNCTION intentlog.commit_cursor(text, text, int, text) IS
  'Durably stores a consumer group''s cursor for a partition (a next_cursor from intentlog.fetch). Call it once everything fetched up to that cursor is delivered. Refuses to move backwards.';

CREATE OR REPLACE FUNCTION intentlog.get_cursor(group_name text, domain text, partition int)
RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.watermark::text || CASE WHEN c.pending = '' THEN '' ELSE ';' || c.pending END
    FROM intentlog.cursors c
   WHERE c.group_name = $1 AND c.domain_id = intentlog._domain_id($2) AND c.partition = $3
$$;
COMMENT ON FUNCTION intentlog.get_cursor(text, text, int) IS
  'The committed cursor of a consumer group on a partition, or NULL when the group never committed one.';

CREATE OR REPLACE FUNCTION intentlog.latest_cursor(domain text, partition int)
RETURNS text LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_latest_cursor';
COMMENT ON FUNCTION intentlog.latest_cursor(text, int) IS
  'A cursor positioned after every intent committed now (for consumers that start at "latest"); intents of transactions still open are still delivered.';

CREATE OR REPLACE FUNCTION intentlog.consume(group_name text, domain text, partition int, max_rows int DEFAULT 1000)
RETURNS SETOF intentlog.intent
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  next text;
  r record;
BEGIN
  FOR r IN SELECT * FROM intentlog.fetch(group_name, domain, partition, max_rows) LOOP
    next := r.next_cursor;
    RETURN NEXT (r.seq, r.key, r.op, r.payload, r.schema_version, r.expected_version, r.headers,
                 r.appended_at)::intentlog.intent;
  END LOOP;
  IF next IS NOT NULL THEN
    PERFORM intentlog.commit_cursor(group_name, domain, partition, next);
  END IF;
END $$;
COMMENT ON FUNCTION intentlog.consume(text, text, int, int) IS
  'fetch + commit_cursor in one call, for psql and scripts: the rows are acknowledged when the calling transaction commits.';
CREATE OR REPLACE FUNCTION intentlog.wait_for_intents(since bigint, timeout_ms int DEFAULT 1000)
RETURNS TABLE (tick bigint, domain text, partition int) LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_wait_for_intents';
COMMENT ON FUNCTION intentlog.wait_for_intents(bigint, int) IS
  'Consumers'' wakeup: waits until a transaction that appended intents commits after tick "since" (or timeout_ms passes), then returns the partitions of this database that received intents since, each with the current tick; with nothing new, one row (tick, NULL, NULL). Pass the returned tick next time (start with 0). Cheaper than NOTIFY, which serializes all notifying commits.';
