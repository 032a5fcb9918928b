#!/usr/bin/env bash
# TLS on the TCP listener, probed with clients nobody here wrote (Python's ssl
# module, openssl s_client) and the Python consumer package: a valid client
# certificate and token get a Welcome and events; a wrong CA, a worker
# certificate that expired, client certificates that expired, are not yet
# valid, come from another CA or are missing, TLS 1.1 and plain text are all
# refused with a clean close, and the worker keeps serving (its Unix socket
# stays plain). A key that does not match the certificate stops the worker at
# startup with a message.
source "$(dirname "$0")/lib/common.sh"
source "$LIB_DIR/tls_certs.sh"

make_db
q -c "SELECT intentlog.create_domain('events', partitions => 2)" >/dev/null
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('events', 'k' || i, 'x') FROM generate_series(1, 50) i) s" >/dev/null
P="$SCRATCH/pki"
make_certs "$P"
printf 'integration-test-token-%s\n' "$$" >"$SCRATCH/token"
TOKEN=$(cat "$SCRATCH/token")
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
start_worker w1 --listen "tcp:127.0.0.1:$PORT" --token-file "$SCRATCH/token" \
  --tls-cert "$P/server.pem" --tls-key "$P/server.key" --tls-client-ca "$P/ca.pem"
grep -q 'tls=true client_certificates=required' "$SCRATCH/worker-w1.log" || fail "the listener does not say it speaks TLS"

py_tls() {  # py_tls PORT WANTED ARGS...: Python's ssl module
  local port=$1 want=$2 got; shift 2
  got=$(PYTHONPATH="$LIB_DIR" timeout 15 $PY "$LIB_DIR/tls_client.py" 127.0.0.1 "$port" "$@" 2>&1) || true
  case "$got" in
    "$want"*) echo "  python ssl ${*//$P\//}: $got" ;;
    *) fail "python ssl $*: expected '$want', got: ${got:-nothing}" ;;
  esac
}
mtls=(--ca "$P/ca.pem" --cert "$P/client.pem" --key "$P/client.key")
py_tls "$PORT" WELCOME "${mtls[@]}" --token "$TOKEN"
py_tls "$PORT" "ERROR UNAUTHENTICATED" "${mtls[@]}" --token wrong-token-0123456789
py_tls "$PORT" "TLS_VERIFY_FAILED" --ca "$P/other-ca.pem" --cert "$P/client.pem" \
  --key "$P/client.key" --token "$TOKEN"
py_tls "$PORT" "TLS_ERROR" --ca "$P/ca.pem" --token "$TOKEN"  # no client certificate
py_tls "$PORT" "TLS_ERROR" --ca "$P/ca.pem" --cert "$P/client-expired.pem" --key "$P/client-expired.key" --token "$TOKEN"
py_tls "$PORT" "TLS_ERROR" --ca "$P/ca.pem" --cert "$P/client-future.pem" --key "$P/client-future.key" --token "$TOKEN"
py_tls "$PORT" "TLS_ERROR" --ca "$P/ca.pem" --cert "$P/other-client.pem" --key "$P/other-client.key" --token "$TOKEN"
py_tls "$PORT" "CLOSED" --plain --token "$TOKEN"  # plain text to the TLS port: closed, no frame

s_client() { timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost "${@:2}" </dev/null 2>&1 || true; }
out=$(s_client "$PORT" -CAfile "$P/ca.pem" -cert "$P/client.pem" -key "$P/client.key" -verify_return_error)
grep -q 'Verify return code: 0 (ok)' <<<"$out" || fail "s_client with a client certificate: $out"
grep -Eq 'New, TLSv1\.[23]' <<<"$out" || fail "s_client: no TLS 1.2 or 1.3: $out"
echo "  s_client with a client certificate: $(grep -Eo 'New, TLSv1\.[23]' <<<"$out" | head -1), verified"
out=$(s_client "$PORT" -CAfile "$P/ca.pem" -cert "$P/client.pem" -key "$P/client.key" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
grep -Eqi 'alert protocol version|unsupported protocol|no protocols available' <<<"$out" || fail "TLS 1.1 was not refused: $out"
echo "  s_client -tls1_1: refused ($(grep -Eoi 'alert protocol version|unsupported protocol|no protocols available' <<<"$out" | head -1))"

# The Python consumer package over mTLS: every event.
PYTHONPATH="$LIB_DIR" timeout 20 $PY "$LIB_DIR/py_consumer.py" --connect "tcp:127.0.0.1:$PORT" --group pytls \
  --domain events --from earliest --limit 50 --token-file "$SCRATCH/token" --tls-ca "$P/ca.pem" \
  --tls-cert "$P/client.pem" --tls-key "$P/client.key" >"$SCRATCH/py.jsonl" 2>"$SCRATCH/py.err" \
  || fail "the Python consumer over TLS failed: $(cat "$SCRATCH/py.err")"
[ "$(wc -l <"$SCRATCH/py.jsonl")" = 50 ] || fail "the Python consumer over TLS got $(wc -l <"$SCRATCH/py.jsonl") of 50"
echo "  intentlog Python consumer with an ssl context: 50 events"
# The Unix socket stays plain text.
timeout 15 "$TAIL_BIN" --connect "$(sock w1)" --group unix --domain events --from earliest --limit 50 \
  >"$SCRATCH/unix.jsonl" 2>/dev/null || fail "the Unix socket stopped serving"
kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker died"

# A worker whose certificate expired: clients refuse it.
PORT2=$(free_port)
start_worker w2 --listen "tcp:127.0.0.1:$PORT2" --token-file "$SCRATCH/token" --tls-cert "$P/expired.pem" \
  --tls-key "$P/expired.key"
grep -q 'event=tls_certificate_expired' "$SCRATCH/worker-w2.log" || fail "the worker did not warn of its expired certificate"
py_tls "$PORT2" "TLS_VERIFY_FAILED certificate has expired" --ca "$P/ca.pem" --token "$TOKEN"
out=$(s_client "$PORT2" -CAfile "$P/ca.pem" -verify_return_error)
grep -q 'certificate has expired' <<<"$out" || fail "s_client accepted an expired certificate: $out"
echo "  s_client to an expired worker certificate: certificate has expired"

# A key that is not the certificate's: no start.
if "$WORKER_BIN" --db "dbname=$TEST_DB" --listen "tcp:127.0.0.1:$(free_port)" --token-file "$SCRATCH/token" \
  --tls-cert "$P/server.pem" --tls-key "$P/client.key" >"$SCRATCH/mismatch.log" 2>&1; then
  fail "the worker started with a key that does not match its certificate"
fi
grep -Eq 'event=startup_failed .*(does not match|mismatch)' "$SCRATCH/mismatch.log" || fail "no clear startup error: $(cat "$SCRATCH/mismatch.log")"
echo "PASS: TLS 1.2+ with client certificates; every bad certificate, TLS 1.1 and plain text refused cleanly"
