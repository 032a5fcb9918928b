-- Delivery bookkeeping: retries, parked intents, dead letters (tables and the life of an
-- intent: sql/structure/70_delivery.sql).

-- ---------------------------------------------------------------------------
-- Internal helpers

-- The delay before the next attempt after attempt `attempt` failed:
-- base * 2^(attempt-1), capped at max, scaled by 0.5 + jitter/2 ("equal
-- jitter": workers that failed together do not retry together, yet the
-- delay still grows with every attempt and never exceeds max).
CREATE OR REPLACE FUNCTION intentlog._backoff(base interval, max interval, attempt int, jitter float8)
RETURNS interval LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT make_interval(secs => least(extract(epoch FROM $2)::float8,
                                     extract(epoch FROM $1)::float8 * power(2::float8, least(greatest($3, 1), 64) - 1))
                               * (0.5 + 0.5 * least(greatest($4, 0), 1)))
$$;
COMMENT ON FUNCTION intentlog._backoff(interval, interval, int, float8) IS
  'Retry delay after failed attempt n: least(max, base * 2^(n-1)) * (0.5 + jitter/2), jitter in [0, 1]. Grows with n, bounded by max.';

-- Raises 42602 unless group_name is a valid consumer group name: one of the
-- domain intentlog.group_name (the rule of every group_name column and of
-- intentlog.fetch). NULL passes. The domain's own error (23514, "value for
-- domain ... violates check constraint") would not say what a group name is.
CREATE OR REPLACE FUNCTION intentlog._check_group(group_name text)
RETURNS void LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM group_name::intentlog.group_name;
EXCEPTION WHEN check_violation THEN
    RAISE EXCEPTION 'invalid consumer group name "%"', group_name USING ERRCODE = 'invalid_name',
      DETAIL = 'Group names are 1 to 128 characters: letters, digits, ''_'', ''.'', '':'' and ''-''.';
END $$;

-- Validates the common arguments of the delivery functions and returns the
-- domain's settings. Raises with a clear message and SQLSTATE.
CREATE OR REPLACE FUNCTION intentlog._delivery_domain(group_name text, domain text, partitions int[])
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

CREATE OR REPLACE FUNCTION intentlog._delivery_lock(g text, d int, p int)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('intentlog.delivery'), hashtext($1 || '/' || $2::text || '/' || $3::text))
$$;

-- Whether the key has intents held for the group: a retry or parked intents
-- (and, with on_dead_letter = dead_letter_key, dead letters).
CREATE OR REPLACE FUNCTION intentlog._key_held(g text, d int, p int, k text, dead_letters_hold boolean)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM intentlog.retries r
                  WHERE r.group_name = $1 AND r.domain_id = $2 AND r.partition = $3 AND r.key = $4)
      OR EXISTS (SELECT 1 FROM intentlog.parked r
                  WHERE r.group_name = $1 AND r.domain_id = $2 AND r.partition = $3 AND r.key = $4)
      OR ($5 AND EXISTS (SELECT 1 FROM intentlog.dead_letters r
                          WHERE r.group_name = $1 AND r.domain_id = $2 AND r.partition = $3 AND r.key = $4))
$$;

