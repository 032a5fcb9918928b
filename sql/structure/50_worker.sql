-- Worker coordination: partition leases between worker processes, and which
-- gaps each consumer group has been told about.
--
-- Leases are per (consumer group, domain, partition). A worker asks for the
-- partitions of a (group, domain) only while it has a consumer of that group
-- connected; the workers that ask share the partitions evenly, and a worker
-- that stops renewing (killed, partitioned away) loses its leases when they
-- expire, so the others take its partitions over. A lease only says who
-- drains a partition; cursors stay in intentlog.cursors, so a new owner
-- resumes from the group's committed cursor (at-least-once).

CREATE TABLE intentlog.lease_members (
  group_name  intentlog.group_name NOT NULL,
  domain_id   int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  worker_id   text NOT NULL CHECK (length(worker_id) BETWEEN 1 AND 200),
  joined_at   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (group_name, domain_id, worker_id)
);
COMMENT ON TABLE intentlog.lease_members IS
  'Workers currently serving a consumer group on a domain; the partitions are split evenly among the live (unexpired) ones.';

CREATE TABLE intentlog.lease_holds (
  group_name  intentlog.group_name NOT NULL,
  domain_id   int NOT NULL REFERENCES intentlog.domains ON DELETE CASCADE,
  partition   int NOT NULL,
  worker_id   text NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (group_name, domain_id, partition)
);
COMMENT ON TABLE intentlog.lease_holds IS
  'Which worker drains a partition for a consumer group. The lease lasts as long as the holder''s membership of the group on the domain (intentlog.lease_members), renewed once per (group, domain) instead of once per partition, or at least until expires_at, the end of the ttl it was taken with. Read intentlog.leases for when each lease expires.';

CREATE TABLE intentlog.gap_notices (
  group_name  intentlog.group_name NOT NULL,
  gap_id      bigint NOT NULL REFERENCES intentlog.gaps ON DELETE CASCADE,
  reported_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_name, gap_id)
);
COMMENT ON TABLE intentlog.gap_notices IS
  'Gaps (intentlog.gaps) a consumer group has been sent a Gap frame for; the others are still to be reported.';
SELECT pg_catalog.pg_extension_config_dump('intentlog.gap_notices', '');
