-- intentlog 0.1 install script, assembled from sql/src/*.sql in name order.
\echo Use "CREATE EXTENSION intentlog" to load this file. \quit

-- Roles are cluster-wide: create them once, reuse them in every database.
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_writer') THEN
    CREATE ROLE intentlog_writer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_consumer') THEN
    CREATE ROLE intentlog_consumer NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intentlog_admin') THEN
    CREATE ROLE intentlog_admin NOLOGIN;
  END IF;
END
$roles$;

-- Intent storage: one parent table per domain, one child per partition, and
-- the segments (and, for staged domains, the unlogged hot table) below those.
CREATE SCHEMA intentlog_data;
COMMENT ON SCHEMA intentlog_data IS
  'intentlog storage: per domain a parent table, per partition a child, per segment a grandchild. Managed by intentlog; read it, do not write it.';

GRANT USAGE ON SCHEMA intentlog TO intentlog_writer, intentlog_consumer, intentlog_admin;
GRANT USAGE ON SCHEMA intentlog_data TO intentlog_writer, intentlog_consumer, intentlog_admin;
-- Catalog tables: everything a DBA needs to see and repair, readable with psql.

CREATE TABLE intentlog.domains (
  domain_id           serial PRIMARY KEY,
  name                text NOT NULL UNIQUE,
  partitions          int NOT NULL CHECK (partitions BETWEEN 1 AND 1024),
  durability          text NOT NULL DEFAULT 'durable' CHECK (durability IN ('durable', 'staged')),
  retention           interval NOT NULL DEFAULT '7 days' CHECK (retention >= '0'),
  promote_after       interval NOT NULL DEFAULT '1 second' CHECK (promote_after > '0'),
  segment_rows        bigint NOT NULL DEFAULT 1000000 CHECK (segment_rows >= 1000),
  segment_age         interval NOT NULL DEFAULT '1 hour' CHECK (segment_age > '0'),
  max_attempts        int NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 1000),
  on_dead_letter      text NOT NULL DEFAULT 'continue' CHECK (on_dead_letter IN ('continue', 'dead_letter_key')),
  base_backoff        interval NOT NULL DEFAULT '1 second' CHECK (base_backoff > '0'),
  max_backoff         interval NOT NULL DEFAULT '5 minutes' CHECK (max_backoff > '0'),
  max_key_bytes       int NOT NULL DEFAULT 512 CHECK (max_key_bytes BETWEEN 1 AND 4096),
  max_payload_bytes   int NOT NULL DEFAULT 262144 CHECK (max_payload_bytes BETWEEN 0 AND 67108864),
  max_headers_bytes   int NOT NULL DEFAULT 8192 CHECK (max_headers_bytes BETWEEN 0 AND 1048576),
  state_query         text,
  consistency_timeout interval NOT NULL DEFAULT '5 seconds',
  created_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE intentlog.domains IS
  'One row per domain (a named intent stream) with its settings; create with intentlog.create_domain().';

CREATE TABLE intentlog.partitions (
  domain_id      int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  partition      int NOT NULL,
  parent_rel     regclass NOT NULL,   -- intentlog_data.<domain>_pNNNN: all of the partition's rows
  seq_rel        regclass NOT NULL,   -- the partition's seq generator (always logged)
  hot_rel        regclass NOT NULL,   -- where appends go: the newest segment, or the unlogged hot table (staged)
  durable_rel    regclass NOT NULL,   -- newest logged segment (= hot_rel for durable domains)
  next_segment   int NOT NULL DEFAULT 1,
  -- staged domains: the promoter's snapshot cursor over the hot table
  promote_cursor text NOT NULL DEFAULT '0',
  promoted_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (domain_id, partition)
);
COMMENT ON TABLE intentlog.partitions IS
  'Per domain partition: its storage relations, and for staged domains how far the hot table was made durable.';

CREATE TABLE intentlog.segments (
  domain_id   int NOT NULL,
  partition   int NOT NULL,
  segment     int NOT NULL,
  rel         regclass NOT NULL,
  first_seq   bigint NOT NULL,         -- seqs below this are in older segments
  created_at  timestamptz NOT NULL DEFAULT now(),
  sealed_at   timestamptz,             -- no longer written; droppable once consumed and retention passed
  PRIMARY KEY (domain_id, partition, segment),
  FOREIGN KEY (domain_id, partition) REFERENCES intentlog.partitions ON DELETE CASCADE
);
COMMENT ON TABLE intentlog.segments IS
  'Logged segments (child tables) of each partition. Retention drops whole segments, never deletes rows.';

CREATE TABLE intentlog.cursors (
  group_name  text NOT NULL CHECK (group_name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  domain_id   int NOT NULL,
  partition   int NOT NULL,
  watermark   bigint NOT NULL,
  pending     text NOT NULL DEFAULT '',  -- in-progress xids that may hold seqs <= watermark: xid:from,...
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, domain_id, partition),
  FOREIGN KEY (domain_id, partition) REFERENCES intentlog.partitions ON DELETE CASCADE
);
COMMENT ON TABLE intentlog.cursors IS
  'Committed snapshot cursor per (consumer group, domain, partition): everything at or below watermark was delivered, except rows of the pending xids.';

CREATE TABLE intentlog.gaps (
  gap_id      bigserial PRIMARY KEY,
  domain_id   int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  partition   int NOT NULL,
  first_seq   bigint NOT NULL,
  last_seq    bigint NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL,
  CHECK (first_seq <= last_seq)
);
COMMENT ON TABLE intentlog.gaps IS
  'Seq ranges a staged domain may have lost in a server crash (intents appended but not yet made durable). Never silent: consumers get a Gap frame.';

-- Empty after crash recovery resets unlogged tables: that is how a lost
-- staged window is detected. Refilled once the loss is recorded.
CREATE UNLOGGED TABLE intentlog.crash_sentinel (alive boolean PRIMARY KEY);
INSERT INTO intentlog.crash_sentinel VALUES (true);
COMMENT ON TABLE intentlog.crash_sentinel IS
  'Unlogged marker row: missing after a crash, which triggers gap detection for staged domains.';

-- Catalog rows must survive pg_dump of a database with the extension.
SELECT pg_catalog.pg_extension_config_dump('intentlog.domains', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.partitions', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.segments', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.cursors', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.gaps', '');

GRANT SELECT ON ALL TABLES IN SCHEMA intentlog TO intentlog_admin, intentlog_consumer;
-- The append path reads the domain settings and append targets (cached per backend).
GRANT SELECT ON intentlog.domains, intentlog.partitions TO intentlog_writer;

-- Settings changed by hand (UPDATE intentlog.domains ...) reach every
-- backend's cache: the trigger invalidates them all.
CREATE FUNCTION intentlog._domains_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM intentlog._invalidate('intentlog.domains'::regclass);
  RETURN NULL;
END $$;

-- Domains and their storage.

CREATE FUNCTION intentlog.partition_for(key text, partitions int)
RETURNS int LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intentlog_partition_for';
COMMENT ON FUNCTION intentlog.partition_for(text, int) IS
  'Partition of a key: FNV-1a 64-bit hash of the key''s UTF-8 bytes, modulo partitions. Stable; any client can compute it.';

CREATE FUNCTION intentlog._check_domain_name(domain text)
RETURNS void LANGUAGE c IMMUTABLE
AS 'MODULE_PATHNAME', 'intentlog_check_domain_name';

CREATE FUNCTION intentlog._invalidate(rel regclass)
RETURNS void LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'intentlog_invalidate';
COMMENT ON FUNCTION intentlog._invalidate(regclass) IS
  'Internal: tells every backend that its cached append target for this relation is stale.';

CREATE TRIGGER domains_changed AFTER UPDATE OR DELETE ON intentlog.domains
  FOR EACH STATEMENT EXECUTE FUNCTION intentlog._domains_changed();

-- The last seq a partition handed out (0 before the first).
CREATE FUNCTION intentlog._last_seq(seq_rel regclass)
RETURNS bigint LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE v bigint;
BEGIN
  EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s', seq_rel) INTO v;
  RETURN v;
END $$;

CREATE FUNCTION intentlog._domain_id(domain text)
RETURNS int LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE d int;
BEGIN
  IF domain IS NULL THEN
    RAISE EXCEPTION 'domain must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT domain_id INTO d FROM intentlog.domains WHERE name = domain;
  IF d IS NULL THEN
    RAISE EXCEPTION 'intentlog domain "%" does not exist', domain USING ERRCODE = 'undefined_object',
      HINT = 'Create it with intentlog.create_domain().';
  END IF;
  RETURN d;
END $$;

-- A new logged segment (or, with hot => true, the unlogged hot table of a
-- staged partition) under the partition's parent table.
CREATE FUNCTION intentlog._create_segment(d int, p int, hot boolean DEFAULT false)
RETURNS regclass LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dname text;
  part  intentlog.partitions%ROWTYPE;
  segno int;
  relname text;
  rel regclass;
BEGIN
  SELECT name INTO dname FROM intentlog.domains WHERE domain_id = d;
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p FOR UPDATE;
  IF hot THEN
    relname := format('%s_p%s_hot', dname, lpad(p::text, 4, '0'));
  ELSE
    segno := part.next_segment;
    relname := format('%s_p%s_s%s', dname, lpad(p::text, 4, '0'), lpad(segno::text, 6, '0'));
  END IF;
  -- The partition's CHECK (partition = p) is inherited from its parent.
  EXECUTE format('CREATE %s TABLE intentlog_data.%I (PRIMARY KEY (seq)) INHERITS (%s)',
                 CASE WHEN hot THEN 'UNLOGGED' ELSE '' END, relname, part.parent_rel);
  rel := format('intentlog_data.%I', relname)::regclass;
  -- Late committers are found by xid (see the read path), whatever their seq.
  EXECUTE format('CREATE INDEX ON %s (xid)', rel);
  IF hot THEN
    -- The promoter deletes what it made durable: vacuum the hot table eagerly.
    EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000)', rel);
  ELSE
    UPDATE intentlog.partitions SET next_segment = next_segment + 1 WHERE domain_id = d AND partition = p;
    INSERT INTO intentlog.segments (domain_id, partition, segment, rel, first_seq)
    VALUES (d, p, segno, rel, intentlog._last_seq(part.seq_rel) + 1);
  END IF;
  EXECUTE format('GRANT INSERT ON %s TO intentlog_writer', rel);
  RETURN rel;
END $$;

CREATE FUNCTION intentlog.create_domain(
  domain          text,
  partitions      int DEFAULT 16,
  durability      text DEFAULT 'durable',
  retention       interval DEFAULT '7 days',
  max_attempts    int DEFAULT 8,
  promote_after   interval DEFAULT '1 second',
  segment_rows    bigint DEFAULT 1000000,
  on_dead_letter  text DEFAULT 'continue',
  state_query     text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int;
  p int;
  parent text;
  parent_rel regclass;
  seq_rel regclass;
  seg regclass;
  hot regclass;
BEGIN
  PERFORM intentlog._check_domain_name(domain);
  IF partitions IS NULL OR partitions < 1 OR partitions > 1024 THEN
    RAISE EXCEPTION 'partitions must be between 1 and 1024, got %', coalesce(partitions::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF durability IS NULL OR durability NOT IN ('durable', 'staged') THEN
    RAISE EXCEPTION 'durability must be ''durable'' or ''staged'', got %', coalesce(quote_literal(durability), 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF retention IS NULL OR max_attempts IS NULL OR promote_after IS NULL OR segment_rows IS NULL OR on_dead_letter IS NULL THEN
    RAISE EXCEPTION 'domain settings must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF retention < '0' THEN
    RAISE EXCEPTION 'retention must not be negative, got %', retention USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_attempts < 1 OR max_attempts > 1000 THEN
    RAISE EXCEPTION 'max_attempts must be between 1 and 1000, got %', max_attempts USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF promote_after <= '0' THEN
    RAISE EXCEPTION 'promote_after must be positive, got %', promote_after USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF segment_rows < 1000 THEN
    RAISE EXCEPTION 'segment_rows must be at least 1000, got %', segment_rows USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF on_dead_letter NOT IN ('continue', 'dead_letter_key') THEN
    RAISE EXCEPTION 'on_dead_letter must be ''continue'' or ''dead_letter_key'', got %', quote_literal(on_dead_letter)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM intentlog.domains WHERE name = domain) THEN
    RAISE EXCEPTION 'intentlog domain "%" already exists', domain USING ERRCODE = 'duplicate_object';
  END IF;

  INSERT INTO intentlog.domains AS x (name, partitions, durability, retention, max_attempts, promote_after,
                                      segment_rows, on_dead_letter, state_query)
  VALUES (domain, partitions, durability, retention, max_attempts, promote_after,
          segment_rows, on_dead_letter, state_query)
  RETURNING x.domain_id INTO d;

  EXECUTE format($f$CREATE TABLE intentlog_data.%I (
      partition        int NOT NULL,
      seq              bigint NOT NULL,
      xid              xid8 NOT NULL,
      key              text NOT NULL,
      op               text NOT NULL,
      payload          bytea,
      schema_version   int,
      expected_version bigint,
      headers          jsonb,
      appended_at      timestamptz NOT NULL)$f$, domain);
  EXECUTE format('COMMENT ON TABLE intentlog_data.%I IS %L', domain,
                 format('Intents of domain %s: all partitions and segments (read-only; append with intentlog.intent_append).', domain));
  EXECUTE format('GRANT SELECT ON intentlog_data.%I TO intentlog_consumer, intentlog_admin', domain);

  FOR p IN 0 .. partitions - 1 LOOP
    parent := format('%s_p%s', domain, lpad(p::text, 4, '0'));
    EXECUTE format('CREATE TABLE intentlog_data.%I (CHECK (partition = %s)) INHERITS (intentlog_data.%I)',
                   parent, p, domain);
    EXECUTE format('GRANT SELECT ON intentlog_data.%I TO intentlog_consumer, intentlog_admin', parent);
    -- CACHE 1 (the default) matters: a per-backend cache would hand out seqs
    -- out of commit order and break per-key order.
    EXECUTE format('CREATE SEQUENCE intentlog_data.%I AS bigint MINVALUE 1 CACHE 1', parent || '_seq');
    parent_rel := format('intentlog_data.%I', parent)::regclass;
    seq_rel := format('intentlog_data.%I', parent || '_seq')::regclass;
    INSERT INTO intentlog.partitions (domain_id, partition, parent_rel, seq_rel, hot_rel, durable_rel)
    VALUES (d, p, parent_rel, seq_rel, parent_rel, parent_rel);
    seg := intentlog._create_segment(d, p);
    hot := CASE WHEN durability = 'staged' THEN intentlog._create_segment(d, p, true) ELSE seg END;
    UPDATE intentlog.partitions SET hot_rel = hot, durable_rel = seg WHERE domain_id = d AND partition = p;
  END LOOP;
  RETURN d;
END $$;
COMMENT ON FUNCTION intentlog.create_domain(text, int, text, interval, int, interval, bigint, text, text) IS
  'Creates a domain: a named intent stream with its partitions and storage. durability: durable (default; logged, nothing committed is ever lost) or staged (unlogged hot table made durable every promote_after; a crash may lose that window, which is recorded in intentlog.gaps).';

CREATE FUNCTION intentlog.drop_domain(domain text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning AS $$
DECLARE d int;
BEGIN
  d := intentlog._domain_id(domain);
  -- Cached append targets in other backends go stale with the tables.
  PERFORM intentlog._invalidate(hot_rel) FROM intentlog.partitions WHERE domain_id = d;
  EXECUTE format('DROP TABLE intentlog_data.%I CASCADE', domain);
  EXECUTE (SELECT 'DROP SEQUENCE ' || string_agg(seq_rel::text, ', ') FROM intentlog.partitions WHERE domain_id = d);
  DELETE FROM intentlog.domains WHERE domain_id = d;
END $$;
COMMENT ON FUNCTION intentlog.drop_domain(text) IS
  'Drops a domain with all its intents, cursors and gap records.';

REVOKE ALL ON FUNCTION intentlog.create_domain(text, int, text, interval, int, interval, bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.drop_domain(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._create_segment(int, int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._invalidate(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.create_domain(text, int, text, interval, int, interval, bigint, text, text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.drop_domain(text) TO intentlog_admin;
-- The append path and the read path (C++: src/extension/append.cpp, fetch.cpp).

-- What an append returns. A named type rather than OUT parameters: the
-- executor then takes the result's descriptor from the type cache instead of
-- rebuilding it from pg_proc on every call (about 11,000 instructions, a
-- tenth of a single-intent append).
CREATE TYPE intentlog.append_result AS (partition int, seq bigint);
COMMENT ON TYPE intentlog.append_result IS
  'The identity of an appended intent within its domain: its partition and its seq in that partition.';

CREATE FUNCTION intentlog.intent_append(
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

CREATE FUNCTION intentlog.intent_append_batch(
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

CREATE FUNCTION intentlog.fetch(
  group_name  text,
  domain      text,
  partition   int,
  max_rows    int DEFAULT 1000,
  from_cursor text DEFAULT NULL)
RETURNS TABLE (seq bigint, key text, op text, payload bytea, schema_version int, expected_version bigint,
               headers jsonb, appended_at timestamptz, xid xid8, next_cursor text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_fetch';
COMMENT ON FUNCTION intentlog.fetch(text, text, int, int, text) IS
  'Reads the next intents of a partition for a consumer group through the snapshot cursor: never skips an intent that commits late, never returns an aborted one, and is not held back by long transactions. Starts at from_cursor, or at the group''s committed cursor. next_cursor (same on every row) is the cursor after this batch: pass it to intentlog.commit_cursor once the batch is delivered, or to the next fetch.';

CREATE FUNCTION intentlog._valid_cursor(cursor text)
RETURNS boolean LANGUAGE c IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'intentlog_valid_cursor';

CREATE FUNCTION intentlog.commit_cursor(group_name text, domain text, partition int, cursor text)
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

CREATE FUNCTION intentlog.get_cursor(group_name text, domain text, partition int)
RETURNS text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.watermark::text || CASE WHEN c.pending = '' THEN '' ELSE ';' || c.pending END
    FROM intentlog.cursors c
   WHERE c.group_name = $1 AND c.domain_id = intentlog._domain_id($2) AND c.partition = $3
$$;
COMMENT ON FUNCTION intentlog.get_cursor(text, text, int) IS
  'The committed cursor of a consumer group on a partition, or NULL when the group never committed one.';

CREATE FUNCTION intentlog.latest_cursor(domain text, partition int)
RETURNS text LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_latest_cursor';
COMMENT ON FUNCTION intentlog.latest_cursor(text, int) IS
  'A cursor positioned after every intent committed now (for consumers that start at "latest"); intents of transactions still open are still delivered.';

CREATE FUNCTION intentlog.consume(group_name text, domain text, partition int, max_rows int DEFAULT 1000)
RETURNS TABLE (seq bigint, key text, op text, payload bytea, schema_version int, expected_version bigint,
               headers jsonb, appended_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  next text;
  r record;
BEGIN
  FOR r IN SELECT * FROM intentlog.fetch(group_name, domain, partition, max_rows) LOOP
    next := r.next_cursor;
    seq := r.seq; key := r.key; op := r.op; payload := r.payload; schema_version := r.schema_version;
    expected_version := r.expected_version; headers := r.headers; appended_at := r.appended_at;
    RETURN NEXT;
  END LOOP;
  IF next IS NOT NULL THEN
    PERFORM intentlog.commit_cursor(group_name, domain, partition, next);
  END IF;
END $$;
COMMENT ON FUNCTION intentlog.consume(text, text, int, int) IS
  'fetch + commit_cursor in one call, for psql and scripts: the rows are acknowledged when the calling transaction commits.';

REVOKE ALL ON FUNCTION intentlog.intent_append(text, text, text, bytea, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent_append_batch(text, text[], text[], bytea[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.fetch(text, text, int, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.commit_cursor(text, text, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.get_cursor(text, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.latest_cursor(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.consume(text, text, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.intent_append(text, text, text, bytea, bigint, jsonb) TO intentlog_writer;
GRANT EXECUTE ON FUNCTION intentlog.intent_append_batch(text, text[], text[], bytea[], bigint[], jsonb[]) TO intentlog_writer;
GRANT EXECUTE ON FUNCTION intentlog.fetch(text, text, int, int, text) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.commit_cursor(text, text, int, text) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.get_cursor(text, text, int) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.latest_cursor(text, int) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.consume(text, text, int, int) TO intentlog_consumer;

CREATE FUNCTION intentlog.wait_for_intents(since bigint, timeout_ms int DEFAULT 1000)
RETURNS TABLE (tick bigint, domain text, partition int) LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_wait_for_intents';
COMMENT ON FUNCTION intentlog.wait_for_intents(bigint, int) IS
  'Consumers'' wakeup: waits until a transaction that appended intents commits after tick "since" (or timeout_ms passes), then returns the partitions of this database that received intents since, each with the current tick; with nothing new, one row (tick, NULL, NULL). Pass the returned tick next time (start with 0). Cheaper than NOTIFY, which serializes all notifying commits.';
REVOKE ALL ON FUNCTION intentlog.wait_for_intents(bigint, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.wait_for_intents(bigint, int) TO intentlog_consumer;
-- Maintenance: promotion of staged hot tables, segment rotation, retention,
-- and crash-gap detection. The extension's background worker calls
-- intentlog.maintain() every intentlog.maintenance_naptime; a DBA may call it
-- by hand too (it is idempotent and never waits on application transactions).

CREATE FUNCTION intentlog._promote_rows(hot regclass, durable regclass, cursor text, max_rows int,
                                        OUT moved bigint, OUT next_cursor text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_promote_rows';
COMMENT ON FUNCTION intentlog._promote_rows(regclass, regclass, text, int) IS
  'Internal: moves the committed rows of a staged hot table past its snapshot cursor into a logged segment (one multi-insert, one delete); returns how many and the next cursor (null when none moved).';
REVOKE ALL ON FUNCTION intentlog._promote_rows(regclass, regclass, text, int) FROM PUBLIC;

-- Lowest seq a cursor may still have to read, minus one.
CREATE FUNCTION intentlog._cursor_floor(watermark bigint, pending text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT least(watermark, (SELECT min(split_part(x, ':', 2)::bigint)
                             FROM unnest(string_to_array(nullif(pending, ''), ',')) AS x))
$$;

CREATE FUNCTION intentlog._cursor_floor(cursor text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT intentlog._cursor_floor(split_part(cursor, ';', 1)::bigint, split_part(cursor, ';', 2))
$$;

-- After a crash the unlogged hot tables are empty: record what may have been
-- lost, and move each staged partition's seq past anything handed out before
-- the crash (its last WAL record may predate seqs already used and even
-- delivered), so no seq is ever reused. Returns true when it recorded gaps.
CREATE FUNCTION intentlog._recover_after_crash()
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  lo bigint;
  hi bigint;
  seen bigint;
  restart bigint;
  -- Seqs a partition may have handed out after its last durable seq record.
  reuse_margin constant bigint := 1000000;
BEGIN
  IF EXISTS (SELECT 1 FROM intentlog.crash_sentinel) THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('intentlog._recover_after_crash'));
  IF EXISTS (SELECT 1 FROM intentlog.crash_sentinel) THEN
    RETURN false;  -- another backend recorded it while we waited
  END IF;
  FOR part IN
    SELECT p.* FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
     WHERE d.durability = 'staged' ORDER BY p.domain_id, p.partition
  LOOP
    lo := intentlog._cursor_floor(part.promote_cursor) + 1;
    SELECT max(c.watermark) INTO seen FROM intentlog.cursors c
     WHERE c.domain_id = part.domain_id AND c.partition = part.partition;
    hi := greatest(intentlog._last_seq(part.seq_rel), coalesce(seen, 0)) + reuse_margin;
    restart := hi + 1;
    INSERT INTO intentlog.gaps (domain_id, partition, first_seq, last_seq, reason)
    VALUES (part.domain_id, part.partition, lo, hi,
            'server crash: staged intents appended after the last promotion may have been lost with the unlogged hot table');
    PERFORM setval(part.seq_rel, restart, false);
    -- Nothing below the restart point is left in the (now empty) hot table.
    UPDATE intentlog.partitions SET promote_cursor = hi::text, promoted_at = now()
     WHERE domain_id = part.domain_id AND partition = part.partition;
  END LOOP;
  INSERT INTO intentlog.crash_sentinel VALUES (true) ON CONFLICT DO NOTHING;
  RETURN true;
END $$;
COMMENT ON FUNCTION intentlog._recover_after_crash() IS
  'Internal: after a server crash, records in intentlog.gaps the seq range each staged partition may have lost and restarts its seqs past it. Runs once; later calls return false.';

-- Moves what committed in a staged partition's hot table into its current
-- logged segment, through a snapshot cursor of its own: rows of transactions
-- still open stay behind (and are moved once they commit), nobody waits.
CREATE FUNCTION intentlog._promote(d int, p int, max_rows int DEFAULT 50000)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part intentlog.partitions%ROWTYPE;
  next text;
  moved bigint;
BEGIN
  -- Serializes promoters of one partition; a second one then finds nothing new.
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p FOR UPDATE;
  SELECT r.moved, r.next_cursor INTO moved, next
    FROM intentlog._promote_rows(part.hot_rel, part.durable_rel, part.promote_cursor, max_rows) r;
  UPDATE intentlog.partitions
     SET promote_cursor = coalesce(next, promote_cursor), promoted_at = now()
   WHERE domain_id = d AND partition = p;
  RETURN moved;
END $$;

-- Starts a new segment when the current one is full or old enough; the old
-- one is sealed (no new appends) and left to retention.
CREATE FUNCTION intentlog._rotate(d int, p int)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  part intentlog.partitions%ROWTYPE;
  cur intentlog.segments%ROWTYPE;
  seg regclass;
  nonempty boolean;
BEGIN
  SELECT * INTO dom FROM intentlog.domains WHERE domain_id = d;
  -- Decide without locking (most rounds rotate nothing: no lock, no xid, no WAL).
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p;
  SELECT * INTO cur FROM intentlog.segments WHERE rel = part.durable_rel;
  IF intentlog._last_seq(part.seq_rel) - cur.first_seq < dom.segment_rows
     AND cur.created_at > now() - dom.segment_age THEN
    RETURN false;
  END IF;
  -- Wait for a concurrent rotation rather than skip it: when this returns,
  -- the partition's current segment is committed either way.
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p FOR UPDATE;
  IF part.durable_rel <> cur.rel THEN
    RETURN false;  -- another round has just done it
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', part.durable_rel) INTO nonempty;
  IF NOT nonempty THEN
    RETURN false;  -- an idle partition keeps its one empty segment
  END IF;
  seg := intentlog._create_segment(d, p);
  UPDATE intentlog.segments SET sealed_at = now() WHERE rel = part.durable_rel;
  IF dom.durability = 'durable' THEN
    UPDATE intentlog.partitions SET hot_rel = seg, durable_rel = seg WHERE domain_id = d AND partition = p;
    -- Backends with the old segment cached move to the new one at their next lock.
    PERFORM intentlog._invalidate(part.hot_rel);
  ELSE
    UPDATE intentlog.partitions SET durable_rel = seg WHERE domain_id = d AND partition = p;
  END IF;
  RETURN true;
END $$;

-- Drops sealed segments that every consumer group has read past and whose
-- retention has expired. Whole tables, never row deletes.
CREATE FUNCTION intentlog._retain(d int, p int)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  seg intentlog.segments%ROWTYPE;
  top bigint;
  floor_seq bigint;
  dropped int := 0;
BEGIN
  SELECT * INTO dom FROM intentlog.domains WHERE domain_id = d;
  FOR seg IN
    SELECT * FROM intentlog.segments s
     WHERE s.domain_id = d AND s.partition = p AND s.sealed_at IS NOT NULL AND s.sealed_at <= now() - dom.retention
     ORDER BY s.segment
  LOOP
    BEGIN
      -- Never wait for an application transaction still writing it.
      EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', seg.rel);
    EXCEPTION WHEN lock_not_available THEN
      CONTINUE;
    END;
    EXECUTE format('SELECT max(seq) FROM %s', seg.rel) INTO top;
    -- Every group that reads this domain must be past the segment: a group
    -- with no cursor on this partition has not started it.
    SELECT min(coalesce(intentlog._cursor_floor(c.watermark, c.pending), -1)) INTO floor_seq
      FROM (SELECT DISTINCT group_name FROM intentlog.cursors WHERE domain_id = d) g
      LEFT JOIN intentlog.cursors c ON c.group_name = g.group_name AND c.domain_id = d AND c.partition = p;
    IF top IS NOT NULL AND floor_seq IS NOT NULL AND floor_seq < top THEN
      EXIT;  -- later segments hold later seqs: nothing further can go either
    END IF;
    EXECUTE format('DROP TABLE %s', seg.rel);
    DELETE FROM intentlog.segments WHERE domain_id = d AND partition = p AND segment = seg.segment;
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END $$;

-- Whether a promotion from the cursor would find a row: with nothing to move
-- a promotion round would only take a lock and an xid.
CREATE FUNCTION intentlog._promotable(hot regclass, cursor text)
RETURNS boolean LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'intentlog_promotable';
REVOKE ALL ON FUNCTION intentlog._promotable(regclass, text) FROM PUBLIC;

-- Whether a partition's promotion is due and would move something. Due a
-- little early, so that the promote_after bound holds between rounds.
CREATE FUNCTION intentlog._promotion_due(durability text, promoted_at timestamptz, promote_after interval,
                                         hot regclass, cursor text)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN durability = 'staged' AND promoted_at + promote_after <= now() + interval '300 milliseconds'
              THEN intentlog._promotable(hot, cursor) ELSE false END
$$;
REVOKE ALL ON FUNCTION intentlog._promotion_due(text, timestamptz, interval, regclass, text) FROM PUBLIC;

-- One partition's share of a maintenance round. The background worker runs
-- each partition in a transaction of its own, so that one partition's error
-- or lock wait neither undoes nor holds up the others' promotions.
CREATE FUNCTION intentlog._maintain_partition(d int, p int, housekeeping boolean DEFAULT true,
                                               OUT promoted bigint, OUT rotated boolean, OUT dropped int,
                                               OUT lock_wait text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
BEGIN
  promoted := 0; rotated := false; dropped := 0;
  SELECT intentlog._promotion_due(dom.durability, x.promoted_at, dom.promote_after, x.hot_rel, x.promote_cursor)
         AS due INTO part
    FROM intentlog.partitions x JOIN intentlog.domains dom USING (domain_id)
   WHERE x.domain_id = d AND x.partition = p;
  IF NOT FOUND THEN
    RETURN;  -- its domain was dropped since the round listed it
  END IF;
  IF part.due THEN
    promoted := intentlog._promote(d, p);
  END IF;
  -- Rotation and retention take stronger locks (the segment they drop, the
  -- parent a new segment joins), which a DBA's LOCK TABLE or DDL may hold:
  -- under the worker's lock_timeout they give up until the next round, and
  -- the promotion above still commits.
  IF housekeeping THEN
    BEGIN
      rotated := intentlog._rotate(d, p);
      dropped := intentlog._retain(d, p);
    EXCEPTION WHEN lock_not_available THEN
      GET STACKED DIAGNOSTICS lock_wait = MESSAGE_TEXT;
    END;
  END IF;
END $$;
COMMENT ON FUNCTION intentlog._maintain_partition(int, int, boolean) IS
  'Internal: one partition''s maintenance: promotion when due, then (housekeeping) rotation and retention. The background worker calls it in a transaction per partition, with housekeeping about once a second. lock_wait: why rotation and retention were put off to the next round (a lock wait that ran into lock_timeout), else null.';

CREATE FUNCTION intentlog.maintain()
RETURNS TABLE (promoted bigint, rotated int, dropped int) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  r record;
BEGIN
  promoted := 0; rotated := 0; dropped := 0;
  PERFORM intentlog._recover_after_crash();
  FOR part IN SELECT p.domain_id, p.partition FROM intentlog.partitions p ORDER BY p.domain_id, p.partition LOOP
    r := intentlog._maintain_partition(part.domain_id, part.partition);
    promoted := promoted + r.promoted;
    rotated := rotated + r.rotated::int;
    dropped := dropped + r.dropped;
  END LOOP;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION intentlog.maintain() IS
  'One maintenance round in the caller''s transaction: records crash gaps, promotes staged hot tables (at least every promote_after), rotates full or old segments and drops consumed, expired ones. The extension''s background worker does the same a partition per transaction; safe to call by hand.';

REVOKE ALL ON FUNCTION intentlog.maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._maintain_partition(int, int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._recover_after_crash() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.maintain() TO intentlog_admin;
-- Writers and consumers may be the first backend after a crash.
GRANT EXECUTE ON FUNCTION intentlog._recover_after_crash() TO intentlog_writer, intentlog_consumer;
-- Operational views a DBA reads with psql.

-- appended_at of the oldest intent above a seq in a partition (NULL: none).
CREATE FUNCTION intentlog._oldest_after(parent regclass, after_seq bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE t timestamptz;
BEGIN
  EXECUTE format('SELECT appended_at FROM %s WHERE seq > $1 ORDER BY seq LIMIT 1', parent) INTO t USING after_seq;
  RETURN t;
END $$;

CREATE VIEW intentlog.lag AS
SELECT c.group_name,
       d.name AS domain,
       c.partition,
       c.watermark,
       intentlog._last_seq(p.seq_rel) AS last_seq,
       greatest(intentlog._last_seq(p.seq_rel) - c.watermark, 0) AS seq_lag,
       coalesce(array_length(string_to_array(nullif(c.pending, ''), ','), 1), 0) AS pending_xids,
       now() - intentlog._oldest_after(p.parent_rel, c.watermark) AS oldest_undelivered_age,
       c.updated_at AS cursor_committed_at
  FROM intentlog.cursors c
  JOIN intentlog.domains d USING (domain_id)
  JOIN intentlog.partitions p USING (domain_id, partition);
COMMENT ON VIEW intentlog.lag IS
  'Per consumer group and partition: how far its committed cursor is behind the log (seq_lag counts seqs handed out, including rolled-back ones) and how old the oldest undelivered intent is.';

CREATE VIEW intentlog.storage AS
SELECT d.name AS domain,
       s.partition,
       s.segment,
       s.rel,
       c.relpersistence = 'p' AS logged,
       s.first_seq,
       s.created_at,
       s.sealed_at,
       pg_total_relation_size(s.rel) AS bytes
  FROM intentlog.segments s
  JOIN intentlog.domains d USING (domain_id)
  JOIN pg_class c ON c.oid = s.rel
UNION ALL
SELECT d.name, p.partition, NULL, p.hot_rel, false, NULL, NULL, NULL, pg_total_relation_size(p.hot_rel)
  FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
 WHERE d.durability = 'staged';
COMMENT ON VIEW intentlog.storage IS
  'Every segment of every partition (and each staged partition''s unlogged hot table, segment NULL) with its size; sealed segments are dropped by retention.';

GRANT SELECT ON intentlog.lag, intentlog.storage TO intentlog_admin, intentlog_consumer;
-- Worker coordination: partition leases between worker processes, and which
-- gaps each consumer group has been told about.
--
-- Leases are per (consumer group, domain, partition). A worker asks for the
-- partitions of a (group, domain) only while it has a consumer of that group
-- connected; the workers that ask share the partitions evenly, and a worker
-- that stops renewing (killed, partitioned away) loses its leases when they
-- expire, so the others take its partitions over. A lease only says who
-- drains a partition; cursors stay in intentlog.cursors, so a new owner
-- resumes from the group's committed cursor (at-least-once).

CREATE TABLE intentlog.lease_members (
  group_name  text NOT NULL CHECK (group_name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  domain_id   int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  worker_id   text NOT NULL CHECK (length(worker_id) BETWEEN 1 AND 200),
  joined_at   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (group_name, domain_id, worker_id)
);
COMMENT ON TABLE intentlog.lease_members IS
  'Workers currently serving a consumer group on a domain; the partitions are split evenly among the live (unexpired) ones.';

CREATE TABLE intentlog.leases (
  group_name  text NOT NULL CHECK (group_name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  domain_id   int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  partition   int NOT NULL,
  worker_id   text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (group_name, domain_id, partition)
);
COMMENT ON TABLE intentlog.leases IS
  'Which worker drains a partition for a consumer group, until expires_at. An expired lease is free for any worker to take.';

CREATE TABLE intentlog.gap_notices (
  group_name  text NOT NULL,
  gap_id      bigint NOT NULL REFERENCES intentlog.gaps ON DELETE CASCADE,
  reported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, gap_id)
);
COMMENT ON TABLE intentlog.gap_notices IS
  'Gaps (intentlog.gaps) a consumer group has been sent a Gap frame for; the others are still to be reported.';
SELECT pg_catalog.pg_extension_config_dump('intentlog.gap_notices', '');

-- Serializes lease changes of one (group, domain) so that concurrent workers
-- see each other's claims; other groups and domains are not held up.
CREATE FUNCTION intentlog._lease_lock(group_name text, d int)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('intentlog.lease'), hashtext($1 || '/' || $2::text))
$$;

CREATE FUNCTION intentlog.lease_acquire(worker_id text, group_name text, domain text,
                                        ttl interval DEFAULT '10 seconds')
RETURNS SETOF int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d       int;
  nparts  int;
  members int;
  share   int;
  held    int;
BEGIN
  IF worker_id IS NULL OR group_name IS NULL OR ttl IS NULL THEN
    RAISE EXCEPTION 'worker_id, group_name and ttl must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF ttl <= '0' OR ttl > '1 hour' THEN
    RAISE EXCEPTION 'lease ttl must be positive and at most 1 hour, got %', ttl USING ERRCODE = 'invalid_parameter_value';
  END IF;
  d := intentlog._domain_id(domain);
  PERFORM intentlog._lease_lock(group_name, d);

  INSERT INTO intentlog.lease_members AS m (group_name, domain_id, worker_id, expires_at)
  VALUES (group_name, d, worker_id, now() + ttl)
  ON CONFLICT ON CONSTRAINT lease_members_pkey DO UPDATE SET expires_at = excluded.expires_at;
  DELETE FROM intentlog.lease_members m
   WHERE m.group_name = lease_acquire.group_name AND m.domain_id = d AND m.expires_at < now();

  UPDATE intentlog.leases l SET expires_at = now() + ttl
   WHERE l.group_name = lease_acquire.group_name AND l.domain_id = d AND l.worker_id = lease_acquire.worker_id;
  GET DIAGNOSTICS held = ROW_COUNT;

  SELECT dm.partitions INTO nparts FROM intentlog.domains dm WHERE dm.domain_id = d;
  SELECT count(*) INTO members FROM intentlog.lease_members m
   WHERE m.group_name = lease_acquire.group_name AND m.domain_id = d;
  share := (nparts + members - 1) / members;

  IF held > share THEN
    -- Above the fair share: hand the highest partitions back so that a
    -- worker that joined can take them.
    DELETE FROM intentlog.leases l
     WHERE l.group_name = lease_acquire.group_name AND l.domain_id = d AND l.worker_id = lease_acquire.worker_id
       AND l.partition IN (SELECT o.partition FROM intentlog.leases o
                            WHERE o.group_name = lease_acquire.group_name AND o.domain_id = d
                              AND o.worker_id = lease_acquire.worker_id
                            ORDER BY o.partition DESC LIMIT held - share);
  ELSIF held < share THEN
    INSERT INTO intentlog.leases AS l (group_name, domain_id, partition, worker_id, expires_at)
    SELECT lease_acquire.group_name, d, p, lease_acquire.worker_id, now() + ttl
      FROM generate_series(0, nparts - 1) AS p
     WHERE NOT EXISTS (SELECT 1 FROM intentlog.leases o
                        WHERE o.group_name = lease_acquire.group_name AND o.domain_id = d
                          AND o.partition = p AND o.expires_at >= now())
     ORDER BY p
     LIMIT share - held
    ON CONFLICT ON CONSTRAINT leases_pkey DO UPDATE
      SET worker_id = excluded.worker_id, acquired_at = now(), expires_at = excluded.expires_at;
  END IF;

  RETURN QUERY SELECT l.partition FROM intentlog.leases l
    WHERE l.group_name = lease_acquire.group_name AND l.domain_id = d AND l.worker_id = lease_acquire.worker_id
    ORDER BY l.partition;
END $$;
COMMENT ON FUNCTION intentlog.lease_acquire(text, text, text, interval) IS
  'Called periodically (well within ttl) by a worker serving consumer group group_name on domain: renews its membership and its leases, takes free or expired partitions up to an even share among the live workers, hands back partitions above that share, and returns the partitions it now holds.';

CREATE FUNCTION intentlog.lease_renew(worker_id text, group_name text, domain text,
                                      ttl interval DEFAULT '10 seconds')
RETURNS SETOF int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int;
BEGIN
  IF ttl IS NULL OR ttl <= '0' OR ttl > '1 hour' THEN
    RAISE EXCEPTION 'lease ttl must be positive and at most 1 hour, got %', ttl USING ERRCODE = 'invalid_parameter_value';
  END IF;
  d := intentlog._domain_id(domain);
  PERFORM intentlog._lease_lock(group_name, d);
  UPDATE intentlog.lease_members m SET expires_at = now() + ttl
   WHERE m.group_name = lease_renew.group_name AND m.domain_id = d AND m.worker_id = lease_renew.worker_id;
  RETURN QUERY
    UPDATE intentlog.leases l SET expires_at = now() + ttl
     WHERE l.group_name = lease_renew.group_name AND l.domain_id = d AND l.worker_id = lease_renew.worker_id
    RETURNING l.partition;
END $$;
COMMENT ON FUNCTION intentlog.lease_renew(text, text, text, interval) IS
  'Extends a worker''s leases on (group_name, domain) without rebalancing; returns the partitions it still holds (a lease that expired and was taken over is not among them).';

CREATE FUNCTION intentlog.lease_release(worker_id text, group_name text, domain text,
                                        partitions int[] DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int;
  n int;
BEGIN
  d := intentlog._domain_id(domain);
  PERFORM intentlog._lease_lock(group_name, d);
  DELETE FROM intentlog.leases l
   WHERE l.group_name = lease_release.group_name AND l.domain_id = d AND l.worker_id = lease_release.worker_id
     AND (lease_release.partitions IS NULL OR l.partition = ANY (lease_release.partitions));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF partitions IS NULL THEN
    DELETE FROM intentlog.lease_members m
     WHERE m.group_name = lease_release.group_name AND m.domain_id = d AND m.worker_id = lease_release.worker_id;
  END IF;
  RETURN n;
END $$;
COMMENT ON FUNCTION intentlog.lease_release(text, text, text, int[]) IS
  'Gives up a worker''s leases on (group_name, domain): the listed partitions, or all of them and its membership when partitions is NULL (its last consumer of the group left, or it shuts down). Returns how many were released.';

CREATE FUNCTION intentlog.unreported_gaps(group_name text, domain text, partitions int[])
RETURNS TABLE (gap_id bigint, partition int, first_seq bigint, last_seq bigint, detected_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT g.gap_id, g.partition, g.first_seq, g.last_seq, g.detected_at
    FROM intentlog.gaps g
   WHERE g.domain_id = intentlog._domain_id($2) AND g.partition = ANY ($3)
     AND NOT EXISTS (SELECT 1 FROM intentlog.gap_notices n WHERE n.group_name = $1 AND n.gap_id = g.gap_id)
   ORDER BY g.gap_id
$$;
COMMENT ON FUNCTION intentlog.unreported_gaps(text, text, int[]) IS
  'Gaps of the given partitions that consumer group group_name has not been sent a Gap frame for yet.';

CREATE FUNCTION intentlog.gap_reported(group_name text, gap_id bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO intentlog.gap_notices (group_name, gap_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION intentlog.gap_reported(text, bigint) IS
  'Records that consumer group group_name was sent the Gap frame of gap gap_id.';

GRANT SELECT ON intentlog.lease_members, intentlog.leases, intentlog.gap_notices TO intentlog_admin, intentlog_consumer;
REVOKE ALL ON FUNCTION intentlog._lease_lock(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_acquire(text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_renew(text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_release(text, text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.unreported_gaps(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.gap_reported(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.lease_acquire(text, text, text, interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.lease_renew(text, text, text, interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.lease_release(text, text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.unreported_gaps(text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.gap_reported(text, bigint) TO intentlog_consumer;
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
-- Descriptor sets are not secret: the append path reads them to validate, the
-- worker ships them to consumers.
GRANT SELECT ON intentlog.schemas TO intentlog_admin, intentlog_consumer, intentlog_writer;

-- Any change to the registry reaches every backend's domain cache (the
-- current version, stamped on appends) and its parsed schemas.
CREATE TRIGGER schemas_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON intentlog.schemas
  FOR EACH STATEMENT EXECUTE FUNCTION intentlog._domains_changed();

ALTER TABLE intentlog.domains ADD COLUMN validate_payloads boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN intentlog.domains.validate_payloads IS
  'When true, intent_append refuses payloads that are not a complete message of the current schema version (set with intentlog.set_validate_payloads()).';

CREATE FUNCTION intentlog._check_schema(
  domain text, prev_version int, prev_set bytea, prev_message text,
  descriptor_set bytea, message text, compatibility text)
RETURNS text LANGUAGE c IMMUTABLE
AS 'MODULE_PATHNAME', 'intentlog_check_schema';
COMMENT ON FUNCTION intentlog._check_schema(text, int, bytea, text, bytea, text, text) IS
  'Internal: parses a descriptor set, finds the message (returns its full name) and raises unless it keeps the compatibility mode with the previous version.';

CREATE FUNCTION intentlog.register_schema(
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

CREATE FUNCTION intentlog.set_validate_payloads(domain text, validate boolean DEFAULT true)
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

CREATE FUNCTION intentlog.schema_descriptor(domain text, schema_version int DEFAULT NULL)
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

CREATE FUNCTION intentlog.decode(domain text, schema_version int, payload bytea)
RETURNS jsonb LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'intentlog_decode';
COMMENT ON FUNCTION intentlog.decode(text, int, bytea) IS
  'A payload as JSON, decoded with the given schema version of the domain (proto3 JSON mapping: lowerCamelCase field names, enums by name, 64-bit integers as strings). NULL if any argument is NULL, e.g. an intent appended before the domain had a schema. A string field holding a NUL character cannot be shown in jsonb (SQLSTATE 22P05).';

CREATE FUNCTION intentlog.encode(domain text, payload jsonb, schema_version int DEFAULT NULL)
RETURNS bytea LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'intentlog_encode';
COMMENT ON FUNCTION intentlog.encode(text, jsonb, int) IS
  'JSON encoded as the domain''s payload message (proto3 JSON mapping; field names in either spelling; unknown fields are an error, SQLSTATE 22P02). Uses the current schema version when schema_version is NULL. NULL for a NULL payload.';

CREATE FUNCTION intentlog.intent_append_json(
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

REVOKE ALL ON FUNCTION intentlog._check_schema(text, int, bytea, text, bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.register_schema(text, bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.set_validate_payloads(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.schema_descriptor(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.decode(text, int, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.encode(text, jsonb, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent_append_json(text, text, text, jsonb, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.register_schema(text, bytea, text, text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.set_validate_payloads(text, boolean) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.schema_descriptor(text, int) TO intentlog_consumer, intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.decode(text, int, bytea) TO intentlog_consumer, intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.encode(text, jsonb, int) TO intentlog_writer, intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.intent_append_json(text, text, text, jsonb, bigint, jsonb) TO intentlog_writer;
-- Delivery bookkeeping (DESIGN.md, "Delivery"): retries with backoff, intents
-- parked behind a retrying one of their key, and dead letters. All of it is
-- per consumer group, in plain logged tables, so it survives worker and
-- server crashes and a DBA can read and repair it with psql.
--
-- The life of an intent whose delivery fails, for one consumer group:
--
--   fetched ─ delivered ─ acked                         (the common case: no row here)
--      │
--      ├ failed (nack, ack timeout, state not resolved) ─▶ retries (attempt n+1, next_attempt_at)
--      │     due ─▶ delivered again ─▶ acked: row deleted, the key's next parked intent is due
--      │     failed for the max_attempts-th time ─▶ dead_letters
--      │
--      └ its key holds a retry or parked intents ─▶ parked (seq order), due once it is first of its
--            key and the key has no retry
--
-- Each table keeps a copy of the intent, so retention may drop the segments
-- it came from once the group's cursor has passed them. The worker moves the
-- cursor on as soon as a failed intent (and the intents of its key that it
-- held in memory) are recorded here: other keys of the partition never wait.
--
-- Every function that changes the state of a partition's keys takes a
-- transaction-scoped advisory lock on (group, domain, partition), so the
-- decision "is this key held back?" and the change it leads to are atomic.

CREATE TABLE intentlog.retries (
  group_name       text NOT NULL CHECK (group_name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  domain_id        int NOT NULL,
  partition        int NOT NULL,
  seq              bigint NOT NULL,
  key              text NOT NULL,
  attempt          int NOT NULL CHECK (attempt >= 2),  -- number of the next delivery attempt
  next_attempt_at  timestamptz NOT NULL,
  last_error       text NOT NULL,
  errors           jsonb NOT NULL DEFAULT '[]',         -- [{attempt, error, at}], oldest first
  first_failed_at  timestamptz NOT NULL DEFAULT now(),
  delivering_until timestamptz,                         -- claimed by a worker until then (in flight)
  -- the intent
  op               text NOT NULL,
  payload          bytea,
  schema_version   int,
  expected_version bigint,
  headers          jsonb,
  appended_at      timestamptz NOT NULL,
  PRIMARY KEY (group_name, domain_id, partition, seq),
  FOREIGN KEY (domain_id, partition) REFERENCES intentlog.partitions ON DELETE CASCADE
);
CREATE INDEX ON intentlog.retries (group_name, domain_id, partition, key);
CREATE INDEX ON intentlog.retries (next_attempt_at);
COMMENT ON TABLE intentlog.retries IS
  'Intents whose delivery to a consumer group failed and will be tried again at next_attempt_at (exponential backoff with jitter between the domain''s base_backoff and max_backoff). attempt is the number of the next delivery; after max_attempts failures the intent moves to intentlog.dead_letters. Later intents of the key wait in intentlog.parked.';

CREATE TABLE intentlog.parked (
  group_name       text NOT NULL CHECK (group_name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  domain_id        int NOT NULL,
  partition        int NOT NULL,
  seq              bigint NOT NULL,
  key              text NOT NULL,
  parked_at        timestamptz NOT NULL DEFAULT now(),
  reason           text NOT NULL,
  errors           jsonb NOT NULL DEFAULT '[]',  -- history of a redriven dead letter, else empty
  delivering_until timestamptz,                  -- claimed by a worker until then (in flight)
  -- the intent
  op               text NOT NULL,
  payload          bytea,
  schema_version   int,
  expected_version bigint,
  headers          jsonb,
  appended_at      timestamptz NOT NULL,
  PRIMARY KEY (group_name, domain_id, partition, seq),
  FOREIGN KEY (domain_id, partition) REFERENCES intentlog.partitions ON DELETE CASCADE
);
CREATE INDEX ON intentlog.parked (group_name, domain_id, partition, key, seq);
COMMENT ON TABLE intentlog.parked IS
  'Intents held back for a consumer group because an earlier intent of their key is being retried (or was redriven). Delivered in seq order per key: the first parked intent of a key becomes due once the key has no row in intentlog.retries.';

CREATE TABLE intentlog.dead_letters (
  dead_letter_id   bigserial PRIMARY KEY,
  group_name       text NOT NULL CHECK (group_name ~ '^[A-Za-z0-9_.:-]{1,128}$'),
  domain_id        int NOT NULL,
  partition        int NOT NULL,
  seq              bigint NOT NULL,
  key              text NOT NULL,
  attempts         int NOT NULL,             -- deliveries that failed (0: dead-lettered with its key)
  last_error       text,
  errors           jsonb NOT NULL DEFAULT '[]',
  reason           text NOT NULL,
  dead_at          timestamptz NOT NULL DEFAULT now(),
  -- the intent
  op               text NOT NULL,
  payload          bytea,
  schema_version   int,
  expected_version bigint,
  headers          jsonb,
  appended_at      timestamptz NOT NULL,
  UNIQUE (group_name, domain_id, partition, seq),
  FOREIGN KEY (domain_id, partition) REFERENCES intentlog.partitions ON DELETE CASCADE
);
CREATE INDEX ON intentlog.dead_letters (domain_id, key);
COMMENT ON TABLE intentlog.dead_letters IS
  'Intents a consumer group gave up on: max_attempts deliveries failed (errors holds each attempt''s error), or an earlier intent of the key died and the domain''s on_dead_letter is dead_letter_key. Put them back with intentlog.redrive(), remove them with intentlog.discard().';

SELECT pg_catalog.pg_extension_config_dump('intentlog.retries', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.parked', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.dead_letters_dead_letter_id_seq', '');

GRANT SELECT ON intentlog.retries, intentlog.parked, intentlog.dead_letters TO intentlog_admin, intentlog_consumer;

-- ---------------------------------------------------------------------------
-- Internal helpers

-- The delay before the next attempt after attempt `attempt` failed:
-- base * 2^(attempt-1), capped at max, scaled by 0.5 + jitter/2 ("equal
-- jitter": workers that failed together do not retry together, yet the
-- delay still grows with every attempt and never exceeds max).
CREATE FUNCTION intentlog._backoff(base interval, max interval, attempt int, jitter float8)
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT make_interval(secs => least(extract(epoch FROM $2)::float8,
                                     extract(epoch FROM $1)::float8 * power(2::float8, least(greatest($3, 1), 64) - 1))
                               * (0.5 + 0.5 * least(greatest($4, 0), 1)))
$$;
COMMENT ON FUNCTION intentlog._backoff(interval, interval, int, float8) IS
  'Retry delay after failed attempt n: least(max, base * 2^(n-1)) * (0.5 + jitter/2), jitter in [0, 1]. Grows with n, bounded by max.';

-- Raises 42602 unless group_name is a valid consumer group name (the rule
-- of the tables' CHECK constraints and of intentlog.fetch). NULL passes.
CREATE FUNCTION intentlog._check_group(group_name text)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF group_name !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
    RAISE EXCEPTION 'invalid consumer group name "%"', group_name USING ERRCODE = 'invalid_name',
      DETAIL = 'Group names are 1 to 128 characters: letters, digits, ''_'', ''.'', '':'' and ''-''.';
  END IF;
END $$;

-- Validates the common arguments of the delivery functions and returns the
-- domain's settings. Raises with a clear message and SQLSTATE.
CREATE FUNCTION intentlog._delivery_domain(group_name text, domain text, partitions int[])
RETURNS intentlog.domains LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  d int;
  bad int;
BEGIN
  IF group_name IS NULL THEN
    RAISE EXCEPTION 'group_name must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM intentlog._check_group(group_name);
  d := intentlog._domain_id(domain);
  SELECT * INTO dom FROM intentlog.domains x WHERE x.domain_id = d;
  IF partitions IS NULL OR array_position(partitions, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'partition must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT x INTO bad FROM unnest(partitions) AS x WHERE x < 0 OR x >= dom.partitions LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'domain "%" has no partition %', domain, bad USING ERRCODE = 'invalid_parameter_value',
      DETAIL = format('Its partitions are 0 to %s.', dom.partitions - 1);
  END IF;
  RETURN dom;
END $$;

CREATE FUNCTION intentlog._delivery_lock(g text, d int, p int)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('intentlog.delivery'), hashtext($1 || '/' || $2::text || '/' || $3::text))
$$;

-- Whether the key has intents held for the group: a retry or parked intents
-- (and, with on_dead_letter = dead_letter_key, dead letters).
CREATE FUNCTION intentlog._key_held(g text, d int, p int, k text, dead_letters_hold boolean)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM intentlog.retries r
                  WHERE r.group_name = $1 AND r.domain_id = $2 AND r.partition = $3 AND r.key = $4)
      OR EXISTS (SELECT 1 FROM intentlog.parked r
                  WHERE r.group_name = $1 AND r.domain_id = $2 AND r.partition = $3 AND r.key = $4)
      OR ($5 AND EXISTS (SELECT 1 FROM intentlog.dead_letters r
                          WHERE r.group_name = $1 AND r.domain_id = $2 AND r.partition = $3 AND r.key = $4))
$$;

-- The intent (d, p, s) as stored in its partition (all segments, and the hot
-- table of a staged domain).
CREATE FUNCTION intentlog._intent(d int, p int, s bigint,
                                  OUT key text, OUT op text, OUT payload bytea, OUT schema_version int,
                                  OUT expected_version bigint, OUT headers jsonb, OUT appended_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rel regclass;
  found_it boolean := false;
BEGIN
  SELECT x.parent_rel INTO rel FROM intentlog.partitions x WHERE x.domain_id = d AND x.partition = p;
  EXECUTE format('SELECT true, t.key, t.op, t.payload, t.schema_version, t.expected_version, t.headers, t.appended_at
                    FROM %s t WHERE t.seq = $1', rel)
     INTO found_it, key, op, payload, schema_version, expected_version, headers, appended_at USING s;
  IF found_it IS NOT TRUE THEN
    RAISE EXCEPTION 'partition % of domain "%" has no intent with seq %', p,
      (SELECT x.name FROM intentlog.domains x WHERE x.domain_id = d), s
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the seq of a fetched intent (it may have been dropped by retention).';
  END IF;
END $$;

-- Holds intents `seqs` (keys `keys`, pairwise) back behind their keys:
-- parked, or, for a key with dead letters under on_dead_letter =
-- dead_letter_key, dead-lettered at once. Returns (seq, 'parked' |
-- 'dead_letter') per intent. Set-based: a poison key's backlog arrives
-- thousands at a time. The caller holds the partition lock.
CREATE FUNCTION intentlog._hold(g text, dom intentlog.domains, p int, seqs bigint[], keys text[], why text,
                                history jsonb)
RETURNS TABLE (seq bigint, held text) LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rel regclass;
  dead_keys text[];
  bad_seq bigint;
  bad_key text;
BEGIN
  IF cardinality(seqs) = 0 THEN
    RETURN;
  END IF;
  SELECT x.parent_rel INTO rel FROM intentlog.partitions x WHERE x.domain_id = dom.domain_id AND x.partition = p;
  -- Each must be the intent the caller thinks it is.
  EXECUTE format('SELECT c.s, t.key FROM unnest($1::bigint[], $2::text[]) AS c(s, k)
                    LEFT JOIN %s t ON t.seq = c.s
                   WHERE t.key IS DISTINCT FROM c.k ORDER BY c.s LIMIT 1', rel)
     INTO bad_seq, bad_key USING seqs, keys;
  IF bad_seq IS NOT NULL AND bad_key IS NULL THEN
    RAISE EXCEPTION 'partition % of domain "%" has no intent with seq %', p, dom.name, bad_seq
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the seq of a fetched intent (it may have been dropped by retention).';
  ELSIF bad_seq IS NOT NULL THEN
    RAISE EXCEPTION 'intent % of partition % of domain "%" has key %, not %', bad_seq, p, dom.name,
      quote_literal(bad_key), quote_literal(keys[array_position(seqs, bad_seq)])
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Keys that died under dead_letter_key (and have no retry under way).
  SELECT coalesce(array_agg(k.k), '{}') INTO dead_keys
    FROM (SELECT DISTINCT u.k FROM unnest(keys) AS u(k)) k
   WHERE dom.on_dead_letter = 'dead_letter_key'
     AND NOT EXISTS (SELECT 1 FROM intentlog.retries r
                      WHERE r.group_name = g AND r.domain_id = dom.domain_id AND r.partition = p AND r.key = k.k)
     AND EXISTS (SELECT 1 FROM intentlog.dead_letters x
                  WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.key = k.k);
  -- One statement copies them (the intent as stored, not the caller's copy).
  RETURN QUERY EXECUTE format($q$
    WITH i AS (
      SELECT t.seq, t.key, t.op, t.payload, t.schema_version, t.expected_version, t.headers, t.appended_at
        FROM %s t WHERE t.seq = ANY ($1)),
    dl AS (
      INSERT INTO intentlog.dead_letters (group_name, domain_id, partition, seq, key, attempts, last_error, errors,
                                          reason, op, payload, schema_version, expected_version, headers, appended_at)
      SELECT $2, $3, $4, i.seq, i.key, 0, NULL, $7,
             'an earlier intent of the key is a dead letter (on_dead_letter = dead_letter_key)',
             i.op, i.payload, i.schema_version, i.expected_version, i.headers, i.appended_at
        FROM i WHERE i.key = ANY ($5)
      RETURNING seq),
    pk AS (
      INSERT INTO intentlog.parked (group_name, domain_id, partition, seq, key, reason, errors,
                                    op, payload, schema_version, expected_version, headers, appended_at)
      SELECT $2, $3, $4, i.seq, i.key, $6, $7,
             i.op, i.payload, i.schema_version, i.expected_version, i.headers, i.appended_at
        FROM i WHERE NOT (i.key = ANY ($5))
      RETURNING seq)
    SELECT r.seq, r.held FROM (SELECT dl.seq, 'dead_letter'::text AS held FROM dl
                               UNION ALL SELECT pk.seq, 'parked' FROM pk) r
    ORDER BY r.seq$q$, rel)
    USING seqs, g, dom.domain_id, p, dead_keys, why, history;
END $$;

-- ---------------------------------------------------------------------------
-- The worker's functions (intentlog_consumer)

CREATE FUNCTION intentlog.park(group_name text, domain text, partition int, seqs bigint[], keys text[])
RETURNS TABLE (seq bigint, held text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  g text := park.group_name;
  p int := park.partition;
  already bigint[];
  hold_seqs bigint[];
  hold_keys text[];
BEGIN
  dom := intentlog._delivery_domain(g, domain, ARRAY[p]);
  IF seqs IS NULL OR keys IS NULL THEN
    RAISE EXCEPTION 'seqs and keys must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF cardinality(seqs) <> cardinality(keys) THEN
    RAISE EXCEPTION 'seqs and keys must have the same length (% and %)', cardinality(seqs), cardinality(keys)
      USING ERRCODE = 'array_subscript_error';
  END IF;
  IF array_position(seqs, NULL) IS NOT NULL OR array_position(keys, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'seqs and keys must not contain nulls' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF cardinality(seqs) > 100000 THEN
    RAISE EXCEPTION 'at most 100000 intents per call, got %', cardinality(seqs) USING ERRCODE = 'program_limit_exceeded';
  END IF;
  -- Fast path: nothing of this partition is held for the group.
  IF NOT EXISTS (SELECT 1 FROM intentlog.retries x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p)
     AND NOT EXISTS (SELECT 1 FROM intentlog.parked x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p)
     AND NOT EXISTS (SELECT 1 FROM intentlog.dead_letters x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p)
  THEN
    RETURN;
  END IF;
  PERFORM intentlog._delivery_lock(g, dom.domain_id, p);
  -- An intent is already_held if SQL has it; else it is held back if its
  -- key is held. Holding intents does not change whether their key is held,
  -- so one decision per key holds for the whole call.
  WITH input AS (
    SELECT DISTINCT ON (u.s) u.s, u.k FROM unnest(seqs, keys) AS u(s, k) ORDER BY u.s),
  marked AS (
    SELECT i.s, i.k,
           EXISTS (SELECT 1 FROM intentlog.retries x
                    WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = i.s)
           OR EXISTS (SELECT 1 FROM intentlog.parked x
                       WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = i.s)
           OR EXISTS (SELECT 1 FROM intentlog.dead_letters x
                       WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = i.s)
             AS already
      FROM input i),
  held_keys AS (
    SELECT hk.k FROM (SELECT DISTINCT m.k FROM marked m WHERE NOT m.already) hk
     WHERE intentlog._key_held(g, dom.domain_id, p, hk.k, dom.on_dead_letter = 'dead_letter_key'))
  SELECT coalesce(array_agg(m.s ORDER BY m.s) FILTER (WHERE m.already), '{}'),
         coalesce(array_agg(m.s ORDER BY m.s) FILTER (WHERE NOT m.already AND h.k IS NOT NULL), '{}'),
         coalesce(array_agg(m.k ORDER BY m.s) FILTER (WHERE NOT m.already AND h.k IS NOT NULL), '{}')
    INTO already, hold_seqs, hold_keys
    FROM marked m LEFT JOIN held_keys h ON h.k = m.k;
  RETURN QUERY
    SELECT r.seq, r.held FROM (
      SELECT h.seq, h.held FROM intentlog._hold(g, dom, p, hold_seqs, hold_keys,
                                                'an earlier intent of the key is held back', '[]') h
      UNION ALL SELECT a.s, 'already_held' FROM unnest(already) AS a(s)) r
    ORDER BY r.seq;
END $$;
COMMENT ON FUNCTION intentlog.park(text, text, int, bigint[], text[]) IS
  'The worker calls it with each fetched batch (seqs with their keys) before delivering: returns the intents it must not deliver now, with why: parked (an earlier intent of the key is retried or parked), dead_letter (the key has dead letters and on_dead_letter = dead_letter_key), already_held (already a retry, parked or dead letter: fetched again after a restart). Intents not returned are delivered as usual.';

CREATE FUNCTION intentlog.record_failure(
  group_name          text,
  domain              text,
  partition           int,
  seq                 bigint,
  error               text,
  attempt             int DEFAULT NULL,
  followers           bigint[] DEFAULT NULL,
  OUT outcome         text,
  OUT failed_attempts int,
  OUT next_attempt_at timestamptz,
  OUT dead_letter_id  bigint)
RETURNS record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  g text := record_failure.group_name;
  p int := record_failure.partition;
  s bigint := record_failure.seq;
  err text;
  rt intentlog.retries%ROWTYPE;
  pk intentlog.parked%ROWTYPE;
  i record;
  k text;
  history jsonb;
  f bigint;
  fk text;
BEGIN
  dom := intentlog._delivery_domain(g, domain, ARRAY[p]);
  IF s IS NULL OR error IS NULL THEN
    RAISE EXCEPTION 'seq and error must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF attempt IS NOT NULL AND attempt < 1 THEN
    RAISE EXCEPTION 'attempt must be at least 1, got %', attempt USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF followers IS NOT NULL AND array_position(followers, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'followers must not contain nulls' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF cardinality(followers) > 100000 THEN
    RAISE EXCEPTION 'at most 100000 followers per call, got %', cardinality(followers) USING ERRCODE = 'program_limit_exceeded';
  END IF;
  err := left(error, 1000);  -- bounded: the history keeps one per attempt
  PERFORM intentlog._delivery_lock(g, dom.domain_id, p);

  SELECT * INTO rt FROM intentlog.retries x
   WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s FOR UPDATE;
  IF FOUND THEN
    k := rt.key;
    IF attempt IS NOT NULL AND attempt <> rt.attempt THEN
      outcome := 'stale';  -- a late report about an attempt already accounted for
      failed_attempts := rt.attempt - 1;
      next_attempt_at := rt.next_attempt_at;
    ELSE
      failed_attempts := rt.attempt;
      history := rt.errors;
      i := rt;
    END IF;
  ELSE
    SELECT * INTO pk FROM intentlog.parked x
     WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s FOR UPDATE;
    IF FOUND THEN
      k := pk.key;
      failed_attempts := coalesce(attempt, 1);
      history := pk.errors;
      i := pk;
      DELETE FROM intentlog.parked x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s;
    ELSIF EXISTS (SELECT 1 FROM intentlog.dead_letters x
                   WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s) THEN
      outcome := 'stale';  -- already a dead letter
      SELECT x.attempts, x.dead_letter_id INTO failed_attempts, dead_letter_id FROM intentlog.dead_letters x
       WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s;
    ELSE
      -- First failure of a freshly fetched intent.
      SELECT * INTO i FROM intentlog._intent(dom.domain_id, p, s);
      k := i.key;
      IF EXISTS (SELECT 1 FROM intentlog.retries x
                  WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.key = k) THEN
        -- Another intent of the key is retried already (a redrive raced the
        -- delivery): keep one retry per key, this one waits behind it.
        SELECT h.held INTO outcome
          FROM intentlog._hold(g, dom, p, ARRAY[s], ARRAY[k], 'an earlier intent of the key is held back', '[]') h;
      ELSE
        failed_attempts := coalesce(attempt, 1);
        history := '[]';
      END IF;
    END IF;
  END IF;

  IF outcome IS NULL THEN
    history := history || jsonb_build_array(jsonb_build_object('attempt', failed_attempts, 'error', err, 'at', now()));
    IF jsonb_array_length(history) > 100 THEN
      history := jsonb_path_query_array(history, '$[last - 99 to last]');
    END IF;
    DELETE FROM intentlog.retries x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s;
    IF failed_attempts >= dom.max_attempts THEN
      INSERT INTO intentlog.dead_letters AS x (group_name, domain_id, partition, seq, key, attempts, last_error, errors,
                                               reason, op, payload, schema_version, expected_version, headers, appended_at)
      VALUES (g, dom.domain_id, p, s, k, failed_attempts, err, history,
              format('delivery failed %s times (max_attempts = %s)', failed_attempts, dom.max_attempts),
              i.op, i.payload, i.schema_version, i.expected_version, i.headers, i.appended_at)
      RETURNING x.dead_letter_id INTO dead_letter_id;
      outcome := 'dead_letter';
      IF dom.on_dead_letter = 'dead_letter_key' THEN
        -- The key's parked intents die with it, in order.
        WITH gone AS (
          DELETE FROM intentlog.parked x
           WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.key = k
          RETURNING x.*)
        INSERT INTO intentlog.dead_letters (group_name, domain_id, partition, seq, key, attempts, last_error, errors,
                                            reason, op, payload, schema_version, expected_version, headers, appended_at)
        SELECT gone.group_name, gone.domain_id, gone.partition, gone.seq, gone.key, 0, NULL, gone.errors,
               format('intent %s of the key is a dead letter (on_dead_letter = dead_letter_key)', s),
               gone.op, gone.payload, gone.schema_version, gone.expected_version, gone.headers, gone.appended_at
          FROM gone ORDER BY gone.seq;
      END IF;
      -- on_dead_letter = continue: the key's first parked intent is due now.
    ELSE
      next_attempt_at := now() + intentlog._backoff(dom.base_backoff, dom.max_backoff, failed_attempts, random());
      INSERT INTO intentlog.retries (group_name, domain_id, partition, seq, key, attempt, next_attempt_at, last_error,
                                     errors, first_failed_at, op, payload, schema_version, expected_version, headers,
                                     appended_at)
      VALUES (g, dom.domain_id, p, s, k, failed_attempts + 1, next_attempt_at, err, history,
              coalesce(rt.first_failed_at, now()),
              i.op, i.payload, i.schema_version, i.expected_version, i.headers, i.appended_at);
      outcome := 'retry';
    END IF;
  END IF;

  -- The intents of the key the worker held in memory behind this one.
  FOREACH f IN ARRAY coalesce(followers, '{}') LOOP
    CONTINUE WHEN f = s
      OR EXISTS (SELECT 1 FROM intentlog.parked x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = f)
      OR EXISTS (SELECT 1 FROM intentlog.retries x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = f)
      OR EXISTS (SELECT 1 FROM intentlog.dead_letters x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = f);
    SELECT (intentlog._intent(dom.domain_id, p, f)).key INTO fk;
    IF fk IS DISTINCT FROM k THEN
      RAISE EXCEPTION 'follower % has key %, not the key % of intent %', f, quote_literal(fk), quote_literal(k), s
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM intentlog._hold(g, dom, p, ARRAY[f], ARRAY[k], format('behind intent %s of the key', s), '[]');
  END LOOP;
END $$;
COMMENT ON FUNCTION intentlog.record_failure(text, text, int, bigint, text, int, bigint[]) IS
  'The worker reports a failed delivery of intent (domain, partition, seq) to consumer group group_name (a nack, an ack timeout, state that could not be resolved). Schedules a retry with exponential backoff and jitter, or, after the domain''s max_attempts failures, moves it to intentlog.dead_letters (then, with on_dead_letter = dead_letter_key, the key''s parked intents too). followers: later intents of the same key the worker held in memory; they are parked behind it. attempt: the delivery attempt that failed, if known (a report about another attempt is ignored as stale). Returns outcome (retry | dead_letter | parked | stale), failed_attempts, next_attempt_at, dead_letter_id.';

CREATE FUNCTION intentlog.due_retries(group_name text, domain text, partitions int[], max_rows int DEFAULT 100,
                                      claim interval DEFAULT '30 seconds')
RETURNS TABLE (partition int, seq bigint, key text, op text, payload bytea, schema_version int,
               expected_version bigint, headers jsonb, appended_at timestamptz, attempt int, source text,
               last_error text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  g text := due_retries.group_name;
  parts int[] := due_retries.partitions;
BEGIN
  dom := intentlog._delivery_domain(g, domain, parts);
  IF max_rows IS NULL OR max_rows < 1 OR max_rows > 10000 THEN
    RAISE EXCEPTION 'max_rows must be between 1 and 10000, got %', coalesce(max_rows::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF claim IS NULL OR claim <= '0' OR claim > '1 hour' THEN
    RAISE EXCEPTION 'claim must be positive and at most 1 hour, got %', coalesce(claim::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  WITH due AS (
    SELECT 'retry'::text AS src, r.partition, r.seq, r.next_attempt_at AS due_at
      FROM intentlog.retries r
     WHERE r.group_name = g AND r.domain_id = dom.domain_id AND r.partition = ANY (parts)
       AND r.next_attempt_at <= now() AND (r.delivering_until IS NULL OR r.delivering_until < now())
    UNION ALL
    -- the first parked intent of a key with no retry, not claimed
    SELECT 'parked', h.partition, h.seq, h.parked_at
      FROM (SELECT DISTINCT ON (x.partition, x.key) x.partition, x.key, x.seq, x.parked_at, x.delivering_until
              FROM intentlog.parked x
             WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = ANY (parts)
             ORDER BY x.partition, x.key, x.seq) h
     WHERE (h.delivering_until IS NULL OR h.delivering_until < now())
       AND NOT EXISTS (SELECT 1 FROM intentlog.retries r
                        WHERE r.group_name = g AND r.domain_id = dom.domain_id AND r.partition = h.partition
                          AND r.key = h.key)
     ORDER BY 4, 3
     LIMIT max_rows),
  claimed_retries (cp, cs, ck, co, cpl, csv, cev, ch, ca, catt, csrc, cerr, cdue) AS (
    UPDATE intentlog.retries r SET delivering_until = now() + claim
      FROM due WHERE due.src = 'retry' AND r.group_name = g AND r.domain_id = dom.domain_id
                 AND r.partition = due.partition AND r.seq = due.seq
    RETURNING r.partition, r.seq, r.key, r.op, r.payload, r.schema_version, r.expected_version, r.headers,
              r.appended_at, r.attempt, 'retry'::text, r.last_error, due.due_at),
  claimed_parked (cp, cs, ck, co, cpl, csv, cev, ch, ca, catt, csrc, cerr, cdue) AS (
    UPDATE intentlog.parked r SET delivering_until = now() + claim
      FROM due WHERE due.src = 'parked' AND r.group_name = g AND r.domain_id = dom.domain_id
                 AND r.partition = due.partition AND r.seq = due.seq
    RETURNING r.partition, r.seq, r.key, r.op, r.payload, r.schema_version, r.expected_version, r.headers,
              r.appended_at, 1, 'parked'::text, NULL::text, due.due_at)
  SELECT c.cp, c.cs, c.ck, c.co, c.cpl, c.csv, c.cev, c.ch, c.ca, c.catt, c.csrc, c.cerr
    FROM (SELECT * FROM claimed_retries UNION ALL SELECT * FROM claimed_parked) c
   ORDER BY c.cdue, c.cs;
END $$;
COMMENT ON FUNCTION intentlog.due_retries(text, text, int[], int, interval) IS
  'The intents of the given partitions the worker should deliver again now, for consumer group group_name: retries whose next_attempt_at has come (source retry, attempt >= 2) and the first parked intent of every key without a retry (source parked, attempt 1). At most one per key. Claims them for `claim` (they are not returned again meanwhile); report each with intentlog.retry_delivered or intentlog.record_failure.';

CREATE FUNCTION intentlog.retry_delivered(group_name text, domain text, partition int, seq bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  g text := retry_delivered.group_name;
  p int := retry_delivered.partition;
  s bigint := retry_delivered.seq;
  k text;
BEGIN
  dom := intentlog._delivery_domain(g, domain, ARRAY[p]);
  IF s IS NULL THEN
    RAISE EXCEPTION 'seq must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM intentlog._delivery_lock(g, dom.domain_id, p);
  DELETE FROM intentlog.retries x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s
  RETURNING x.key INTO k;
  IF k IS NULL THEN
    DELETE FROM intentlog.parked x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s
    RETURNING x.key INTO k;
  END IF;
  IF k IS NULL THEN
    RETURN NULL;  -- not held (a duplicate report): nothing to do
  END IF;
  RETURN (SELECT count(*) FROM intentlog.retries x
           WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.key = k)
       + (SELECT count(*) FROM intentlog.parked x
           WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.key = k);
END $$;
COMMENT ON FUNCTION intentlog.retry_delivered(text, text, int, bigint) IS
  'The worker reports that a retried or parked intent (from intentlog.due_retries) was acknowledged by consumer group group_name: it is removed, and the key''s next parked intent becomes due. Returns how many intents of the key are still held (0: the key streams freely again), or NULL when the intent was not held.';

CREATE FUNCTION intentlog.held_keys(group_name text, domain text, partitions int[])
RETURNS TABLE (partition int, key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  g text := held_keys.group_name;
  parts int[] := held_keys.partitions;
BEGIN
  dom := intentlog._delivery_domain(g, domain, parts);
  RETURN QUERY
    SELECT x.partition, x.key FROM intentlog.retries x
     WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = ANY (parts)
    UNION
    SELECT x.partition, x.key FROM intentlog.parked x
     WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = ANY (parts)
    UNION
    SELECT x.partition, x.key FROM intentlog.dead_letters x
     WHERE dom.on_dead_letter = 'dead_letter_key'
       AND x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = ANY (parts)
    ORDER BY 1, 2;
END $$;
COMMENT ON FUNCTION intentlog.held_keys(text, text, int[]) IS
  'Keys of the given partitions whose new intents intentlog.park would hold back for consumer group group_name (they have a retry, parked intents, or dead letters under on_dead_letter = dead_letter_key).';

CREATE FUNCTION intentlog.release_claims(group_name text, domain text, partitions int[])
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  g text := release_claims.group_name;
  parts int[] := release_claims.partitions;
  n int;
  m int;
BEGIN
  dom := intentlog._delivery_domain(g, domain, parts);
  UPDATE intentlog.retries x SET delivering_until = NULL
   WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = ANY (parts) AND x.delivering_until IS NOT NULL;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE intentlog.parked x SET delivering_until = NULL
   WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = ANY (parts) AND x.delivering_until IS NOT NULL;
  GET DIAGNOSTICS m = ROW_COUNT;
  RETURN n + m;
END $$;
COMMENT ON FUNCTION intentlog.release_claims(text, text, int[]) IS
  'Makes the claimed (in flight) retries and parked intents of the given partitions due again at once. A worker calls it when it takes the lease of a partition: whoever claimed them before (a crashed worker) no longer delivers them. Returns how many claims were released.';

-- ---------------------------------------------------------------------------
-- Admin functions (intentlog_admin)

-- Puts the selected dead letters back into the stream: parked, so they go out
-- in seq order per key as soon as their key has no retry. Attempts start
-- again from 1; the error history is kept.
CREATE FUNCTION intentlog._redrive(d int, only_id bigint, only_key text, only_group text)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  n int := 0;
BEGIN
  FOR r IN SELECT DISTINCT x.group_name, x.partition FROM intentlog.dead_letters x
            WHERE x.domain_id = d AND (only_id IS NULL OR x.dead_letter_id = only_id)
              AND (only_key IS NULL OR x.key = only_key) AND (only_group IS NULL OR x.group_name = only_group)
            ORDER BY 1, 2 LOOP
    PERFORM intentlog._delivery_lock(r.group_name, d, r.partition);
  END LOOP;
  WITH gone AS (
    DELETE FROM intentlog.dead_letters x
     WHERE x.domain_id = d AND (only_id IS NULL OR x.dead_letter_id = only_id)
       AND (only_key IS NULL OR x.key = only_key) AND (only_group IS NULL OR x.group_name = only_group)
    RETURNING x.*),
  back AS (
    INSERT INTO intentlog.parked (group_name, domain_id, partition, seq, key, reason, errors,
                                  op, payload, schema_version, expected_version, headers, appended_at)
    SELECT gone.group_name, gone.domain_id, gone.partition, gone.seq, gone.key,
           format('redriven dead letter %s', gone.dead_letter_id), gone.errors,
           gone.op, gone.payload, gone.schema_version, gone.expected_version, gone.headers, gone.appended_at
      FROM gone ORDER BY gone.seq
    RETURNING 1)
  SELECT count(*) INTO n FROM back;
  RETURN n;
END $$;

CREATE FUNCTION intentlog.redrive(dead_letter_id bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE d int;
BEGIN
  IF dead_letter_id IS NULL THEN
    RAISE EXCEPTION 'dead_letter_id must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  SELECT x.domain_id INTO d FROM intentlog.dead_letters x WHERE x.dead_letter_id = redrive.dead_letter_id;
  IF d IS NULL THEN
    RAISE EXCEPTION 'no dead letter with id %', dead_letter_id USING ERRCODE = 'no_data_found';
  END IF;
  RETURN intentlog._redrive(d, dead_letter_id, NULL, NULL);
END $$;
COMMENT ON FUNCTION intentlog.redrive(bigint) IS
  'Puts one dead letter back into its consumer group''s stream: it is delivered again (attempt 1, its error history kept), in seq order with the other held intents of its key. Returns 1.';

CREATE FUNCTION intentlog.redrive(domain text, key text DEFAULT NULL, group_name text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE d int;
BEGIN
  d := intentlog._domain_id(domain);
  PERFORM intentlog._check_group(group_name);
  RETURN intentlog._redrive(d, NULL, key, group_name);
END $$;
COMMENT ON FUNCTION intentlog.redrive(text, text, text) IS
  'Puts the dead letters of a domain back into the stream: all of them, or only those of key and/or consumer group group_name. They are delivered again (attempt 1, error history kept) in seq order per key. Returns how many.';

CREATE FUNCTION intentlog.discard(dead_letter_id bigint)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF dead_letter_id IS NULL THEN
    RAISE EXCEPTION 'dead_letter_id must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  DELETE FROM intentlog.dead_letters x WHERE x.dead_letter_id = discard.dead_letter_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no dead letter with id %', dead_letter_id USING ERRCODE = 'no_data_found';
  END IF;
  RETURN 1;
END $$;
COMMENT ON FUNCTION intentlog.discard(bigint) IS
  'Deletes one dead letter for good (the intent is not delivered to its consumer group). Returns 1.';

CREATE FUNCTION intentlog.discard(domain text, key text DEFAULT NULL, group_name text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int;
  n int;
BEGIN
  d := intentlog._domain_id(domain);
  PERFORM intentlog._check_group(group_name);
  DELETE FROM intentlog.dead_letters x
   WHERE x.domain_id = d AND (discard.key IS NULL OR x.key = discard.key)
     AND (discard.group_name IS NULL OR x.group_name = discard.group_name);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION intentlog.discard(text, text, text) IS
  'Deletes the dead letters of a domain for good: all of them, or only those of key and/or consumer group group_name. With on_dead_letter = dead_letter_key this also lets new intents of those keys flow again. Returns how many.';

-- ---------------------------------------------------------------------------
-- Views for psql

CREATE VIEW intentlog.retries_due AS
SELECT r.group_name,
       d.name AS domain,
       r.partition,
       r.seq,
       r.key,
       r.attempt,
       r.next_attempt_at,
       now() - r.next_attempt_at AS overdue,
       r.delivering_until IS NOT NULL AND r.delivering_until >= now() AS in_flight,
       r.last_error,
       (SELECT count(*) FROM intentlog.parked x
         WHERE x.group_name = r.group_name AND x.domain_id = r.domain_id AND x.partition = r.partition
           AND x.key = r.key) AS parked_behind
  FROM intentlog.retries r JOIN intentlog.domains d USING (domain_id)
 WHERE r.next_attempt_at <= now();
COMMENT ON VIEW intentlog.retries_due IS
  'Retries whose next attempt is due now (in_flight: a worker is delivering it), how overdue, and how many intents of the key are parked behind each. All retries, due or not: intentlog.retries.';

CREATE VIEW intentlog.dead_letters_per_domain AS
SELECT d.name AS domain,
       x.group_name,
       count(*) AS dead_letters,
       count(DISTINCT x.key) AS keys,
       min(x.dead_at) AS oldest_dead_at,
       max(x.dead_at) AS newest_dead_at,
       (array_agg(x.last_error ORDER BY x.dead_at DESC) FILTER (WHERE x.last_error IS NOT NULL))[1] AS newest_error
  FROM intentlog.dead_letters x JOIN intentlog.domains d USING (domain_id)
 GROUP BY d.name, x.group_name;
COMMENT ON VIEW intentlog.dead_letters_per_domain IS
  'Dead letters per domain and consumer group: how many, of how many keys, the oldest and newest, and the latest error. Redrive with intentlog.redrive(domain), drop with intentlog.discard(domain).';

CREATE VIEW intentlog.delivery_backlog AS
SELECT d.name AS domain, b.group_name,
       count(*) FILTER (WHERE b.kind = 'retry') AS retries,
       count(*) FILTER (WHERE b.kind = 'retry' AND b.due_at <= now()) AS retries_due,
       count(*) FILTER (WHERE b.kind = 'parked') AS parked,
       count(*) FILTER (WHERE b.kind = 'dead') AS dead_letters,
       min(b.due_at) FILTER (WHERE b.kind = 'retry') AS next_retry_at
  FROM (SELECT 'retry' AS kind, r.domain_id, r.group_name, r.next_attempt_at AS due_at FROM intentlog.retries r
        UNION ALL SELECT 'parked', x.domain_id, x.group_name, NULL FROM intentlog.parked x
        UNION ALL SELECT 'dead', x.domain_id, x.group_name, NULL FROM intentlog.dead_letters x) b
  JOIN intentlog.domains d USING (domain_id)
 GROUP BY d.name, b.group_name;
COMMENT ON VIEW intentlog.delivery_backlog IS
  'Per domain and consumer group: intents waiting for a retry (and how many are due), parked behind them, and dead letters.';

GRANT SELECT ON intentlog.retries_due, intentlog.dead_letters_per_domain, intentlog.delivery_backlog
  TO intentlog_admin, intentlog_consumer;

REVOKE ALL ON FUNCTION intentlog._backoff(interval, interval, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._check_group(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._delivery_domain(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._delivery_lock(text, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._key_held(text, int, int, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._intent(int, int, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._hold(text, intentlog.domains, int, bigint[], text[], text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._redrive(int, bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.park(text, text, int, bigint[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.record_failure(text, text, int, bigint, text, int, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.due_retries(text, text, int[], int, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.retry_delivered(text, text, int, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.held_keys(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.release_claims(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.redrive(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.redrive(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.discard(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.discard(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.park(text, text, int, bigint[], text[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.record_failure(text, text, int, bigint, text, int, bigint[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.due_retries(text, text, int[], int, interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.retry_delivered(text, text, int, bigint) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.held_keys(text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.release_claims(text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.redrive(bigint) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.redrive(text, text, text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.discard(bigint) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.discard(text, text, text) TO intentlog_admin;
