-- Benchmark schema: intentlog domains and the baselines they are compared with.
-- Run once in a fresh database by bench/append.sh.
\set ON_ERROR_STOP on
CREATE EXTENSION intentlog;
CREATE EXTENSION pgq;
SELECT pgq.create_queue('bench_q');

-- The candidates: 16 partitions each (the default), durable and staged.
SELECT intentlog.create_domain('bench_durable', 16, 'durable');
SELECT intentlog.create_domain('bench_staged', 16, 'staged');

-- Baselines: what a hand-written outbox would be. Same columns as an
-- intentlog segment, seq from a sequence, PRIMARY KEY (seq), index on xid.
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
CREATE INDEX ON outbox (xid);

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
CREATE INDEX ON outbox_unlogged (xid);

-- The application table of shape (b): one row per key, UPDATEd with each intent.
CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, updated_at timestamptz NOT NULL)
  WITH (fillfactor = 80);
INSERT INTO accounts SELECT g, 0, now() FROM generate_series(1, 100000) g;
VACUUM ANALYZE accounts;

