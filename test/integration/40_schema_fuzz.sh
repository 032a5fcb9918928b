#!/usr/bin/env bash
# Fuzz the schema registry inside the server: mutated and random descriptor
# sets (register_schema's checker, every mode, as previous and as next
# version), random and mutated payload bytes (validated intent_append,
# decode), random JSON (encode, intent_append_json), and codecs built from
# mutated-but-parseable schemas. Everything must end in a value or a clean
# SQL error: one crashed backend drops this session and fails the test.
#
# Expects PGHOST/PGPORT/PGUSER of a running cluster whose PostgreSQL has the
# intentlog extension installed; works in its own database, dropped on exit.
# Deterministic (setseed); under a minute.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
: "${PGHOST:?PGHOST must point at a running cluster (see scripts/pg.sh env)}"
DB=il_schema_fuzz_$$
ROUNDS=${FUZZ_ROUNDS:-5000}
MUTANTS=$(mktemp /tmp/intentlog-schema-mutants.XXXXXX)
cleanup() {
  local rc=$?
  rm -f "$MUTANTS"
  psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

V1=$("$HERE/test/fixtures/schemas/set.sh" v1)
P2=$("$HERE/test/fixtures/schemas/set.sh" p2_add_required)
# Structure-aware mutants (parse as a FileDescriptorSet, break its rules).
echo "$V1" | /usr/bin/python3 "$HERE/test/fixtures/schemas/mutate_sets.py" "$ROUNDS" 7 >"$MUTANTS"
psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

q -v v1="$V1" -v p2="$P2" >/dev/null <<SQL
CREATE TABLE mutants (n serial, set_b64 text);
\\copy mutants (set_b64) FROM '$MUTANTS'
SQL
q -v v1="$V1" -v p2="$P2" >/dev/null <<'SQL'
CREATE EXTENSION intentlog;
CREATE TABLE fuzz_input AS SELECT decode(:'v1', 'base64') AS v1, decode(:'p2', 'base64') AS p2;
SELECT intentlog.create_domain('fz', partitions => 2);
SELECT intentlog.register_schema('fz', v1, 'shop.v1.Order') FROM fuzz_input;
SELECT intentlog.set_validate_payloads('fz');
SELECT intentlog.create_domain('fz_mut', partitions => 1);
SELECT intentlog.register_schema('fz_mut', v1, 'shop.v1.Order') FROM fuzz_input;

-- n random edits: byte set, bit flip, truncation, a chunk of itself inserted.
CREATE FUNCTION mutate(b bytea, n int) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
  r bytea := b;
  pos int;
BEGIN
  FOR k IN 1..n LOOP
    IF length(r) = 0 THEN RETURN r; END IF;
    pos := floor(random() * length(r))::int;
    CASE floor(random() * 4)::int
      WHEN 0 THEN r := set_byte(r, pos, floor(random() * 256)::int);
      WHEN 1 THEN r := set_byte(r, pos, get_byte(r, pos) # (1 << floor(random() * 8)::int));
      WHEN 2 THEN r := substr(r, 1, pos);
      ELSE r := overlay(r PLACING substr(r, 1 + floor(random() * length(r))::int, 1 + floor(random() * 16)::int)
                        FROM pos + 1 FOR 0);
    END CASE;
  END LOOP;
  RETURN r;
END $$;

CREATE FUNCTION random_bytes(n int) RETURNS bytea LANGUAGE sql AS $$
  SELECT coalesce(decode(string_agg(lpad(to_hex(floor(random() * 256)::int), 2, '0'), ''), 'hex'), '')
    FROM generate_series(1, n)
$$;

-- JSON values of every shape, right and wrong for the schema's fields.
CREATE TABLE json_values AS SELECT v::jsonb AS v FROM unnest(ARRAY[
  '1', '-1', '1.5', '1e400', '99999999999999999999999', '"x"', '""', 'true', 'null', '[]', '{}', '[1, "a", null]',
  '"STATUS_OPEN"', '"STATUS_NOPE"', '7', '"2024-01-02T03:04:05Z"', '"2024-13-45T99:00:00Z"', '"-0001-01-01T00:00:00Z"',
  '{"sku": "a", "qty": 3}', '{"sku": 1, "qty": "3"}', '{"qty": {"deep": [1, {"x": 2}]}}', '"\u0001\ud83d\ude00"',
  '{"seconds": 1, "nanos": 2}', '["a", ["b"]]', '{"@type": "x"}'
]) AS v
UNION ALL SELECT (repeat('{"item": ', 200) || '1' || repeat('}', 200))::jsonb
UNION ALL SELECT (repeat('[', 500) || repeat(']', 500))::jsonb;
CREATE TABLE json_keys AS SELECT k FROM unnest(ARRAY[
  'id', 'amountCents', 'amount_cents', 'tags', 'status', 'item', 'placedAt', 'placed_at', 'note', 'nope', '', '@type'
]) AS k;

CREATE FUNCTION random_json() RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(jsonb_object_agg(k, v), '{}')
    FROM (SELECT (SELECT k FROM json_keys ORDER BY random() + g * 0 LIMIT 1) AS k,
                 (SELECT v FROM json_values ORDER BY random() + g * 0 LIMIT 1) AS v
            FROM generate_series(1, 1 + floor(random() * 4)::int) AS g) AS kv
$$;
SQL

start=$(date +%s)
out=$(q -v rounds="$ROUNDS" <<'SQL'
SELECT setseed(0.4242) \g /dev/null
SET client_min_messages = warning;
CREATE TABLE tally (what text, outcome text);
-- psql does not substitute inside the DO body: pass the round count by a GUC.
SET fuzz.rounds = :'rounds';
DO $$
DECLARE
  v1 bytea := (SELECT v1 FROM fuzz_input);
  p2 bytea := (SELECT p2 FROM fuzz_input);
  rounds int := current_setting('fuzz.rounds')::int;
  modes text[] := ARRAY['backward', 'forward', 'full', 'none'];
  good bytea;
  m bytea;
  p bytea;
  j jsonb;
  registered int := 0;
BEGIN
  -- Descriptor sets: mutated v1 (or random bytes) as the next and as the
  -- previous version, in every mode; unrelated schemas against each other.
  FOR i IN 1..rounds LOOP
    m := CASE WHEN i % 2 = 0 THEN (SELECT decode(set_b64, 'base64') FROM mutants WHERE n = i)
              WHEN i % 10 = 1 THEN random_bytes(floor(random() * 200)::int)
              ELSE mutate(CASE WHEN i % 7 = 0 THEN p2 ELSE v1 END, 1 + i % 6) END;
    BEGIN
      PERFORM intentlog._check_schema('fz', 1, v1, 'shop.v1.Order', m, 'shop.v1.Order', modes[1 + i % 4]);
      INSERT INTO tally VALUES ('set as next', 'accepted');
      -- A parseable mutant becomes a version of fz_mut (mode none), so that
      -- codecs built from it are fuzzed below too.
      IF registered < 40 THEN
        PERFORM intentlog.register_schema('fz_mut', m, 'shop.v1.Order', 'none');
        registered := registered + 1;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO tally VALUES ('set as next', 'refused ' || SQLSTATE);
    END;
    BEGIN
      PERFORM intentlog._check_schema('fz', 1, m, 'shop.v1.Order', v1, 'shop.v1.Order', modes[1 + i % 3]);
      INSERT INTO tally VALUES ('set as previous', 'accepted');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO tally VALUES ('set as previous', 'refused ' || SQLSTATE);
    END;
  END LOOP;

  -- (A no-op mutant registers as the latest version again: count versions.)
  registered := (SELECT count(*) - 1 FROM intentlog.schemas s JOIN intentlog.domains d USING (domain_id)
                  WHERE d.name = 'fz_mut');

  -- Payloads: random bytes and mutations of a valid one, appended to the
  -- validated domain and decoded with every registered version of fz_mut.
  good := intentlog.encode('fz', '{"id": "o1", "amountCents": 5, "tags": ["a", "b"], "status": "STATUS_OPEN",
                                    "item": {"sku": "s", "qty": 2}, "placedAt": "2024-01-02T03:04:05Z"}');
  FOR i IN 1..rounds LOOP
    p := CASE WHEN i % 3 = 0 THEN random_bytes(floor(random() * 64)::int) ELSE mutate(good, 1 + i % 4) END;
    BEGIN
      PERFORM intentlog.intent_append('fz', 'k' || (i % 17), 'fuzz', p);
      INSERT INTO tally VALUES ('append', 'accepted');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO tally VALUES ('append', 'refused ' || SQLSTATE);
    END;
    BEGIN
      PERFORM intentlog.decode('fz_mut', 1 + i % (registered + 1), p);
      INSERT INTO tally VALUES ('decode', 'accepted');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO tally VALUES ('decode', 'refused ' || SQLSTATE);
    END;
  END LOOP;

  -- JSON: random objects through the current schema and the mutants.
  FOR i IN 1..rounds LOOP
    j := random_json();
    BEGIN
      PERFORM intentlog.intent_append_json('fz', 'j' || (i % 13), 'fuzz', j);
      INSERT INTO tally VALUES ('append_json', 'accepted');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO tally VALUES ('append_json', 'refused ' || SQLSTATE);
    END;
    BEGIN
      PERFORM intentlog.decode('fz_mut', 1 + i % (registered + 1),
                               intentlog.encode('fz_mut', j, 1 + (i + 1) % (registered + 1)));
      INSERT INTO tally VALUES ('encode+decode', 'accepted');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO tally VALUES ('encode+decode', 'refused ' || SQLSTATE);
    END;
  END LOOP;
END $$;
SELECT what || ' ' || outcome || ': ' || count(*) FROM tally GROUP BY what, outcome ORDER BY what, outcome;
-- Every stored payload of the validated domain decodes, except that jsonb
-- cannot hold a string with a NUL character (22P05).
CREATE FUNCTION decodes(v int, p bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM intentlog.decode('fz', v, p);
  RETURN 'ok';
EXCEPTION WHEN untranslatable_character THEN
  RETURN 'ok';
WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;
SELECT 'stored payloads that do not decode: ' || count(*) FILTER (WHERE decodes(schema_version, payload) <> 'ok')
  FROM intentlog_data.fz;
SQL
) || fail "the fuzz session died (server crash?)"
echo "$out"
echo "elapsed: $(( $(date +%s) - start )) s"

# Internal errors (XX000) mean a failure mode nobody named: not acceptable.
echo "$out" | grep -q "refused XX000" && fail "internal errors during fuzzing"
echo "$out" | grep -q "^set as next accepted" || fail "no mutated descriptor set was accepted: the fuzzer is not reaching the checker"
echo "$out" | grep -q "^append accepted" || fail "no payload was accepted"
echo "$out" | grep -q "^stored payloads that do not decode: 0$" || fail "a stored payload does not decode"
q -c "SELECT 1" >/dev/null || fail "server is gone"
echo "ok"