-- The intents (d, p, seqs) as stored in their partition (all segments, and
-- the hot table of a staged domain), in seq order; seqs that are not there
-- are left out. The one place that reads intents out of a partition for
-- delivery bookkeeping.
CREATE OR REPLACE FUNCTION intentlog._intents(d int, p int, seqs bigint[])
RETURNS SETOF intentlog.intent LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rel regclass;
BEGIN
  SELECT x.parent_rel INTO rel FROM intentlog.partitions x WHERE x.domain_id = d AND x.partition = p;
  RETURN QUERY EXECUTE format('SELECT t.seq, t.key, t.op, t.payload, t.schema_version, t.expected_version, t.headers,
                                      t.appended_at
                                 FROM %s t WHERE t.seq = ANY ($1) ORDER BY t.seq', rel) USING seqs;
END $$;

-- The intent (d, p, s); raises when the partition does not have it.
CREATE OR REPLACE FUNCTION intentlog._intent(d int, p int, s bigint)
RETURNS intentlog.intent LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  i intentlog.intent;
BEGIN
  SELECT * INTO i FROM intentlog._intents(d, p, ARRAY[s]);
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partition % of domain "%" has no intent with seq %', p,
      (SELECT x.name FROM intentlog.domains x WHERE x.domain_id = d), s
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the seq of a fetched intent (it may have been dropped by retention).';
  END IF;
  RETURN i;
END $$;

-- The intent a row of retries, parked or dead_letters holds, as the type
-- intentlog.intent: `SELECT intentlog.intent(x) FROM intentlog.dead_letters x`
-- (or x.intent with intentlog on the search_path). Inlined by the planner.
CREATE OR REPLACE FUNCTION intentlog.intent(r intentlog.retries)
RETURNS intentlog.intent LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ROW(r.seq, r.key, r.op, r.payload, r.schema_version, r.expected_version, r.headers, r.appended_at)::intentlog.intent
$$;
COMMENT ON FUNCTION intentlog.intent(intentlog.retries) IS
  'The intent a retry holds, as intentlog.intent: SELECT intentlog.intent(r) FROM intentlog.retries r.';
CREATE OR REPLACE FUNCTION intentlog.intent(r intentlog.parked)
RETURNS intentlog.intent LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ROW(r.seq, r.key, r.op, r.payload, r.schema_version, r.expected_version, r.headers, r.appended_at)::intentlog.intent
$$;
COMMENT ON FUNCTION intentlog.intent(intentlog.parked) IS
  'The intent a parked row holds, as intentlog.intent: SELECT intentlog.intent(r) FROM intentlog.parked r.';
CREATE OR REPLACE FUNCTION intentlog.intent(r intentlog.dead_letters)
RETURNS intentlog.intent LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ROW(r.seq, r.key, r.op, r.payload, r.schema_version, r.expected_version, r.headers, r.appended_at)::intentlog.intent
$$;
COMMENT ON FUNCTION intentlog.intent(intentlog.dead_letters) IS
  'The intent a dead letter holds, as intentlog.intent: SELECT intentlog.intent(r) FROM intentlog.dead_letters r.';

-- Holds intents `seqs` (keys `keys`, pairwise) back behind their keys:
-- parked, or, for a key with dead letters under on_dead_letter =
-- dead_letter_key, dead-lettered at once. Returns (seq, 'parked' |
-- 'dead_letter') per intent. Set-based: a poison key's backlog arrives
-- thousands at a time. The caller holds the partition lock.
CREATE OR REPLACE FUNCTION intentlog._hold(g text, dom intentlog.domains, p int, seqs bigint[], keys text[], why text,
                                history jsonb)
RETURNS TABLE (seq bigint, held text) LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dead_keys text[];
  bad_seq bigint;
  bad_key text;
BEGIN
  IF cardinality(seqs) = 0 THEN
    RETURN;
  END IF;
  -- Each must be the intent the caller thinks it is.
  SELECT c.s, i.key INTO bad_seq, bad_key
    FROM unnest(seqs, keys) AS c(s, k) LEFT JOIN intentlog._intents(dom.domain_id, p, seqs) i ON i.seq = c.s
   WHERE i.key IS DISTINCT FROM c.k ORDER BY c.s LIMIT 1;
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
  RETURN QUERY
    WITH i AS (SELECT * FROM intentlog._intents(dom.domain_id, p, seqs)),
    dl AS (
      INSERT INTO intentlog.dead_letters AS x (group_name, domain_id, partition, attempts, last_error, errors, reason,
                                               seq, key, op, payload, schema_version, expected_version, headers,
                                               appended_at)
      SELECT g, dom.domain_id, p, 0, NULL, history,
             'an earlier intent of the key is a dead letter (on_dead_letter = dead_letter_key)', i.*
        FROM i WHERE i.key = ANY (dead_keys)
      RETURNING x.seq),
    pk AS (
      INSERT INTO intentlog.parked AS x (group_name, domain_id, partition, reason, errors,
                                         seq, key, op, payload, schema_version, expected_version, headers, appended_at)
      SELECT g, dom.domain_id, p, why, history, i.*
        FROM i WHERE NOT (i.key = ANY (dead_keys))
      RETURNING x.seq)
    SELECT r.seq, r.held FROM (SELECT dl.seq, 'dead_letter'::text AS held FROM dl
                               UNION ALL SELECT pk.seq, 'parked' FROM pk) r
    ORDER BY r.seq;
END $$;

-- ---------------------------------------------------------------------------
-- The worker's functions (intentlog_consumer)

CREATE OR REPLACE FUNCTION intentlog.park(group_name text, domain text, partition int, seqs bigint[], keys text[])
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

CREATE OR REPLACE FUNCTION intentlog.record_failure(
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
  i intentlog.intent;
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
      i := intentlog.intent(rt);
    END IF;
  ELSE
    SELECT * INTO pk FROM intentlog.parked x
     WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s FOR UPDATE;
    IF FOUND THEN
      k := pk.key;
      failed_attempts := coalesce(attempt, 1);
      history := pk.errors;
      i := intentlog.intent(pk);
      DELETE FROM intentlog.parked x WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s;
    ELSIF EXISTS (SELECT 1 FROM intentlog.dead_letters x
                   WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s) THEN
      outcome := 'stale';  -- already a dead letter
      SELECT x.attempts, x.dead_letter_id INTO failed_attempts, dead_letter_id FROM intentlog.dead_letters x
       WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.seq = s;
    ELSE
      -- First failure of a freshly fetched intent.
      i := intentlog._intent(dom.domain_id, p, s);
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
      INSERT INTO intentlog.dead_letters AS x (group_name, domain_id, partition, attempts, last_error, errors, reason,
                                               seq, key, op, payload, schema_version, expected_version, headers,
                                               appended_at)
      SELECT g, dom.domain_id, p, failed_attempts, err, history,
             format('delivery failed %s times (max_attempts = %s)', failed_attempts, dom.max_attempts), (i).*
      RETURNING x.dead_letter_id INTO dead_letter_id;
      outcome := 'dead_letter';
      IF dom.on_dead_letter = 'dead_letter_key' THEN
        -- The key's parked intents die with it, in order.
        WITH gone AS (
          DELETE FROM intentlog.parked x
           WHERE x.group_name = g AND x.domain_id = dom.domain_id AND x.partition = p AND x.key = k
          RETURNING x.errors, intentlog.intent(x) AS i)
        INSERT INTO intentlog.dead_letters (group_name, domain_id, partition, attempts, last_error, errors, reason,
                                            seq, key, op, payload, schema_version, expected_version, headers,
                                            appended_at)
        SELECT g, dom.domain_id, p, 0, NULL, gone.errors,
               format('intent %s of the key is a dead letter (on_dead_letter = dead_letter_key)', s), (gone.i).*
          FROM gone ORDER BY (gone.i).seq;
      END IF;
      -- on_dead_letter = continue: the key's first parked intent is due now.
    ELSE
      next_attempt_at := now() + intentlog._backoff(dom.base_backoff, dom.max_backoff, failed_attempts, random());
      INSERT INTO intentlog.retries (group_name, domain_id, partition, attempt, next_attempt_at, last_error, errors,
                                     first_failed_at, seq, key, op, payload, schema_version, expected_version, headers,
                                     appended_at)
      SELECT g, dom.domain_id, p, failed_attempts + 1, next_attempt_at, err, history,
             coalesce(rt.first_failed_at, now()), (i).*;
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

CREATE OR REPLACE FUNCTION intentlog.due_retries(group_name text, domain text, partitions int[], max_rows int DEFAULT 100,
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
  claimed_retries (cp, ci, catt, csrc, cerr, cdue) AS (
    UPDATE intentlog.retries r SET delivering_until = now() + claim
      FROM due WHERE due.src = 'retry' AND r.group_name = g AND r.domain_id = dom.domain_id
                 AND r.partition = due.partition AND r.seq = due.seq
    RETURNING r.partition, intentlog.intent(r), r.attempt, 'retry'::text, r.last_error, due.due_at),
  claimed_parked (cp, ci, catt, csrc, cerr, cdue) AS (
    UPDATE intentlog.parked r SET delivering_until = now() + claim
      FROM due WHERE due.src = 'parked' AND r.group_name = g AND r.domain_id = dom.domain_id
                 AND r.partition = due.partition AND r.seq = due.seq
    RETURNING r.partition, intentlog.intent(r), 1, 'parked'::text, NULL::text, due.due_at)
  SELECT c.cp, (c.ci).*, c.catt, c.csrc, c.cerr
    FROM (SELECT * FROM claimed_retries UNION ALL SELECT * FROM claimed_parked) c
   ORDER BY c.cdue, (c.ci).seq;
END $$;
COMMENT ON FUNCTION intentlog.due_retries(text, text, int[], int, interval) IS
  'The intents of the given partitions the worker should deliver again now, for consumer group group_name: retries whose next_attempt_at has come (source retry, attempt >= 2) and the first parked intent of every key without a retry (source parked, attempt 1). At most one per key. Claims them for `claim` (they are not returned again meanwhile); report each with intentlog.retry_delivered or intentlog.record_failure.';

CREATE OR REPLACE FUNCTION intentlog.retry_delivered(group_name text, domain text, partition int, seq bigint)
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

CREATE OR REPLACE FUNCTION intentlog.held_keys(group_name text, domain text, partitions int[])
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

CREATE OR REPLACE FUNCTION intentlog.release_claims(group_name text, domain text, partitions int[])
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
CREATE OR REPLACE FUNCTION intentlog._redrive(d int, only_id bigint, only_key text, only_group text)
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
    RETURNING x.dead_letter_id, x.group_name, x.domain_id, x.partition, x.errors, intentlog.intent(x) AS i),
  back AS (
    INSERT INTO intentlog.parked (group_name, domain_id, partition, reason, errors,
                                  seq, key, op, payload, schema_version, expected_version, headers, appended_at)
    SELECT gone.group_name, gone.domain_id, gone.partition, format('redriven dead letter %s', gone.dead_letter_id),
           gone.errors, (gone.i).*
      FROM gone ORDER BY (gone.i).seq
    RETURNING 1)
  SELECT count(*) INTO n FROM back;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION intentlog.redrive(dead_letter_id bigint)
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

CREATE OR REPLACE FUNCTION intentlog.redrive(domain text, key text DEFAULT NULL, group_name text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE d int;
BEGIN
  d := intentlog._domain_id(domain);
  PERFORM intentlog._check_group(group_name);
  RETURN intentlog._redrive(d, NULL, key, group_name);
END $$;
COMMENT ON FUNCTION intentlog.redrive(text, text, text) IS
  'Puts the dead letters of a domain back into the stream: all of them, or only those of key and/or consumer group group_name. They are delivered again (attempt 1, error history kept) in seq order per key. Returns how many.';

CREATE OR REPLACE FUNCTION intentlog.discard(dead_letter_id bigint)
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

CREATE OR REPLACE FUNCTION intentlog.discard(domain text, key text DEFAULT NULL, group_name text DEFAULT NULL)
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

