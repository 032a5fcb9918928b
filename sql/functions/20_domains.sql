-- Domains and their storage.

CREATE OR REPLACE FUNCTION intentlog.partition_for(key text, partitions int)
RETURNS int LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'intentlog_partition_for';
COMMENT ON FUNCTION intentlog.partition_for(text, int) IS
  'Partition of a key: FNV-1a 64-bit hash of the key''s UTF-8 bytes, modulo partitions. Stable; any client can compute it.';

CREATE OR REPLACE FUNCTION intentlog._check_domain_name(domain text)
RETURNS void LANGUAGE c IMMUTABLE
AS 'MODULE_PATHNAME', 'intentlog_check_domain_name';

CREATE OR REPLACE FUNCTION intentlog._invalidate(rel regclass)
RETURNS void LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'intentlog_invalidate';
COMMENT ON FUNCTION intentlog._invalidate(regclass) IS
  'Internal: tells every backend that its cached append target for this relation is stale.';

-- The last seq a partition handed out (0 before the first).
CREATE OR REPLACE FUNCTION intentlog._last_seq(seq_rel regclass)
RETURNS bigint LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE v bigint;
BEGIN
  EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM %s', seq_rel) INTO v;
  RETURN v;
END $$;

CREATE OR REPLACE FUNCTION intentlog._domain_id(domain text)
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
CREATE OR REPLACE FUNCTION intentlog._create_segment(d int, p int, hot boolean DEFAULT false)
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
  -- No xid index: a late committer's rows are found in the primary key's
  -- range from its first possible seq, once it has finished (see the read
  -- path), so no append pays for an index entry that only lookups use.
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

CREATE OR REPLACE FUNCTION intentlog.create_domain(
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
  -- A domain id comes again after DROP EXTENSION: not its predecessor's counts.
  PERFORM intentlog._append_counters_reset(d);

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

CREATE OR REPLACE FUNCTION intentlog.drop_domain(domain text)
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
