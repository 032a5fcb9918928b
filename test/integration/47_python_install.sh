#!/usr/bin/env bash
# The Python client as a user gets it: the checked-in generated code matches
# proto/ (regenerated with Debian's protoc and compared), `pip install
# clients/python` works offline into a venv (build and runtime dependencies
# from Debian's packages only), the installed package declares protobuf as
# its one dependency, and examples/python/consumer.py run with the installed
# package reads a real worker's events.
TEST_TIMEOUT=${TEST_TIMEOUT:-90}  # pip takes a few seconds of CPU, many more on a loaded machine
source "$(dirname "$0")/lib/common.sh"
REPO=$(cd "$LIB_DIR/../../.." && pwd)

"$REPO/clients/python/generate.sh" "$SCRATCH/gen"
for f in event_pb2.py event_pb2.pyi stream_pb2.py stream_pb2.pyi; do
  cmp -s "$SCRATCH/gen/intentlog/v1/$f" "$REPO/clients/python/intentlog/v1/$f" \
    || fail "clients/python/intentlog/v1/$f is stale: run clients/python/generate.sh"
done

# A copy, so that the build's files (build/, *.egg-info) stay out of the tree.
cp -r "$REPO/clients/python" "$SCRATCH/src"
rm -rf "$SCRATCH/src/build" "$SCRATCH/src/"*.egg-info
# Debian's pip (python3-pip, seen through --system-site-packages) installs into the venv.
$PY -m venv --without-pip --system-site-packages "$SCRATCH/venv" || fail "python3 -m venv failed (python3-venv)"
VPY=$SCRATCH/venv/bin/python
$VPY -m pip install -q --no-build-isolation --no-index "$SCRATCH/src" >"$SCRATCH/pip.log" 2>&1 \
  || fail "pip install clients/python failed: $(tail -5 "$SCRATCH/pip.log")"
requires=$($VPY -m pip show intentlog | sed -n 's/^Requires: //p')
[ "$requires" = protobuf ] || fail "the package requires '$requires', expected only protobuf"
where=$(cd / && $VPY -c "import intentlog; print(intentlog.__file__)")
case "$where" in "$SCRATCH/venv/"*site-packages/intentlog/__init__.py) ;; *) fail "imported from $where" ;; esac

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4)" \
  -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'o-' || i, 'create', '\\x0801'::bytea,
                                                         headers => '{\"n\": 1}') FROM generate_series(1, 20) i) s" >/dev/null
start_worker w1
(cd / && timeout 20 $VPY "$REPO/examples/python/consumer.py" --connect "$(sock w1)" \
   --group example --domain orders --limit 20) >"$SCRATCH/out.jsonl" 2>"$SCRATCH/err" \
  || fail "examples/python/consumer.py failed: $(cat "$SCRATCH/err")"
expected_intents orders "$SCRATCH/expected"
check --expected "$SCRATCH/expected" --strict "$SCRATCH/out.jsonl" || fail "the example's events are wrong"
$PY -c "
import json, sys
for l in open('$SCRATCH/out.jsonl'):
    e = json.loads(l)
    assert e['op'] == 'create' and e['payload'] == 'CAE=' and e['headers'] == {'n': 1} and e['attempt'] == 1, e
    assert e['appended_at'].endswith('Z') and e['schema_version'] == 0, e
" || fail "unexpected event fields: $(head -1 "$SCRATCH/out.jsonl")"
echo "PASS: generated code current, pip install offline into a venv, the example read 20 events"
