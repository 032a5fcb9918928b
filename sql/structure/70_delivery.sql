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
  group_name       intentlog.group_name NOT NULL,
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
  group_name       intentlog.group_name NOT NULL,
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
  group_name       intentlog.group_name NOT NULL,
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
