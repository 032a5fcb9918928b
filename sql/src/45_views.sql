-- Operational views a DBA reads with psql.

-- appended_at of the oldest intent above a seq in a partition (NULL: none).
CREATE FUNCTION intentlog._oldest_after(parent regclass, after_seq bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE t timestamptz;
BEGIN
  EXECUTE format('SELECT appended_at FROM %s WHERE seq > $1 ORDER BY seq LIMIT 1', parent) INTO t USING after_seq;
  RETURN t;
END $$;

CREATE VIEW intentlog.lag AS
SELECT c.group_name,
       d.name AS domain,
       c.partition,
       c.watermark,
       intentlog._last_seq(p.seq_rel) AS last_seq,
       greatest(intentlog._last_seq(p.seq_rel) - c.watermark, 0) AS seq_lag,
       coalesce(array_length(string_to_array(nullif(c.pending, ''), ','), 1), 0) AS pending_xids,
       now() - intentlog._oldest_after(p.parent_rel, c.watermark) AS oldest_undelivered_age,
       c.updated_at AS cursor_committed_at
  FROM intentlog.cursors c
  JOIN intentlog.domains d USING (domain_id)
  JOIN intentlog.partitions p USING (domain_id, partition);
COMMENT ON VIEW intentlog.lag IS
  'Per consumer group and partition: how far its committed cursor is behind the log (seq_lag counts seqs handed out, including rolled-back ones) and how old the oldest undelivered intent is.';

CREATE VIEW intentlog.storage AS
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

GRANT SELECT ON intentlog.lag, intentlog.storage TO intentlog_admin, intentlog_consumer;
