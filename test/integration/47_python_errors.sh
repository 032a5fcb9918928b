#!/usr/bin/env bash
# The Python client fails cleanly: fake servers sending garbage (an HTTP
# reply, a bad length prefix, a huge frame, an unparsable body, a frame out
# of order, more events than credit), staying silent or sending a half frame
# end in BadServerFrame or ConnectionLost within seconds, never a hang; every
# ErrorCode maps to its exception; and a real worker's Error frames (unknown
# domain, bad group, credit above max_credit, a position outside the domain,
# a wrong token on TCP) raise the matching exception. lib/py_errors.py.
source "$(dirname "$0")/lib/common.sh"
timeout 60 $PY "$LIB_DIR/py_errors.py" fake || fail "fake-server cases"

make_db
q -c "SELECT intentlog.create_domain('d', partitions => 2)" >/dev/null
port=$($PY -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
echo "s3cret-token-for-the-test" >"$SCRATCH/token"
start_worker w1 --listen "tcp:127.0.0.1:$port" --token-file "$SCRATCH/token"
TOKEN_FILE="$SCRATCH/token" timeout 30 $PY "$LIB_DIR/py_errors.py" worker "$(sock w1)" d "tcp:127.0.0.1:$port" \
  || fail "real worker cases"
kill -0 "$WORKER_PID" || fail "the worker died"
echo "PASS: garbage and silence from fake servers and every Error frame end in clean exceptions"
