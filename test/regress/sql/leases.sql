-- Partition leases between workers (intentlog.lease_*): even shares, hand-back
-- above the share, takeover after expiry, one call for all of a group's
-- domains; and gap notices for several domains at once.
\i test/regress/fixtures/fresh.sql
\set SHOW_CONTEXT never
SELECT count(intentlog.create_domain(d, partitions => p)) AS created
  FROM (VALUES ('la', 8), ('lb', 3), ('lc', 5)) AS t(d, p);
-- Leases per domain and worker, and whether each one is alive.
CREATE FUNCTION pg_temp.split(grp text) RETURNS TABLE (domain text, worker_id text, partitions text, live boolean)
LANGUAGE sql AS $$
  SELECT d.name, l.worker_id, string_agg(l.partition::text, ',' ORDER BY l.partition), bool_and(l.expires_at > now())
    FROM intentlog.leases l JOIN intentlog.domains d USING (domain_id)
   WHERE l.group_name = grp GROUP BY 1, 2 ORDER BY 1, 2
$$;
-- Ages a worker's leases and membership of a group past their expiry, as if
-- it stopped renewing (killed, or cut off from the database).
CREATE FUNCTION pg_temp.stop_renewing(grp text, worker text) RETURNS void LANGUAGE sql AS $$
  UPDATE intentlog.lease_holds SET expires_at = now() - interval '1 second' WHERE group_name = grp AND worker_id = worker;
  UPDATE intentlog.lease_members SET expires_at = now() - interval '1 second'
   WHERE group_name = grp AND worker_id = worker;
$$;

-- The first worker of a group takes every partition of every domain.
SELECT * FROM intentlog.lease_acquire_all('wa', 'g', ARRAY['la', 'lb', 'lc']);
-- A second one joins: nothing is free yet; once the first renewed (and
-- handed back its highest partitions above the share), it takes the rest.
SELECT * FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['lc', 'la', 'lb']);
SELECT count(*) AS wa_holds FROM intentlog.lease_acquire_all('wa', 'g', ARRAY['la', 'lb', 'lc']);
SELECT count(*) AS wb_holds FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['la', 'lb', 'lc']);
SELECT * FROM pg_temp.split('g');
-- Nothing changed: renewing again keeps every share as it is.
SELECT count(*) AS wa_holds FROM intentlog.lease_acquire_all('wa', 'g', ARRAY['la', 'lb', 'lc']);
SELECT count(*) AS wb_holds FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['la', 'lb', 'lc']);
SELECT * FROM pg_temp.split('g');
SELECT domain_id, worker_id FROM intentlog.lease_members WHERE group_name = 'g' ORDER BY 1, 2;

-- The same steps, one domain at a time with intentlog.lease_acquire, in
-- another group: the same split.
DO $$
DECLARE
  w text;
BEGIN
  FOREACH w IN ARRAY ARRAY['wa', 'wb', 'wa', 'wb'] LOOP
    PERFORM intentlog.lease_acquire(w, 'h', d) FROM unnest(ARRAY['la', 'lb', 'lc']) AS d;
  END LOOP;
END $$;
SELECT (SELECT count(*) FROM (SELECT domain, worker_id, partitions FROM pg_temp.split('g')
                              EXCEPT ALL SELECT domain, worker_id, partitions FROM pg_temp.split('h')) s) AS only_g,
       (SELECT count(*) FROM (SELECT domain, worker_id, partitions FROM pg_temp.split('h')
                              EXCEPT ALL SELECT domain, worker_id, partitions FROM pg_temp.split('g')) s) AS only_h;

-- wa stops renewing: once its leases expired, wb takes them over, and wa's
-- membership goes, so the share is the whole domain again.
SELECT pg_temp.stop_renewing('g', 'wa');
SELECT domain, count(*) AS partitions FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['la', 'lb', 'lc']) GROUP BY 1 ORDER BY 1;
SELECT * FROM pg_temp.split('g');
SELECT DISTINCT worker_id FROM intentlog.lease_members WHERE group_name = 'g';
-- wa comes back: it gets its share back after wb's next renewal.
SELECT count(*) AS wa_holds FROM intentlog.lease_acquire_all('wa', 'g', ARRAY['la', 'lb', 'lc']);
SELECT count(*) AS wb_holds FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['la', 'lb', 'lc']);
SELECT count(*) AS wa_holds FROM intentlog.lease_acquire_all('wa', 'g', ARRAY['la', 'lb', 'lc']);
SELECT * FROM pg_temp.split('g');

-- A worker serving only some domains of the group leaves the others alone;
-- a domain named twice counts once; no domains, no rows.
SELECT * FROM intentlog.lease_acquire_all('wc', 'g', ARRAY['lb', 'lb']);
SELECT count(*) AS wb_holds FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['la', 'lb', 'lc']);
SELECT * FROM intentlog.lease_acquire_all('wc', 'g', ARRAY['lb']);
SELECT * FROM pg_temp.split('g');
SELECT count(*) AS rows FROM intentlog.lease_acquire_all('wc', 'g', ARRAY[]::text[]);
-- Released leases are free for the others at once.
SELECT intentlog.lease_release('wc', 'g', 'lb');
SELECT * FROM intentlog.lease_acquire_all('wb', 'g', ARRAY['lb']);

