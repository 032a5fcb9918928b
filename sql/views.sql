-- Operational views a DBA reads with psql.

CREATE OR REPLACE VIEW intentlog.leases AS
SELECT h.group_name, h.domain_id, h.partition, h.worker_id, h.acquired_at,
       greatest(h.expires_at, m.expires_at) AS expires_at
  FROM intentlog.lease_holds h
  LEFT JOIN intentlog.lease_members m
    ON m.group_name = h.group_name AND m.domain_id = h.domain_id AND m.worker_id = h.worker_id;
COMMENT ON VIEW intentlog.leases IS
  'Which worker drains a partition for a consumer group, until expires_at: the later of the holder''s membership expiry and the end of the ttl the lease was taken with. An expired lease is free for any worker to take.';

CREATE OR REPLACE VIEW intentlog.lag AS
SELECT c.group_name,
       d.name AS domain,
       c.partition,
       c.watermark,
       intentlog._last_seq(p.seq_rel) AS last_seq,
       intentlog._seq_lag(p.parent_rel, c.watermark, c.pending) AS seq_lag,
       coalesce(array_length(string_to_array(nullif(c.pending, ''), ','), 1), 0) AS pending_xids,
       now() - intentlog._oldest_after(p.parent_rel, c.watermark) AS oldest_undelivered_age,
       c.updated_at AS cursor_committed_at
  FROM intentlog.cursors c
  JOIN intentlog.domains d USING (domain_id)
  JOIN intentlog.partitions p USING (domain_id, partition);
COMMENT ON VIEW intentlog.lag IS
  'Per consumer group and partition: how far its committed cursor is behind the log (seq_lag: seqs up to the newest committed intent it has not read, 0 when it has read everything committed, whatever seqs rolled-back appends used up) and how old the oldest undelivered intent is.';

CREATE OR REPLACE VIEW intentlog.storage AS
SELECT d.name AS domain,
       s.partition,
       s.segment,
       s.rel,
       c.relpersistence = 'p' AS logged,
       s.first_seq,
       s.created_at,
       s.sealed_at,
       pg_total_relation_size(s.rel) AS bytes
  FROM intentlog.segments s
  JOIN intentlog.domains d USING (domain_id)
  JOIN pg_class c ON c.oid = s.rel
UNION ALL
SELECT d.name, p.partition, NULL, p.hot_rel, false, NULL, NULL, NULL, pg_total_relation_size(p.hot_rel)
  FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
 WHERE d.durability = 'staged';
COMMENT ON VIEW intentlog.storage IS
  'Every segment of every partition (and each staged partition''s unlogged hot table, segment NULL) with its size; sealed segments are dropped by retention.';

-- Delivery (sql/structure/70_delivery.sql).

CREATE OR REPLACE VIEW intentlog.retries_due AS
SELECT r.group_name,
       d.name AS domain,
       r.partition,
       r.seq,
       r.key,
       r.attempt,
       r.next_attempt_at,
       now() - r.next_attempt_at AS overdue,
       r.delivering_until IS NOT NULL AND r.delivering_until >= now() AS in_flight,
       r.last_error,
       (SELECT count(*) FROM intentlog.parked x
         WHERE x.group_name = r.group_name AND x.domain_id = r.domain_id AND x.partition = r.partition
           AND x.key = r.key) AS parked_behind
  FROM intentlog.retries r JOIN intentlog.domains d USING (domain_id)
 WHERE r.next_attempt_at <= now();
COMMENT ON VIEW intentlog.retries_due IS
  'Retries whose next attempt is due now (in_flight: a worker is delivering it), how overdue, and how many intents of the key are parked behind each. All retries, due or not: intentlog.retries.';

CREATE OR REPLACE VIEW intentlog.blocked_keys AS
SELECT r.group_name,
       d.name AS domain,
       r.partition,
       r.key,
       r.seq,
       r.attempt,
       r.next_attempt_at,
       r.delivering_until IS NOT NULL AND r.delivering_until >= now() AS in_flight,
       r.first_failed_at,
       r.last_error,
       (SELECT count(*) FROM intentlog.parked x
         WHERE x.group_name = r.group_name AND x.domain_id = r.domain_id AND x.partition = r.partition
           AND x.key = r.key) AS parked_behind
  FROM intentlog.retries r JOIN intentlog.domains d USING (domain_id);
COMMENT ON VIEW intentlog.blocked_keys IS
  'Keys held behind a retry, per consumer group: the failed intent (seq), the number of its next attempt and when it is due, since when the key has been failing, the latest error, and how many later intents of the key are parked behind it. A key whose retries run out moves to intentlog.dead_letters and is free again.';

CREATE OR REPLACE VIEW intentlog.dead_letters_per_domain AS
SELECT d.name AS domain,
       x.group_name,
       count(*) AS dead_letters,
       count(DISTINCT x.key) AS keys,
       min(x.dead_at) AS oldest_dead_at,
       max(x.dead_at) AS newest_dead_at,
       (array_agg(x.last_error ORDER BY x.dead_at DESC) FILTER (WHERE x.last_error IS NOT NULL))[1] AS newest_error
  FROM intentlog.dead_letters x JOIN intentlog.domains d USING (domain_id)
 GROUP BY d.name, x.group_name;
COMMENT ON VIEW intentlog.dead_letters_per_domain IS
  'Dead letters per domain and consumer group: how many, of how many keys, the oldest and newest, and the latest error. Redrive with intentlog.redrive(domain), drop with intentlog.discard(domain).';

CREATE OR REPLACE VIEW intentlog.delivery_backlog AS
SELECT d.name AS domain, b.group_name,
       count(*) FILTER (WHERE b.kind = 'retry') AS retries,
       count(*) FILTER (WHERE b.kind = 'retry' AND b.due_at <= now()) AS retries_due,
       count(*) FILTER (WHERE b.kind = 'parked') AS parked,
       count(*) FILTER (WHERE b.kind = 'dead') AS dead_letters,
       min(b.due_at) FILTER (WHERE b.kind = 'retry') AS next_retry_at
  FROM (SELECT 'retry' AS kind, r.domain_id, r.group_name, r.next_attempt_at AS due_at FROM intentlog.retries r
        UNION ALL SELECT 'parked', x.domain_id, x.group_name, NULL FROM intentlog.parked x
        UNION ALL SELECT 'dead', x.domain_id, x.group_name, NULL FROM intentlog.dead_letters x) b
  JOIN intentlog.domains d USING (domain_id)
 GROUP BY d.name, b.group_name;
COMMENT ON VIEW intentlog.delivery_backlog IS
  'Per domain and consumer group: intents waiting for a retry (and how many are due), parked behind them, and dead letters.';


CREATE OR REPLACE VIEW intentlog.consumer_grants AS
SELECT c.name AS consumer,
       c.groups,
       coalesce(c.domains, ARRAY['*']) AS domains,
       c.revoked_at IS NULL AS active,
       c.created_at,
       c.revoked_at
  FROM intentlog.consumers c;
COMMENT ON VIEW intentlog.consumer_grants IS
  'Consumer credentials and what they grant (group and domain patterns; * matches any characters), without their hashes.';
