-- Benchmark schema: intentlog domains and the baselines they are compared with.
-- Run once in a fresh database by bench/append.sh.
\set ON_ERROR_STOP on
CREATE EXTENSION intentlog;
CREATE EXTENSION pgq;
SELECT pgq.create_queue('bench_q');

-- The candidates: 16 partitions each (the default), durable and staged.
SELECT intentlog.create_domain('bench_durable', 16, 'durable');
SELECT intentlog.create_domain('bench_staged', 16, 'staged');

-- Baselines: what a hand-written outbox would be. Same columns and index as
-- an intentlog segment: seq from a sequence, PRIMARY KEY (seq). (Until
-- 650c968 segments, and so these tables, also had an index on xid.)
CREATE SEQUENCE outbox_seq;
CREATE TABLE outbox (
  partition        int NOT NULL,
  seq              bigint NOT NULL DEFAULT nextval('outbox_seq'),
  xid              xid8 NOT NULL,
  key              text NOT NULL,
  op               text NOT NULL,
  payload          bytea,
  schema_version   int,
  expected_version bigint,
  headers          jsonb,
  appended_at      timestamptz NOT NULL,
  PRIMARY KEY (seq));

CREATE SEQUENCE outbox_unlogged_seq;
CREATE UNLOGGED TABLE outbox_unlogged (
  partition        int NOT NULL,
  seq              bigint NOT NULL DEFAULT nextval('outbox_unlogged_seq'),
  xid              xid8 NOT NULL,
  key              text NOT NULL,
  op               text NOT NULL,
  payload          bytea,
  schema_version   int,
  expected_version bigint,
  headers          jsonb,
  appended_at      timestamptz NOT NULL,
  PRIMARY KEY (seq));

-- The application table of shape (b): one row per key, UPDATEd with each intent.
CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, updated_at timestamptz NOT NULL)
  WITH (fillfactor = 80);
INSERT INTO accounts SELECT g, 0, now() FROM generate_series(1, 100000) g;
VACUUM ANALYZE accounts;


-- Bytes a variant's appends leave in its tables (main fork and indexes), read
-- before and after each run by bench/append.sh: the intentlog domains' logged
-- segments (a staged domain's hot tables are reused space, not counted), the
-- outbox tables of the baselines; nothing for the others (emit writes WAL only).
CREATE FUNCTION bench_sizes(variant text, OUT heap bigint, OUT idx bigint, OUT idx_xid bigint)
LANGUAGE sql AS $$
  WITH rels AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND (
           (variant IN ('durable', 'durable_async') AND n.nspname = 'intentlog_data'
            AND c.relname ~ '^bench_durable_p[0-9]+_s[0-9]+$')
        OR (variant = 'staged' AND n.nspname = 'intentlog_data' AND c.relname ~ '^bench_staged_p[0-9]+_s[0-9]+$')
        OR (variant = 'plain' AND n.nspname = 'public' AND c.relname = 'outbox')
        OR (variant = 'unlogged' AND n.nspname = 'public' AND c.relname = 'outbox_unlogged')))
  SELECT coalesce((SELECT sum(pg_relation_size(oid)) FROM rels), 0)::bigint,
         coalesce((SELECT sum(pg_indexes_size(oid)) FROM rels), 0)::bigint,
         coalesce((SELECT sum(pg_relation_size(i.indexrelid)) FROM pg_index i JOIN pg_attribute a
                      ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE i.indrelid IN (SELECT oid FROM rels) AND i.indnatts = 1 AND a.attname = 'xid'), 0)::bigint
$$;

-- Promotes everything a staged domain's hot tables hold now (what the
-- maintenance worker would do in its next rounds), one partition after the
-- other; returns the rows moved. bench/append.sh times it after each staged
-- run, so that the run's figure includes the promotion of all it appended.
CREATE FUNCTION bench_promote_all(domain text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; moved bigint; total bigint := 0;
BEGIN
  FOR r IN SELECT p.domain_id, p.partition FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
            WHERE d.name = domain ORDER BY p.partition LOOP
    LOOP  -- at most 100,000 rows a call
      moved := intentlog._promote(r.domain_id, r.partition, 100000);
      total := total + moved;
      EXIT WHEN moved < 100000;
    END LOOP;
  END LOOP;
  RETURN total;
END $$;

-- Rows still in a staged domain's hot tables (0 once everything is promoted).
CREATE FUNCTION bench_hot_rows(domain text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE r record; n bigint; total bigint := 0;
BEGIN
  FOR r IN SELECT p.hot_rel FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
            WHERE d.name = domain AND p.hot_rel <> p.durable_rel LOOP
    EXECUTE format('SELECT count(*) FROM ONLY %s', r.hot_rel) INTO n;
    total := total + n;
  END LOOP;
  RETURN total;
END $$;
