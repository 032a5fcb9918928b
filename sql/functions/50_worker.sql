-- Worker coordination: partition leases and gap notices (tables: sql/structure/50_worker.sql).

-- Serializes lease changes of each (group, domain) of the domains ds so that
-- concurrent workers see each other's claims; other groups and domains are
-- not held up.
CREATE OR REPLACE FUNCTION intentlog._lease_lock(group_name text, ds int[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- In the order of the lock keys, the same for every caller: two workers
  -- locking overlapping sets of domains cannot deadlock.
  PERFORM pg_advisory_xact_lock(hashtext('intentlog.lease'), k.key)
     FROM (SELECT DISTINCT hashtext(group_name || '/' || d::text) AS key FROM unnest(ds) AS d ORDER BY 1) AS k;
END $$;

CREATE OR REPLACE FUNCTION intentlog._lease_lock(group_name text, d int)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT intentlog._lease_lock($1, ARRAY[$2])
$$;

-- Its statements run on generic plans: planned for each call's arrays, they
-- cost more to plan than to run (measured at 1,024 partitions: 8-11 ms a
-- call on custom plans, 6.7-6.9 ms on generic ones; bench/RESULTS.md).
CREATE OR REPLACE FUNCTION intentlog.lease_acquire_all(worker_id text, group_name text, domains text[],
                                            ttl interval DEFAULT '10 seconds')
RETURNS TABLE (domain text, partition int)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  g       text := group_name;
  w       text := worker_id;
  ds      int[];
  unknown boolean;
  todo    int[];  -- domains whose share this worker does not hold exactly
  wanted  int[];  -- for each, partitions to take (> 0) or to hand back (< 0)
  given   text;
BEGIN
  IF w IS NULL OR g IS NULL OR ttl IS NULL THEN
    RAISE EXCEPTION 'worker_id, group_name and ttl must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF domains IS NULL THEN
    RAISE EXCEPTION 'domains must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF ttl <= '0' OR ttl > '1 hour' THEN
    RAISE EXCEPTION 'lease ttl must be positive and at most 1 hour, got %', ttl USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT array_agg(DISTINCT dm.domain_id), bool_or(dm.domain_id IS NULL) INTO ds, unknown
    FROM unnest(domains) AS x(name) LEFT JOIN intentlog.domains dm ON dm.name = x.name;
  IF unknown THEN
    FOREACH given IN ARRAY domains LOOP
      PERFORM intentlog._domain_id(given);  -- raises for the first null or unknown name
    END LOOP;
  END IF;
  IF ds IS NULL THEN
    RETURN;
  END IF;
  PERFORM intentlog._lease_lock(g, ds);

  -- Renewing the membership renews every lease held under it: one row per
  -- (group, domain), however many partitions (intentlog.leases).
  INSERT INTO intentlog.lease_members AS m (group_name, domain_id, worker_id, expires_at)
  SELECT g, d, w, now() + ttl FROM unnest(ds) AS d
  ON CONFLICT ON CONSTRAINT lease_members_pkey DO UPDATE SET expires_at = excluded.expires_at;
  DELETE FROM intentlog.lease_members m
   WHERE m.group_name = g AND m.domain_id = ANY (ds) AND m.expires_at < now();

  -- Finds the domains where what it holds is not an even share among the
  -- live members: usually none.
  WITH held AS (
    SELECT h.domain_id, count(*)::int AS n FROM intentlog.lease_holds h
     WHERE h.group_name = g AND h.domain_id = ANY (ds) AND h.worker_id = w
     GROUP BY 1
  ), share AS (
    SELECT dm.domain_id, (dm.partitions + count(*)::int - 1) / count(*)::int AS n
      FROM intentlog.lease_members m JOIN intentlog.domains dm ON dm.domain_id = m.domain_id
     WHERE m.group_name = g AND m.domain_id = ANY (ds)
     GROUP BY dm.domain_id
  )
  SELECT array_agg(s.domain_id), array_agg(s.n - coalesce(h.n, 0)) INTO todo, wanted
    FROM share s LEFT JOIN held h ON h.domain_id = s.domain_id
   WHERE s.n <> coalesce(h.n, 0);

  IF todo IS NOT NULL THEN
    -- Above the fair share: hand the highest partitions back so that a
    -- worker that joined can take them.
    DELETE FROM intentlog.lease_holds l
     USING (SELECT o.domain_id, o.partition, c.n,
                   row_number() OVER (PARTITION BY o.domain_id ORDER BY o.partition DESC) AS rank
              FROM unnest(todo, wanted) AS c(d, n)
              JOIN intentlog.lease_holds o ON o.group_name = g AND o.domain_id = c.d AND o.worker_id = w
             WHERE c.n < 0) AS x
     WHERE l.group_name = g AND l.domain_id = x.domain_id AND l.partition = x.partition AND x.rank <= -x.n;
    -- Below it: take free or expired partitions, lowest first (the view
    -- intentlog.leases says when a lease expires).
    INSERT INTO intentlog.lease_holds AS l (group_name, domain_id, partition, worker_id, expires_at)
    SELECT g, f.d, f.p, w, now() + ttl
      FROM (SELECT c.d, p, c.n, row_number() OVER (PARTITION BY c.d ORDER BY p) AS rank
              FROM unnest(todo, wanted) AS c(d, n)
              JOIN intentlog.domains dm ON dm.domain_id = c.d
              CROSS JOIN generate_series(0, dm.partitions - 1) AS p
             WHERE c.n > 0
               AND NOT EXISTS (SELECT 1 FROM intentlog.leases o
                                WHERE o.group_name = g AND o.domain_id = c.d AND o.partition = p
                                  AND o.expires_at >= now())) AS f
     WHERE f.rank <= f.n
    ON CONFLICT ON CONSTRAINT lease_holds_pkey DO UPDATE
      SET worker_id = excluded.worker_id, acquired_at = now(), expires_at = excluded.expires_at;
  END IF;

  RETURN QUERY SELECT dm.name::text, l.partition
    FROM intentlog.lease_holds l JOIN intentlog.domains dm ON dm.domain_id = l.domain_id
   WHERE l.group_name = g AND l.domain_id = ANY (ds) AND l.worker_id = w
   ORDER BY 1, 2;
END $$;
COMMENT ON FUNCTION intentlog.lease_acquire_all(text, text, text[], interval) IS
  'Called periodically (well within ttl) by a worker serving consumer group group_name on several domains: for each of them, in one call, renews its membership (which renews every lease it holds there: one row per domain, not per partition), takes free or expired partitions up to an even share among the live workers, hands back partitions above that share; returns the (domain, partition) pairs it now holds. Does for every domain what intentlog.lease_acquire does for one.';

CREATE OR REPLACE FUNCTION intentlog.lease_acquire(worker_id text, group_name text, domain text,
                                        ttl interval DEFAULT '10 seconds')
RETURNS SETOF int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT a.partition FROM intentlog.lease_acquire_all($1, $2, ARRAY[$3], $4) AS a ORDER BY 1
$$;
COMMENT ON FUNCTION intentlog.lease_acquire(text, text, text, interval) IS
  'Called periodically (well within ttl) by a worker serving consumer group group_name on domain: renews its membership and its leases, takes free or expired partitions up to an even share among the live workers, hands back partitions above that share, and returns the partitions it now holds.';

CREATE OR REPLACE FUNCTION intentlog.lease_renew(worker_id text, group_name text, domain text,
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
  IF FOUND THEN
    -- The membership carries the leases held under it.
    RETURN QUERY
      SELECT l.partition FROM intentlog.lease_holds l
       WHERE l.group_name = lease_renew.group_name AND l.domain_id = d AND l.worker_id = lease_renew.worker_id;
  ELSE
    -- No membership (it expired and another worker removed it): renew the
    -- leases one by one, those no one has taken over.
    RETURN QUERY
      UPDATE intentlog.lease_holds l SET expires_at = now() + ttl
       WHERE l.group_name = lease_renew.group_name AND l.domain_id = d AND l.worker_id = lease_renew.worker_id
      RETURNING l.partition;
  END IF;
END $$;
COMMENT ON FUNCTION intentlog.lease_renew(text, text, text, interval) IS
  'Extends a worker''s leases on (group_name, domain) without rebalancing; returns the partitions it still holds (a lease that expired and was taken over is not among them).';

CREATE OR REPLACE FUNCTION intentlog.lease_release(worker_id text, group_name text, domain text,
                                        partitions int[] DEFAULT NULL)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d int;
  n int;
BEGIN
  d := intentlog._domain_id(domain);
  PERFORM intentlog._lease_lock(group_name, d);
  DELETE FROM intentlog.lease_holds l
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

CREATE OR REPLACE FUNCTION intentlog.unreported_gaps(group_name text, domain text, partitions int[])
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

CREATE OR REPLACE FUNCTION intentlog.unreported_gaps_all(group_name text, domains text[], partitions int[])
RETURNS TABLE (domain text, gap_id bigint, partition int, first_seq bigint, last_seq bigint, detected_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF group_name IS NULL OR domains IS NULL OR partitions IS NULL THEN
    RAISE EXCEPTION 'group_name, domains and partitions must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  IF cardinality(domains) <> cardinality(partitions) THEN
    RAISE EXCEPTION 'domains and partitions must have the same length, got % and %',
      cardinality(domains), cardinality(partitions) USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
    SELECT dm.name::text, gp.gap_id, gp.partition, gp.first_seq, gp.last_seq, gp.detected_at
      FROM (SELECT DISTINCT x.name, x.p FROM unnest(domains, partitions) AS x(name, p)) AS asked
      JOIN intentlog.domains dm ON dm.name = asked.name
      JOIN intentlog.gaps gp ON gp.domain_id = dm.domain_id AND gp.partition = asked.p
     WHERE NOT EXISTS (SELECT 1 FROM intentlog.gap_notices n
                        WHERE n.group_name = unreported_gaps_all.group_name AND n.gap_id = gp.gap_id)
     ORDER BY gp.gap_id;
END $$;
COMMENT ON FUNCTION intentlog.unreported_gaps_all(text, text[], int[]) IS
  'Gaps that consumer group group_name has not been sent a Gap frame for yet, of several domains'' partitions in one call: (domains[i], partitions[i]) names one partition. A domain that does not exist (any more) has none.';

CREATE OR REPLACE FUNCTION intentlog.gap_reported(group_name text, gap_id bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO intentlog.gap_notices (group_name, gap_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION intentlog.gap_reported(text, bigint) IS
  'Records that consumer group group_name was sent the Gap frame of gap gap_id.';

