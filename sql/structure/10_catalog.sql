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
  created_at          timestamptz NOT NULL DEFAULT now(),
  validate_payloads   boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE intentlog.domains IS
  'One row per domain (a named intent stream) with its settings; create with intentlog.create_domain().';
COMMENT ON COLUMN intentlog.domains.validate_payloads IS
  'When true, intent_append refuses payloads that are not a complete message of the current schema version (set with intentlog.set_validate_payloads()).';

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

-- The consumer group name rule, written once: every table column that holds a
-- group's name has this type (the C++ side: intentlog::check_group_name in
-- src/common/validation.h; intentlog._check_group turns a violation into a
-- clear 42602 error for the functions that take a name).
CREATE DOMAIN intentlog.group_name AS text
  CONSTRAINT group_name_check CHECK (VALUE ~ '^[A-Za-z0-9_.:-]{1,128}$');
COMMENT ON DOMAIN intentlog.group_name IS
  'A consumer group name: 1 to 128 characters, letters, digits, ''_'', ''.'', '':'' and ''-''.';

CREATE TABLE intentlog.cursors (
  group_name  intentlog.group_name NOT NULL,
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
-- ... and their ids' sequences, or a restored database hands out ids again.
SELECT pg_catalog.pg_extension_config_dump('intentlog.domains_domain_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('intentlog.gaps_gap_id_seq', '');
