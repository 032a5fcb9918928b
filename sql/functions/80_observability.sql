-- Observability for psql users and SQL exporters: the hottest keys of a
-- domain, and per-domain append counters kept in shared memory
-- (src/extension/append_counters.cpp). The views are in sql/views.sql
-- (intentlog.lag, intentlog.blocked_keys, intentlog.delivery_backlog).

-- The keys with the most intents appended to `domain` in the last `since`,
-- most first. Reads only the segments written during the window (and the
-- hot tables of a staged domain), through their seq indexes.
CREATE OR REPLACE FUNCTION intentlog.hot_keys(domain text, since interval DEFAULT '5 minutes', max_keys int DEFAULT 10)
RETURNS TABLE (key text, partition int, intents bigint, first_appended_at timestamptz, last_appended_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int := intentlog._domain_id(domain);
  cutoff timestamptz;
  scans text;
BEGIN
  IF since IS NULL OR since <= interval '0' THEN
    RAISE EXCEPTION 'since must be a positive interval, got %', coalesce(since::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_keys IS NULL OR max_keys < 1 OR max_keys > 10000 THEN
    RAISE EXCEPTION 'max_keys must be between 1 and 10000, got %', coalesce(max_keys::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  cutoff := now() - since;
  -- Per partition: rows from the first segment still written at the cutoff on.
  SELECT string_agg(format('SELECT key, %s AS partition, appended_at FROM %s WHERE seq >= %s AND appended_at >= $1',
                           p.partition, p.parent_rel, coalesce(s.first_seq, 0)), ' UNION ALL ')
    INTO scans
    FROM intentlog.partitions p
    LEFT JOIN LATERAL (SELECT min(g.first_seq) AS first_seq FROM intentlog.segments g
                        WHERE g.domain_id = p.domain_id AND g.partition = p.partition
                          AND (g.sealed_at IS NULL OR g.sealed_at >= cutoff)) s ON true
   WHERE p.domain_id = d;
  RETURN QUERY EXECUTE format(
    'SELECT key, partition, count(*), min(appended_at), max(appended_at) FROM (%s) r
      GROUP BY key, partition ORDER BY count(*) DESC, key LIMIT $2', scans) USING cutoff, max_keys;
END $$;
COMMENT ON FUNCTION intentlog.hot_keys(text, interval, int) IS
  'The keys of a domain with the most intents appended in the last "since" (default 5 minutes), most first, at most max_keys: how many, and the first and last append in the window. Reads the segments written during the window only.';

CREATE OR REPLACE FUNCTION intentlog._append_counters()
RETURNS TABLE (domain_id int, committed bigint, rolled_back bigint, transactions bigint) LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_append_counters';
COMMENT ON FUNCTION intentlog._append_counters() IS
  'Append counters of this database''s domains from shared memory (rows only for domains appended to since the server started); none without shared_preload_libraries.';

CREATE OR REPLACE FUNCTION intentlog._append_counters_kept()
RETURNS boolean LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_append_counters_kept';
COMMENT ON FUNCTION intentlog._append_counters_kept() IS
  'Whether this server keeps append counters: the library was loaded through shared_preload_libraries.';

CREATE OR REPLACE FUNCTION intentlog._append_counters_reset(domain_id int)
RETURNS void LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'intentlog_append_counters_reset';
COMMENT ON FUNCTION intentlog._append_counters_reset(int) IS
  'Zeroes the append counters of a domain id in this database (intentlog.create_domain: after DROP EXTENSION, ids are handed out again).';

-- One row per domain: append counters since the server started (NULL, with
-- a warning, when the library is not preloaded) and the delivery backlog.
CREATE OR REPLACE FUNCTION intentlog.metrics()
RETURNS TABLE (domain text, intents_committed bigint, intents_rolled_back bigint, append_transactions bigint,
               counters_since timestamptz, partitions int, retries bigint, parked bigint, dead_letters bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  kept boolean := intentlog._append_counters_kept();
BEGIN
  IF NOT kept THEN
    RAISE WARNING 'intentlog append counters are not kept: the library is not in shared_preload_libraries'
      USING DETAIL = 'intents_committed, intents_rolled_back and append_transactions are NULL.',
            HINT = 'Add intentlog to shared_preload_libraries and restart the server.';
  END IF;
  RETURN QUERY
  SELECT d.name,
         CASE WHEN kept THEN coalesce(c.committed, 0) END,
         CASE WHEN kept THEN coalesce(c.rolled_back, 0) END,
         CASE WHEN kept THEN coalesce(c.transactions, 0) END,
         CASE WHEN kept THEN greatest(pg_postmaster_start_time(), d.created_at) END,
         d.partitions,
         (SELECT count(*) FROM intentlog.retries r WHERE r.domain_id = d.domain_id),
         (SELECT count(*) FROM intentlog.parked x WHERE x.domain_id = d.domain_id),
         (SELECT count(*) FROM intentlog.dead_letters x WHERE x.domain_id = d.domain_id)
    FROM intentlog.domains d
    LEFT JOIN intentlog._append_counters() c USING (domain_id)
   ORDER BY d.name;
END $$;
COMMENT ON FUNCTION intentlog.metrics() IS
  'Per domain, for dashboards and SQL exporters: intents committed and rolled back, and appending transactions, since counters_since (the server start, or the domain''s creation if later; kept in shared memory, no write per append; NULL with a warning without shared_preload_libraries), its partitions, and its retries, parked intents and dead letters over all consumer groups.';
