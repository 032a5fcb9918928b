-- Helpers of the operational views (sql/views.sql).

-- appended_at of the oldest intent above a seq in a partition (NULL: none).
CREATE OR REPLACE FUNCTION intentlog._oldest_after(parent regclass, after_seq bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE t timestamptz;
BEGIN
  EXECUTE format('SELECT appended_at FROM %s WHERE seq > $1 ORDER BY seq LIMIT 1', parent) INTO t USING after_seq;
  RETURN t;
END $$;


-- Seqs from a group's cursor to the newest committed intent it has not read;
-- 0 when it has read everything committed. Not last_seq - watermark: a
-- rolled-back append at the end of a partition leaves a seq that no fetch
-- returns, so the watermark never passes it. Rows of pending xids (late
-- committers below the watermark, `pending` as in intentlog.cursors) count
-- from the lowest of them.
CREATE OR REPLACE FUNCTION intentlog._seq_lag(parent regclass, watermark bigint, pending text)
RETURNS bigint LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  top bigint;
  low bigint;
BEGIN
  EXECUTE format('SELECT seq FROM %s WHERE seq > $1 ORDER BY seq DESC LIMIT 1', parent) INTO top USING watermark;
  -- Only the pending xids that committed have rows to count: each is looked
  -- for in the primary key's range above its `from` (segments have no xid
  -- index), and the walk stops at its first row.
  IF pending <> '' THEN
    EXECUTE format('SELECT min((SELECT t.seq FROM %s t WHERE t.seq > p.f AND t.seq <= $1 AND t.xid = p.x
                                 ORDER BY t.seq LIMIT 1))
                      FROM (SELECT split_part(e, '':'', 1)::xid8 AS x, split_part(e, '':'', 2)::bigint AS f
                              FROM unnest(string_to_array($2, '','')) e) p
                     WHERE pg_xact_status(p.x) = ''committed''', parent)
      INTO low USING watermark, pending;
  END IF;
  RETURN coalesce(top, watermark) - least(watermark, coalesce(low - 1, watermark));
END $$;
