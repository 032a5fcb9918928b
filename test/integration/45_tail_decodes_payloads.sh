#!/usr/bin/env bash
# A consumer decodes every schema version it meets: intentlog-tail asks the
# worker for the descriptor set of each (domain, schema_version) in a
# SchemaRequest and prints payloads as JSON; events appended under two schema
# versions, and events without a payload or schema, all come through in order.
source "$(dirname "$0")/lib/common.sh"
FIX="$(cd "$(dirname "$0")/../fixtures/schemas" && pwd)"

make_db
q -c "SELECT intentlog.create_domain('shop', partitions => 2)" >/dev/null
q -c "SELECT intentlog.intent_append('shop', 'o0', 'note')" >/dev/null   # before any schema
q -c "SELECT intentlog.register_schema('shop', decode('$("$FIX/set.sh" v1)', 'base64'), 'shop.v1.Order')" >/dev/null
q -c "SELECT intentlog.intent_append_json('shop', 'o1', 'create', '{\"id\": \"o1\", \"amountCents\": \"1250\", \"status\": \"STATUS_OPEN\"}')" >/dev/null
q -c "SELECT intentlog.register_schema('shop', decode('$("$FIX/set.sh" v2_add_note)', 'base64'), 'shop.v1.Order')" >/dev/null
q -c "SELECT intentlog.intent_append_json('shop', 'o1', 'update', '{\"id\": \"o1\", \"note\": \"gift\"}')" >/dev/null
q -c "SELECT intentlog.intent_append_json('shop', 'o2', 'create', '{\"id\": \"o2\", \"item\": {\"sku\": \"x\", \"qty\": 2}}')" >/dev/null
expected_intents shop "$SCRATCH/expected"

start_worker w1
timeout 30 "$TAIL_BIN" --connect "$(sock w1)" --group g --domain shop --from earliest --limit 4 \
  >"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" || fail "the consumer did not get 4 events: $(tail -2 "$SCRATCH/c.err")"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/c.jsonl" || fail "events lost or out of order"

$PY - "$SCRATCH/c.jsonl" <<'PYEOF' || fail "payloads were not decoded as expected"
import json, sys
events = {(e["key"], e["op"]): e for e in map(json.loads, open(sys.argv[1]))}
want = {
    ("o0", "note"): (0, None),
    ("o1", "create"): (1, {"id": "o1", "amountCents": "1250", "status": "STATUS_OPEN"}),
    ("o1", "update"): (2, {"id": "o1", "note": "gift"}),
    ("o2", "create"): (2, {"id": "o2", "item": {"sku": "x", "qty": 2}}),
}
for k, (version, payload) in want.items():
    e = events[k]
    assert e["schema_version"] == version, (k, e)
    assert e.get("payload_json") == payload, (k, e)
print("decoded:", {f"{k[0]}/{k[1]}": events[k].get("payload_json") for k in want})
PYEOF
requests=$(grep -c 'schema_request_failed' "$SCRATCH/worker-w1.log" || true)
[ "$requests" = 0 ] || fail "the worker failed $requests schema requests"
echo "PASS: 4 events over two schema versions decoded by intentlog-tail through SchemaRequest"
