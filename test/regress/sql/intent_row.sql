-- The intent row and the consumer group name, each named once: the type
-- intentlog.intent and the domain intentlog.group_name, and everything that
-- must agree with them.
\i test/regress/fixtures/fresh.sql
\set SHOW_CONTEXT never

-- The fields of intentlog.intent, in order.
CREATE TEMP VIEW intent_fields AS
SELECT a.attnum AS n, a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a
 WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'intentlog.intent'::regtype)
   AND a.attnum > 0 AND NOT a.attisdropped;
SELECT n, name, type FROM intent_fields ORDER BY n;

-- The result columns of a function returning a TABLE, in order.
CREATE FUNCTION pg_temp.result_columns(f regprocedure) RETURNS TABLE (n int, name text, type text)
LANGUAGE sql AS $$
  SELECT row_number() OVER (ORDER BY a.i)::int, p.proargnames[a.i], format_type(p.proallargtypes[a.i], NULL)
    FROM pg_proc p, generate_subscripts(p.proallargtypes, 1) AS a(i)
   WHERE p.oid = f AND p.proargmodes[a.i] IN ('t', 'o')
$$;

-- fetch returns the intent first, fetch_many, fetch_wait and due_retries after the ask
-- and the partition; the worker's decoder (src/worker/store.h, read_intent)
-- relies on all four.
SELECT f, offs, (SELECT count(*) FROM intent_fields) AS fields,
       (SELECT count(*) FROM intent_fields i JOIN pg_temp.result_columns(f) c
            ON c.n = i.n + offs AND c.name = i.name AND c.type = i.type) AS matching
  FROM (VALUES ('intentlog.fetch(text, text, int, int, text)'::regprocedure, 0),
               ('intentlog.fetch_many(text, text, int[], int[], text[])'::regprocedure, 1),
               ('intentlog.fetch_wait(text, text, int[], int[], text[], bigint[], int)'::regprocedure, 1),
               ('intentlog.due_retries(text, text, int[], int, interval)'::regprocedure, 1)) v(f, offs);
SELECT p.oid::regprocedure, p.prorettype::regtype, p.proretset
  FROM pg_proc p
 WHERE p.prorettype = 'intentlog.intent'::regtype ORDER BY p.oid::regprocedure::text;

-- The three delivery tables keep every field of the intent as a column of
-- the same name and type.
SELECT t, (SELECT count(*) FROM intent_fields i JOIN pg_attribute a
               ON a.attrelid = t AND a.attname = i.name AND format_type(a.atttypid, a.atttypmod) = i.type
                  AND NOT a.attisdropped) AS matching
  FROM unnest('{intentlog.retries, intentlog.parked, intentlog.dead_letters}'::regclass[]) t;

-- Every group_name column has the domain's type, and no table repeats the rule.
SELECT c.oid::regclass AS tab, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'intentlog'::regnamespace AND c.relkind = 'r' AND a.attname = 'group_name'
 ORDER BY c.relname;
SELECT count(*) AS group_checks_on_tables
  FROM pg_constraint
 WHERE connamespace = 'intentlog'::regnamespace AND contype = 'c' AND conrelid <> 0
   AND pg_get_constraintdef(oid) LIKE '%group_name%';

-- The rule: what the domain takes and what it refuses; _check_group says why.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(detail, ''), '');
END $$;
SELECT regexp_replace(g, 'x{10,}', 'x...x') AS g, length(g) AS len,
       pg_temp.err(format('SELECT %L::intentlog.group_name', g)) AS domain_cast,
       regexp_replace(pg_temp.err(format('SELECT intentlog._check_group(%L)', g)), 'x{10,}', 'x...x') AS check_group
  FROM (VALUES ('billing'), ('a.b:c-d_9'), (repeat('x', 128)), (repeat('x', 129)), (''), ('a b'), ('a@b'), ('a/b')) v(g);
SELECT pg_temp.err('SELECT intentlog._check_group(NULL)') AS null_passes;
-- A table refuses a bad name too (written by hand, not through a function).
SELECT intentlog.create_domain('ir', partitions => 1) IS NOT NULL AS created;
SELECT pg_temp.err($$INSERT INTO intentlog.cursors (group_name, domain_id, partition, watermark)
                     SELECT 'bad group', domain_id, 0, 0 FROM intentlog.domains WHERE name = 'ir'$$);

-- The intent travels whole: fetched, failed, retried, dead, redriven, consumed.
UPDATE intentlog.domains SET max_attempts = 2, base_backoff = '1 microsecond', max_backoff = '1 microsecond'
 WHERE name = 'ir';
SELECT seq FROM intentlog.intent_append('ir', 'k', 'set', '\x00ff'::bytea, 7, '{"h": 1}');
CREATE TEMP TABLE fetched AS
SELECT (f.seq, f.key, f.op, f.payload, f.schema_version, f.expected_version, f.headers,
        f.appended_at)::intentlog.intent AS i
  FROM intentlog.fetch('g', 'ir', 0) f;
SELECT outcome FROM intentlog.record_failure('g', 'ir', 0, 1, 'no');
SELECT intentlog.intent(r) = (SELECT i FROM fetched) AS retry_holds_it FROM intentlog.retries r;
SELECT pg_sleep(0.01);
SELECT (d.seq, d.key, d.op, d.payload, d.schema_version, d.expected_version, d.headers, d.appended_at)::intentlog.intent
       = (SELECT i FROM fetched) AS due_returns_it, d.attempt, d.source
  FROM intentlog.due_retries('g', 'ir', ARRAY[0]) d;
SELECT outcome FROM intentlog.record_failure('g', 'ir', 0, 1, 'no again', attempt => 2);
SELECT intentlog.intent(d) = (SELECT i FROM fetched) AS dead_letter_holds_it, d.attempts FROM intentlog.dead_letters d;
SELECT intentlog.redrive('ir');
SELECT intentlog.intent(p) = (SELECT i FROM fetched) AS parked_holds_it FROM intentlog.parked p;
SELECT (intentlog._intent(domain_id, 0, 1)) = (SELECT i FROM fetched) AS stored_as_fetched
  FROM intentlog.domains WHERE name = 'ir';
SELECT pg_temp.err('SELECT intentlog._intent(domain_id, 0, 99) FROM intentlog.domains WHERE name = ''ir''');
SELECT c = (SELECT i FROM fetched) AS consume_returns_it FROM intentlog.consume('other', 'ir', 0) c;
