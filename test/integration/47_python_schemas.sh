#!/usr/bin/env bash
# Event.decode() across two schema versions: payloads appended (validated,
# version-stamped) under v1 and under v2 (adds `note`) are decoded by the
# Python consumer through the descriptor sets it fetched with SchemaRequest,
# one per version, and equal intentlog.decode() of the same payload field
# for field; the v2 field exists only in v2 payloads.
source "$(dirname "$0")/lib/common.sh"
REPO=$(cd "$LIB_DIR/../../.." && pwd)
make_db
q -v v1="$("$REPO/test/fixtures/schemas/set.sh" v1)" -v v2="$("$REPO/test/fixtures/schemas/set.sh" v2_add_note)" >/dev/null <<'SQL'
SELECT intentlog.create_domain('shop', partitions => 2);
SELECT intentlog.register_schema('shop', decode(:'v1', 'base64'), 'shop.v1.Order');
SELECT intentlog.set_validate_payloads('shop');
SELECT intentlog.intent_append_json('shop', 'o1', 'create',
  '{"id": "o1", "amountCents": 1250, "tags": ["gift"], "status": "STATUS_OPEN", "item": {"sku": "s-1", "qty": 3}}');
SELECT intentlog.intent_append_json('shop', 'o2', 'create', '{"id": "ö2", "amountCents": "-9007199254740993"}');
SELECT intentlog.register_schema('shop', decode(:'v2', 'base64'), 'shop.v1.Order');
SELECT intentlog.intent_append_json('shop', 'o1', 'update', '{"id": "o1", "note": "leave at door", "status": 2}');
SELECT intentlog.intent_append_json('shop', 'o3', 'create', '{}');
SQL
q -c "SELECT partition, seq, schema_version, intentlog.decode('shop', schema_version, payload)
      FROM intentlog_data.shop ORDER BY partition, seq" -F '|' >"$SCRATCH/sql"
start_worker w1
timeout 20 $PY - "$(sock w1)" "$SCRATCH/sql" "$REPO/clients/python" <<'EOF_PY' || fail "decoding across schema versions failed"
import json, sys
sys.path.insert(0, sys.argv[3])
import intentlog
endpoint, sql = sys.argv[1], sys.argv[2]
want = {}
for line in open(sql):
    p, s, v, j = line.rstrip("\n").split("|", 3)
    want[(int(p), int(s))] = (int(v), json.loads(j))
requests = []
got = {}
with intentlog.Consumer(endpoint, "decoder", ["shop"]) as c:
    real_ask = c._ask_schema
    c._ask_schema = lambda key: (requests.append(key), real_ask(key))[1]
    while len(got) < len(want):
        e = c.poll(10)
        assert e is not None, "only %d of %d events" % (len(got), len(want))
        msg = e.decode()
        assert type(msg).DESCRIPTOR.full_name == "shop.v1.Order"
        d = e.to_dict()["payload"]
        v, expected = want[(e.partition, e.seq)]
        assert e.schema_version == v, (e, v)
        assert d == expected, "%r: python %r != intentlog %r" % (e, d, expected)
        has_note = any(f.name == "note" for f in type(msg).DESCRIPTOR.fields)
        assert has_note == (v == 2), "%r: schema %d has note: %s" % (e, v, has_note)
        got[(e.partition, e.seq)] = d
        c.ack(e)
    assert sorted(requests) == [("shop", 1), ("shop", 2)], requests  # one per version
    asked = len(requests)
    assert c.schema("shop", 1) is not c.schema("shop", 2)
    try:
        c.schema("shop", 9)
    except intentlog.SchemaError as ex:
        print("no version 9:", ex)
    else:
        sys.exit("a schema version that does not exist was decoded")
print("decoded %d events of versions %s with %d SchemaRequests" % (len(got), sorted({v for v, _ in want.values()}), asked))
EOF_PY
echo "PASS: payloads of schema versions 1 and 2 decoded by the Python client equal intentlog.decode()"
