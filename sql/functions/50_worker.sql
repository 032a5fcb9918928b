-- Worker coordination: partition leases and gap notices (tables: sql/structure/50_worker.sql).

-- Serializes lease changes of one (group, domain) so that concurrent workers
-- see each other's claims; other groups and domains are not held up.
CREATE OR REPLACE FUNCTION intentlog._lease_lock(group_name text, d int)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_xact_lock(hashtext('intentlog.lease'), hashtext($1 || '/' || $2::text))
$$;

CREATE OR REPLACE FUNCTION intentlog.lease_acquire(worker_id text, group_name text, domain text,
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
  RETURN QUERY
    UPDATE intentlog.leases l SET expires_at = now() + ttl
     WHERE l.group_name = lease_renew.group_name AND l.domain_id = d AND l.worker_id = lease_renew.worker_id
    RETURNING l.partition;
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

CREATE OR REPLACE FUNCTION intentlog.gap_reported(group_name text, gap_id bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO intentlog.gap_notices (group_name, gap_id) VALUES ($1, $2) ON CONFLICT DO NOTHING
$$;
COMMENT ON FUNCTION intentlog.gap_reported(text, bigint) IS
  'Records that consumer group group_name was sent the Gap frame of gap gap_id.';

