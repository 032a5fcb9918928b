-- Helpers of the operational views (sql/views.sql).

-- appended_at of the oldest intent above a seq in a partition (NULL: none).
CREATE OR REPLACE FUNCTION intentlog._oldest_after(parent regclass, after_seq bigint)
RETURNS timestamptz LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE t timestamptz;
BEGIN
  EXECUTE format('SELECT appended_at FROM %s WHERE seq > $1 ORDER BY seq LIMIT 1', parent) INTO t USING after_seq;
  RETURN t;
END $$;

