-- Every privilege intentlog grants, in one place. Re-applied by every upgrade
-- (GRANT and REVOKE are idempotent), after the functions and views exist.
-- Roles: intentlog_writer (append), intentlog_consumer (the worker: fetch,
-- cursors, leases, delivery bookkeeping), intentlog_admin (domains, schemas,
-- dead letters). Tables and sequences of the domains themselves are granted
-- where they are created (intentlog._create_segment, intentlog.create_domain).

GRANT USAGE ON SCHEMA intentlog TO intentlog_writer, intentlog_consumer, intentlog_admin;
GRANT USAGE ON SCHEMA intentlog_data TO intentlog_writer, intentlog_consumer, intentlog_admin;

-- Catalog tables and views: readable by admins and consumers.
GRANT SELECT ON intentlog.domains, intentlog.partitions, intentlog.segments, intentlog.cursors, intentlog.gaps,
                intentlog.crash_sentinel
  TO intentlog_admin, intentlog_consumer;
-- The append path reads the domain settings and append targets (cached per backend).
GRANT SELECT ON intentlog.domains, intentlog.partitions TO intentlog_writer;
GRANT SELECT ON intentlog.lag, intentlog.storage TO intentlog_admin, intentlog_consumer;
GRANT SELECT ON intentlog.lease_members, intentlog.lease_holds, intentlog.leases, intentlog.gap_notices TO intentlog_admin, intentlog_consumer;
-- Descriptor sets are not secret: the append path reads them to validate, the
-- worker ships them to consumers.
GRANT SELECT ON intentlog.schemas TO intentlog_admin, intentlog_consumer, intentlog_writer;
GRANT SELECT ON intentlog.retries, intentlog.parked, intentlog.dead_letters TO intentlog_admin, intentlog_consumer;
GRANT SELECT ON intentlog.retries_due, intentlog.dead_letters_per_domain, intentlog.delivery_backlog,
                intentlog.blocked_keys
  TO intentlog_admin, intentlog_consumer;