-- Bad input: a clear message, a proper SQLSTATE, nothing changed.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE TEMP TABLE before AS
  SELECT (SELECT string_agg(format('%s/%s/%s/%s/%s', group_name, domain_id, partition, worker_id, expires_at), ','
                            ORDER BY group_name, domain_id, partition) FROM intentlog.leases) AS leases,
         (SELECT string_agg(format('%s/%s/%s/%s', group_name, domain_id, worker_id, expires_at), ','
                            ORDER BY group_name, domain_id, worker_id) FROM intentlog.lease_members) AS members;
SELECT q, pg_temp.err(q) FROM (VALUES
  ($$SELECT intentlog.lease_acquire_all(NULL, 'g', ARRAY['la'])$$),
  ($$SELECT intentlog.lease_acquire_all('wz', NULL, ARRAY['la'])$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', NULL)$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', ARRAY['la'], NULL)$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', ARRAY['la', NULL])$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', ARRAY['la', 'nope'])$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', ARRAY['la'], '0 s')$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', ARRAY['la'], '-1 s')$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'g', ARRAY['la'], '2 hours')$$),
  ($$SELECT intentlog.lease_acquire_all('wz', 'bad group', ARRAY['la'])$$),
  ($$SELECT intentlog.lease_acquire_all('', 'g', ARRAY['la'])$$),
  ($$SELECT intentlog.lease_acquire(NULL, 'g', 'la')$$),
  ($$SELECT intentlog.lease_acquire('wz', 'g', NULL)$$),
  ($$SELECT intentlog.lease_acquire('wz', 'g', 'nope')$$),
  ($$SELECT intentlog.lease_acquire('wz', 'g', 'la', '0 s')$$),
  ($$SELECT intentlog.lease_acquire('wz', 'bad group', 'la')$$),
  ($$SELECT intentlog.unreported_gaps_all(NULL, ARRAY['la'], ARRAY[0])$$),
  ($$SELECT intentlog.unreported_gaps_all('g', NULL, ARRAY[0])$$),
  ($$SELECT intentlog.unreported_gaps_all('g', ARRAY['la', 'lb'], ARRAY[0])$$)
) AS t(q);
SELECT b.leases = (SELECT string_agg(format('%s/%s/%s/%s/%s', group_name, domain_id, partition, worker_id, expires_at), ','
                                     ORDER BY group_name, domain_id, partition) FROM intentlog.leases) AS leases_same,
       b.members = (SELECT string_agg(format('%s/%s/%s/%s', group_name, domain_id, worker_id, expires_at), ','
                                      ORDER BY group_name, domain_id, worker_id) FROM intentlog.lease_members) AS members_same
  FROM before b;

-- Gaps of several domains' partitions in one call, less those the group was
-- told about; a domain that does not exist has none.
INSERT INTO intentlog.gaps (domain_id, partition, first_seq, last_seq, reason)
SELECT d.domain_id, p, 10 * p + 1, 10 * p + 5, 'test'
  FROM intentlog.domains d, generate_series(0, 2) AS p WHERE d.name IN ('la', 'lb');
SELECT intentlog.gap_reported('g', (SELECT min(gap_id) FROM intentlog.gaps));
SELECT domain, partition, first_seq, last_seq
  FROM intentlog.unreported_gaps_all('g', ARRAY['la', 'la', 'lb', 'lc', 'nope', 'la'], ARRAY[0, 2, 1, 0, 0, 2]);
SELECT partition, first_seq FROM intentlog.unreported_gaps('g', 'la', ARRAY[0, 2]);
SELECT count(*) FROM intentlog.unreported_gaps_all('other', ARRAY['la', 'lb'], ARRAY[0, 1]);
SELECT count(*) FROM intentlog.unreported_gaps_all('g', ARRAY[]::text[], ARRAY[]::int[]);

-- Only the worker's role renews leases; every function says what it does.
SELECT p.oid::regprocedure AS function,
       has_function_privilege('intentlog_consumer', p.oid, 'EXECUTE') AS consumer,
       has_function_privilege('intentlog_admin', p.oid, 'EXECUTE') AS admin,
       has_function_privilege('intentlog_writer', p.oid, 'EXECUTE') AS writer,
       p.prosecdef AS security_definer,
       p.proconfig AS config,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM pg_proc p
 WHERE p.pronamespace = 'intentlog'::regnamespace
   AND (p.proname LIKE 'lease%' OR p.proname LIKE '%gap%' OR p.proname = '_lease_lock')
 ORDER BY 1::text;

-- Dropping a domain drops its leases and memberships.
SELECT intentlog.drop_domain(d) FROM unnest(ARRAY['la', 'lb', 'lc']) AS d;
SELECT (SELECT count(*) FROM intentlog.leases) + (SELECT count(*) FROM intentlog.lease_members) AS left_over;
