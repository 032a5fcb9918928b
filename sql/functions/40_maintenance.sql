-- Maintenance: promotion of staged hot tables, segment rotation, retention,
-- and crash-gap detection. The extension's background worker calls
-- intentlog.maintain() every intentlog.maintenance_naptime; a DBA may call it
-- by hand too (it is idempotent and never waits on application transactions).

CREATE OR REPLACE FUNCTION intentlog._promote_rows(hot regclass, durable regclass, cursor text, max_rows int,
                                        OUT moved bigint, OUT next_cursor text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'intentlog_promote_rows';
COMMENT ON FUNCTION intentlog._promote_rows(regclass, regclass, text, int) IS
  'Internal: moves the committed rows of a staged hot table past its snapshot cursor into a logged segment (one multi-insert, one delete); returns how many and the next cursor (null when none moved).';

-- Lowest seq a cursor may still have to read, minus one.
CREATE OR REPLACE FUNCTION intentlog._cursor_floor(watermark bigint, pending text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT least(watermark, (SELECT min(split_part(x, ':', 2)::bigint)
                             FROM unnest(string_to_array(nullif(pending, ''), ',')) AS x))
$$;

CREATE OR REPLACE FUNCTION intentlog._cursor_floor(cursor text)
RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT intentlog._cursor_floor(split_part(cursor, ';', 1)::bigint, split_part(cursor, ';', 2))
$$;

-- After a crash the unlogged hot tables are empty: record what may have been
-- lost, and move each staged partition's seq past anything handed out before
-- the crash (its last WAL record may predate seqs already used and even
-- delivered), so no seq is ever reused. Returns true when it recorded gaps.
CREATE OR REPLACE FUNCTION intentlog._recover_after_crash()
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  lo bigint;
  hi bigint;
  seen bigint;
  restart bigint;
  -- Seqs a partition may have handed out after its last durable seq record.
  reuse_margin constant bigint := 1000000;
BEGIN
  IF EXISTS (SELECT 1 FROM intentlog.crash_sentinel) THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('intentlog._recover_after_crash'));
  IF EXISTS (SELECT 1 FROM intentlog.crash_sentinel) THEN
    RETURN false;  -- another backend recorded it while we waited
  END IF;
  FOR part IN
    SELECT p.* FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
     WHERE d.durability = 'staged' ORDER BY p.domain_id, p.partition
  LOOP
    lo := intentlog._cursor_floor(part.promote_cursor) + 1;
    SELECT max(c.watermark) INTO seen FROM intentlog.cursors c
     WHERE c.domain_id = part.domain_id AND c.partition = part.partition;
    hi := greatest(intentlog._last_seq(part.seq_rel), coalesce(seen, 0)) + reuse_margin;
    restart := hi + 1;
    INSERT INTO intentlog.gaps (domain_id, partition, first_seq, last_seq, reason)
    VALUES (part.domain_id, part.partition, lo, hi,
            'server crash: staged intents appended after the last promotion may have been lost with the unlogged hot table');
    PERFORM setval(part.seq_rel, restart, false);
    -- Nothing below the restart point is left in the (now empty) hot table.
    UPDATE intentlog.partitions SET promote_cursor = hi::text, promoted_at = now()
     WHERE domain_id = part.domain_id AND partition = part.partition;
  END LOOP;
  INSERT INTO intentlog.crash_sentinel VALUES (true) ON CONFLICT DO NOTHING;
  RETURN true;
END $$;
COMMENT ON FUNCTION intentlog._recover_after_crash() IS
  'Internal: after a server crash, records in intentlog.gaps the seq range each staged partition may have lost and restarts its seqs past it. Runs once; later calls return false.';

-- Moves what committed in a staged partition's hot table into its current
-- logged segment, through a snapshot cursor of its own: rows of transactions
-- still open stay behind (and are moved once they commit), nobody waits.
CREATE OR REPLACE FUNCTION intentlog._promote(d int, p int, max_rows int DEFAULT 50000)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part intentlog.partitions%ROWTYPE;
  next text;
  moved bigint;
BEGIN
  -- Serializes promoters of one partition; a second one then finds nothing new.
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p FOR UPDATE;
  SELECT r.moved, r.next_cursor INTO moved, next
    FROM intentlog._promote_rows(part.hot_rel, part.durable_rel, part.promote_cursor, max_rows) r;
  UPDATE intentlog.partitions
     SET promote_cursor = coalesce(next, promote_cursor), promoted_at = now()
   WHERE domain_id = d AND partition = p;
  RETURN moved;
END $$;

-- Starts a new segment when the current one is full or old enough; the old
-- one is sealed (no new appends) and left to retention.
CREATE OR REPLACE FUNCTION intentlog._rotate(d int, p int)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  part intentlog.partitions%ROWTYPE;
  cur intentlog.segments%ROWTYPE;
  seg regclass;
  nonempty boolean;
BEGIN
  SELECT * INTO dom FROM intentlog.domains WHERE domain_id = d;
  -- Decide without locking (most rounds rotate nothing: no lock, no xid, no WAL).
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p;
  SELECT * INTO cur FROM intentlog.segments WHERE rel = part.durable_rel;
  IF intentlog._last_seq(part.seq_rel) - cur.first_seq < dom.segment_rows
     AND cur.created_at > now() - dom.segment_age THEN
    RETURN false;
  END IF;
  -- Wait for a concurrent rotation rather than skip it: when this returns,
  -- the partition's current segment is committed either way.
  SELECT * INTO part FROM intentlog.partitions WHERE domain_id = d AND partition = p FOR UPDATE;
  IF part.durable_rel <> cur.rel THEN
    RETURN false;  -- another round has just done it
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', part.durable_rel) INTO nonempty;
  IF NOT nonempty THEN
    RETURN false;  -- an idle partition keeps its one empty segment
  END IF;
  seg := intentlog._create_segment(d, p);
  UPDATE intentlog.segments SET sealed_at = now() WHERE rel = part.durable_rel;
  IF dom.durability = 'durable' THEN
    UPDATE intentlog.partitions SET hot_rel = seg, durable_rel = seg WHERE domain_id = d AND partition = p;
    -- Backends with the old segment cached move to the new one at their next lock.
    PERFORM intentlog._invalidate(part.hot_rel);
  ELSE
    UPDATE intentlog.partitions SET durable_rel = seg WHERE domain_id = d AND partition = p;
    -- Staged appends whose commit flushes anyway write the segment directly.
    PERFORM intentlog._invalidate(part.durable_rel);
  END IF;
  RETURN true;
END $$;

-- Drops sealed segments that every consumer group has read past and whose
-- retention has expired. Whole tables, never row deletes.
CREATE OR REPLACE FUNCTION intentlog._retain(d int, p int)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  dom intentlog.domains%ROWTYPE;
  seg intentlog.segments%ROWTYPE;
  top bigint;
  floor_seq bigint;
  dropped int := 0;
BEGIN
  SELECT * INTO dom FROM intentlog.domains WHERE domain_id = d;
  FOR seg IN
    SELECT * FROM intentlog.segments s
     WHERE s.domain_id = d AND s.partition = p AND s.sealed_at IS NOT NULL AND s.sealed_at <= now() - dom.retention
     ORDER BY s.segment
  LOOP
    BEGIN
      -- Never wait for an application transaction still writing it.
      EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', seg.rel);
    EXCEPTION WHEN lock_not_available THEN
      CONTINUE;
    END;
    EXECUTE format('SELECT max(seq) FROM %s', seg.rel) INTO top;
    -- Every group that reads this domain must be past the segment: a group
    -- with no cursor on this partition has not started it.
    SELECT min(coalesce(intentlog._cursor_floor(c.watermark, c.pending), -1)) INTO floor_seq
      FROM (SELECT DISTINCT group_name FROM intentlog.cursors WHERE domain_id = d) g
      LEFT JOIN intentlog.cursors c ON c.group_name = g.group_name AND c.domain_id = d AND c.partition = p;
    IF top IS NOT NULL AND floor_seq IS NOT NULL AND floor_seq < top THEN
      EXIT;  -- later segments hold later seqs: nothing further can go either
    END IF;
    EXECUTE format('DROP TABLE %s', seg.rel);
    DELETE FROM intentlog.segments WHERE domain_id = d AND partition = p AND segment = seg.segment;
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END $$;

-- Whether a promotion from the cursor would move something: rows in the hot
-- table, or seqs that went straight to a segment for the promoter's cursor to
-- step over. With nothing to do a promotion round would only take a lock and
-- an xid.
CREATE OR REPLACE FUNCTION intentlog._promotable(hot regclass, cursor text, seq_rel regclass)
RETURNS boolean LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'intentlog_promotable';
COMMENT ON FUNCTION intentlog._promotable(regclass, text, regclass) IS
  'Internal: whether a promotion of the hot table from the cursor would move rows or step over seqs that went straight to a segment.';

-- Whether a partition's promotion is due and would move something. Due a
-- little early, so that the promote_after bound holds between rounds.
CREATE OR REPLACE FUNCTION intentlog._promotion_due(durability text, promoted_at timestamptz, promote_after interval,
                                         hot regclass, cursor text, seq_rel regclass)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN durability = 'staged' AND promoted_at + promote_after <= now() + interval '300 milliseconds'
              THEN intentlog._promotable(hot, cursor, seq_rel)
              ELSE false END
$$;

-- One partition's share of a maintenance round. The background worker runs
-- each partition in a transaction of its own, so that one partition's error
-- or lock wait neither undoes nor holds up the others' promotions.
CREATE OR REPLACE FUNCTION intentlog._maintain_partition(d int, p int, housekeeping boolean DEFAULT true,
                                               OUT promoted bigint, OUT rotated boolean, OUT dropped int,
                                               OUT lock_wait text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
BEGIN
  promoted := 0; rotated := false; dropped := 0;
  SELECT intentlog._promotion_due(dom.durability, x.promoted_at, dom.promote_after, x.hot_rel, x.promote_cursor,
                                  x.seq_rel)
         AS due INTO part
    FROM intentlog.partitions x JOIN intentlog.domains dom USING (domain_id)
   WHERE x.domain_id = d AND x.partition = p;
  IF NOT FOUND THEN
    RETURN;  -- its domain was dropped since the round listed it
  END IF;
  IF part.due THEN
    promoted := intentlog._promote(d, p);
  END IF;
  -- Rotation and retention take stronger locks (the segment they drop, the
  -- parent a new segment joins), which a DBA's LOCK TABLE or DDL may hold:
  -- under the worker's lock_timeout they give up until the next round, and
  -- the promotion above still commits.
  IF housekeeping THEN
    BEGIN
      rotated := intentlog._rotate(d, p);
      dropped := intentlog._retain(d, p);
    EXCEPTION WHEN lock_not_available THEN
      GET STACKED DIAGNOSTICS lock_wait = MESSAGE_TEXT;
    END;
  END IF;
END $$;
COMMENT ON FUNCTION intentlog._maintain_partition(int, int, boolean) IS
  'Internal: one partition''s maintenance: promotion when due, then (housekeeping) rotation and retention. The background worker calls it in a transaction per partition, with housekeeping about once a second. lock_wait: why rotation and retention were put off to the next round (a lock wait that ran into lock_timeout), else null.';

CREATE OR REPLACE FUNCTION intentlog.maintain()
RETURNS TABLE (promoted bigint, rotated int, dropped int) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  r record;
BEGIN
  promoted := 0; rotated := 0; dropped := 0;
  PERFORM intentlog._recover_after_crash();
  FOR part IN SELECT p.domain_id, p.partition FROM intentlog.partitions p ORDER BY p.domain_id, p.partition LOOP
    r := intentlog._maintain_partition(part.domain_id, part.partition);
    promoted := promoted + r.promoted;
    rotated := rotated + r.rotated::int;
    dropped := dropped + r.dropped;
  END LOOP;
  RETURN NEXT;
END $$;
COMMENT ON FUNCTION intentlog.maintain() IS
  'One maintenance round in the caller''s transaction: records crash gaps, promotes staged hot tables (at least every promote_after), rotates full or old segments and drops consumed, expired ones. The extension''s background worker does the same a partition per transaction; safe to call by hand.';

