#!/usr/bin/env bash
# Independent decoders agree with intentlog: payloads stored through
# intent_append_json (validated domain, schema version stamped) are decoded
#  - by Python's protobuf runtime (Debian's python3-protobuf) from the
#    descriptor set intentlog.schema_descriptor() hands out, compared with
#    intentlog.decode() field for field;
#  - by `protoc --decode` with the same descriptor set;
# and a payload serialized by Python is accepted by the validated append and
# decoded back by intentlog to the same JSON.
#
# Expects PGHOST/PGPORT/PGUSER of a running cluster whose PostgreSQL has the
# intentlog extension installed; works in its own database, dropped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
: "${PGHOST:?PGHOST must point at a running cluster (see scripts/pg.sh env)}"
DB=il_schema_decoders_$$
SCRATCH=$(mktemp -d /tmp/intentlog-schema-decoders.XXXXXX)
cleanup() {
  local rc=$?
  psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PY=/usr/bin/python3
$PY -c "import google.protobuf" 2>/dev/null || fail "python3-protobuf is not installed (scripts/install-deps.sh)"

psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

# Two versions, so that decoding by the stamped version matters.
q -v v1="$("$HERE/test/fixtures/schemas/set.sh" v1)" -v v2="$("$HERE/test/fixtures/schemas/set.sh" v2_add_note)" \
  >/dev/null <<'SQL'
CREATE EXTENSION intentlog;
SELECT intentlog.create_domain('dec', partitions => 2);
SELECT intentlog.register_schema('dec', decode(:'v1', 'base64'), 'shop.v1.Order');
SELECT intentlog.set_validate_payloads('dec');
SELECT intentlog.intent_append_json('dec', 'o1', 'create',
  '{"id": "o1", "amountCents": 1250, "tags": ["gift", "rush"], "status": "STATUS_OPEN",
    "item": {"sku": "sku-1", "qty": 3}, "placedAt": "2024-01-02T03:04:05.500Z"}');
SELECT intentlog.intent_append_json('dec', 'o2', 'create', '{"id": "ö2 ✓", "amountCents": "-9007199254740993"}');
SELECT intentlog.intent_append_json('dec', 'o3', 'create', '{}');
SELECT intentlog.register_schema('dec', decode(:'v2', 'base64'), 'shop.v1.Order');
SELECT intentlog.intent_append_json('dec', 'o1', 'update', '{"id": "o1", "note": "leave at door", "status": 2}');
SQL

# What a consumer fetches: every version's descriptor set.
for v in 1 2; do
  q -c "SELECT encode(descriptor_set, 'base64') FROM intentlog.schema_descriptor('dec', $v)" | base64 -d >"$SCRATCH/v$v.pb"
done
[ "$(q -c "SELECT message FROM intentlog.schema_descriptor('dec')")" = "shop.v1.Order" ] || fail "schema_descriptor message"
q -c "SELECT seq, schema_version, encode(payload, 'base64'), intentlog.decode('dec', schema_version, payload)
        FROM intentlog_data.dec ORDER BY appended_at, seq" -F $'\t' >"$SCRATCH/rows.tsv"
[ "$(wc -l <"$SCRATCH/rows.tsv")" -eq 4 ] || fail "expected 4 stored intents"

# Python's runtime decodes each stored payload with its stamped version and
# agrees with intentlog.decode(); it also writes one payload of its own.
$PY - "$SCRATCH" >"$SCRATCH/py_payload.b64" <<'PY' || fail "Python's protobuf runtime disagrees with intentlog.decode()"
import base64, json, sys
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

scratch = sys.argv[1]

def message_class(version):
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(f"{scratch}/v{version}.pb", "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:  # protoc --include_imports writes imports first
        pool.Add(f)
    desc = pool.FindMessageTypeByName("shop.v1.Order")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)

classes = {v: message_class(v) for v in (1, 2)}
for line in open(f"{scratch}/rows.tsv", encoding="utf-8"):
    seq, version, payload, decoded = line.rstrip("\n").split("\t")
    msg = classes[int(version)]()
    msg.ParseFromString(base64.b64decode(payload))
    mine = json_format.MessageToDict(msg)
    theirs = json.loads(decoded)
    if mine != theirs:
        sys.exit(f"seq {seq} (version {version}): python {mine} != intentlog {theirs}")
    print(f"seq {seq} v{version}: {mine}", file=sys.stderr)

out = json_format.ParseDict({"id": "py-1", "amountCents": "42", "tags": ["from", "python"],
                             "item": {"sku": "p", "qty": 1}, "note": "hi",
                             "placedAt": "2030-12-31T23:59:59Z"}, classes[2]())
print(base64.b64encode(out.SerializeToString()).decode())
PY

# protoc decodes with the descriptor set alone.
sed -n 1p "$SCRATCH/rows.tsv" | cut -f3 | base64 -d >"$SCRATCH/p1.bin"
protoc --descriptor_set_in="$SCRATCH/v1.pb" --decode=shop.v1.Order <"$SCRATCH/p1.bin" >"$SCRATCH/p1.txt" \
  || fail "protoc --decode failed"
for want in 'id: "o1"' 'amount_cents: 1250' 'tags: "rush"' 'status: STATUS_OPEN' 'sku: "sku-1"' 'seconds: 1704164645' \
            'nanos: 500000000'; do
  grep -qF "$want" "$SCRATCH/p1.txt" || { cat "$SCRATCH/p1.txt" >&2; fail "protoc --decode output lacks $want"; }
done

# Python's bytes pass the validated append and decode to the same JSON.
got=$(q -v p="$(cat "$SCRATCH/py_payload.b64")" <<'SQL'
SELECT intentlog.intent_append('dec', 'py-1', 'create', decode(:'p', 'base64')) IS NOT NULL \g /dev/null
SELECT schema_version || ' ' || intentlog.decode('dec', schema_version, payload)::text FROM intentlog_data.dec WHERE key = 'py-1';
SQL
)
want='2 {"id": "py-1", "item": {"qty": 1, "sku": "p"}, "note": "hi", "tags": ["from", "python"], "placedAt": "2030-12-31T23:59:59Z", "amountCents": "42"}'
[ "$got" = "$want" ] || fail "python payload: got '$got', want '$want'"
echo "ok: python3-protobuf and protoc --decode agree with intentlog.decode() on $(wc -l <"$SCRATCH/rows.tsv") stored payloads"