-- Domains (sql/functions/20_domains.sql)
REVOKE ALL ON FUNCTION intentlog.create_domain(text, int, text, interval, int, interval, bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.drop_domain(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._create_segment(int, int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._invalidate(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.create_domain(text, int, text, interval, int, interval, bigint, text, text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.drop_domain(text) TO intentlog_admin;

-- Append and read path (sql/functions/30_append_read.sql)
REVOKE ALL ON FUNCTION intentlog.intent_append(text, text, text, bytea, bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent_append_batch(text, text[], text[], bytea[], bigint[], jsonb[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.fetch(text, text, int, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.fetch_many(text, text, int[], int[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.fetch_wait(text, text, int[], int[], text[], bigint[], int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.commit_cursor(text, text, int, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.get_cursor(text, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.latest_cursor(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.consume(text, text, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.intent_append(text, text, text, bytea, bigint, jsonb) TO intentlog_writer;
GRANT EXECUTE ON FUNCTION intentlog.intent_append_batch(text, text[], text[], bytea[], bigint[], jsonb[]) TO intentlog_writer;
GRANT EXECUTE ON FUNCTION intentlog.fetch(text, text, int, int, text) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.fetch_many(text, text, int[], int[], text[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.fetch_wait(text, text, int[], int[], text[], bigint[], int) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.commit_cursor(text, text, int, text) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.get_cursor(text, text, int) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.latest_cursor(text, int) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.consume(text, text, int, int) TO intentlog_consumer;
REVOKE ALL ON FUNCTION intentlog.wait_for_intents(bigint, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.wait_for_intents(bigint, int) TO intentlog_consumer;

-- Maintenance (sql/functions/40_maintenance.sql)
REVOKE ALL ON FUNCTION intentlog._promote_rows(regclass, regclass, text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._promotable(regclass, text, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._promotion_due(text, timestamptz, interval, regclass, text, regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._maintain_partition(int, int, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._recover_after_crash() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.maintain() TO intentlog_admin;
-- Writers and consumers may be the first backend after a crash.
GRANT EXECUTE ON FUNCTION intentlog._recover_after_crash() TO intentlog_writer, intentlog_consumer;

-- Worker coordination (sql/functions/50_worker.sql)
REVOKE ALL ON FUNCTION intentlog._lease_lock(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._lease_lock(text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_acquire(text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_acquire_all(text, text, text[], interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_renew(text, text, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.lease_release(text, text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.unreported_gaps(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.unreported_gaps_all(text, text[], int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.gap_reported(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.lease_acquire(text, text, text, interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.lease_acquire_all(text, text, text[], interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.lease_renew(text, text, text, interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.lease_release(text, text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.unreported_gaps(text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.unreported_gaps_all(text, text[], int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.gap_reported(text, bigint) TO intentlog_consumer;

-- Schema registry (sql/functions/60_schemas.sql)
REVOKE ALL ON FUNCTION intentlog._check_schema(text, int, bytea, text, bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.register_schema(text, bytea, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.set_validate_payloads(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.schema_descriptor(text, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.decode(text, int, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.encode(text, jsonb, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent_append_json(text, text, text, jsonb, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.register_schema(text, bytea, text, text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.set_validate_payloads(text, boolean) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.schema_descriptor(text, int) TO intentlog_consumer, intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.decode(text, int, bytea) TO intentlog_consumer, intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.encode(text, jsonb, int) TO intentlog_writer, intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.intent_append_json(text, text, text, jsonb, bigint, jsonb) TO intentlog_writer;

-- Delivery (sql/functions/70_delivery.sql)
REVOKE ALL ON FUNCTION intentlog._backoff(interval, interval, int, float8) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._check_group(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._delivery_domain(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._delivery_lock(text, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._key_held(text, int, int, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._intent(int, int, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._intents(int, int, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._hold(text, intentlog.domains, int, bigint[], text[], text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._redrive(int, bigint, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.park(text, text, int, bigint[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.record_failure(text, text, int, bigint, text, int, bigint[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.due_retries(text, text, int[], int, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.retry_delivered(text, text, int, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.held_keys(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.release_claims(text, text, int[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.redrive(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.redrive(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.discard(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.discard(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent(intentlog.retries) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent(intentlog.parked) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.intent(intentlog.dead_letters) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.intent(intentlog.retries) TO intentlog_admin, intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.intent(intentlog.parked) TO intentlog_admin, intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.intent(intentlog.dead_letters) TO intentlog_admin, intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.park(text, text, int, bigint[], text[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.record_failure(text, text, int, bigint, text, int, bigint[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.due_retries(text, text, int[], int, interval) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.retry_delivered(text, text, int, bigint) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.held_keys(text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.release_claims(text, text, int[]) TO intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.redrive(bigint) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.redrive(text, text, text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.discard(bigint) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.discard(text, text, text) TO intentlog_admin;

-- Observability (sql/functions/80_observability.sql): for DBAs, the worker
-- (its --metrics) and SQL exporters, which connect as consumers or admins.
REVOKE ALL ON FUNCTION intentlog.hot_keys(text, interval, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.metrics() FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._append_counters() FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog._append_counters_reset(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.hot_keys(text, interval, int) TO intentlog_admin, intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog.metrics() TO intentlog_admin, intentlog_consumer;
GRANT EXECUTE ON FUNCTION intentlog._append_counters() TO intentlog_admin, intentlog_consumer;

-- Consumer credentials (sql/functions/90_consumers.sql): administered by
-- intentlog_admin; the table (with the hashes) is read by no one directly.
REVOKE ALL ON intentlog.consumers FROM PUBLIC;
GRANT SELECT ON intentlog.consumer_grants TO intentlog_admin;
REVOKE ALL ON FUNCTION intentlog._check_patterns(text, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.create_consumer(text, text[], text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.revoke_consumer(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION intentlog.consumer_credentials() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION intentlog.create_consumer(text, text[], text[]) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.revoke_consumer(text) TO intentlog_admin;
GRANT EXECUTE ON FUNCTION intentlog.consumer_credentials() TO intentlog_consumer;
