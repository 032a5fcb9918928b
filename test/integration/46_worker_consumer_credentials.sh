#!/usr/bin/env bash
# Per-consumer credentials (intentlog.create_consumer, --auth consumers): a
# token works for the groups and domains it grants and gets
# ERROR_PERMISSION_DENIED for any other; a wrong secret is
# ERROR_UNAUTHENTICATED; revoking the consumer closes its live session within
# seconds (the Python consumer sees UnauthenticatedError) and refuses its
# token from then on, without a worker restart; a grant created after the
# worker started works too, and the shared --token-file token still opens
# everything (the simple mode). No token reaches the worker's log.
source "$(dirname "$0")/lib/common.sh"

make_db
for d in orders payments; do
  q -c "SELECT intentlog.create_domain('$d', partitions => 2)" >/dev/null
  q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('$d', 'k' || i, 'x') FROM generate_series(1, 20) i) s" >/dev/null
done
A=$(q -c "SELECT intentlog.create_consumer('billing', groups => '{billing.*}', domains => '{orders}')")
case "$A" in billing/????????????????????????????????????????????????????????????????) ;; *) fail "unexpected token shape: $A" ;; esac
printf 'integration-test-token-%s\n' "$$" >"$SCRATCH/token"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --listen "tcp:127.0.0.1:$PORT" --auth consumers --auth-refresh-ms 300 --token-file "$SCRATCH/token"
grep -q 'event=credentials_loaded consumers=1' "$SCRATCH/worker-w1.log" || fail "the worker did not load the credentials"

hello() {  # hello WANTED TOKEN GROUP DOMAIN...
  local want=$1 token=$2 group=$3 got; shift 3
  local doms=(); for d in "$@"; do doms+=(--domain "$d"); done
  got=$(PYTHONPATH="$LIB_DIR" timeout 15 $PY "$LIB_DIR/tls_client.py" 127.0.0.1 "$PORT" --plain --token "$token" \
    --group "$group" "${doms[@]}" 2>&1) || true
  case "$got" in
    "$want"*) echo "  group $group, domains $*: $got" ;;
    *) fail "group $group, domains $*: expected '$want', got: ${got:-nothing}" ;;
  esac
}
hello WELCOME "$A" billing.eu orders
hello "ERROR PERMISSION_DENIED consumer billing may not use group audit" "$A" audit orders
hello "ERROR PERMISSION_DENIED consumer billing may not read domain payments" "$A" billing.eu orders payments
# A wrong secret: the last hex digit changed (to 1 when it is 0: a fixed
# replacement would leave one token in 16 as it was).
[ "${A: -1}" = 0 ] && WRONG="${A%?}1" || WRONG="${A%?}0"
hello "ERROR UNAUTHENTICATED" "$WRONG" billing.eu orders
hello WELCOME "$(cat "$SCRATCH/token")" audit orders payments  # the shared token: everything

# A consumer created while the worker runs is accepted within a refresh.
B=$(q -c "SELECT intentlog.create_consumer('audit', groups => '{audit}')")
sleep 1
hello WELCOME "$B" audit orders payments

# A live session of billing, then billing is revoked.
printf '%s\n' "$A" >"$SCRATCH/a.token"
PYTHONPATH="$LIB_DIR" $PY "$LIB_DIR/py_consumer.py" --connect "tcp:127.0.0.1:$PORT" --group billing.eu \
  --domain orders --from earliest --token-file "$SCRATCH/a.token" >"$SCRATCH/a.jsonl" 2>"$SCRATCH/a.err" &
A_PID=$!
PIDS+=("$A_PID")
wait_lines "$SCRATCH/a.jsonl" 20 10 || fail "billing's consumer got $(wc -l <"$SCRATCH/a.jsonl") of 20"
t0=$(date +%s%N)
q -c "SELECT intentlog.revoke_consumer('billing')" >/dev/null
for _ in $(seq 100); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$A_PID" 2>/dev/null && fail "the revoked consumer's session is still open 10 s after revoke_consumer"
rc=0; wait "$A_PID" || rc=$?
echo "  revoked consumer's session closed $(( ($(date +%s%N) - t0) / 1000000 )) ms after revoke_consumer (exit $rc)"
grep -q 'UnauthenticatedError: .*consumer billing was revoked' "$SCRATCH/a.err" || fail "no UnauthenticatedError: $(cat "$SCRATCH/a.err")"
hello "ERROR UNAUTHENTICATED" "$A" billing.eu orders
kill -0 "$WORKER_PID" 2>/dev/null || fail "the worker died"
for t in "$A" "$B" "$(cat "$SCRATCH/token")"; do
  grep -qF "${t#*/}" "$SCRATCH/worker-w1.log" && fail "a token reached the worker's log"
done
echo "PASS: grants enforced with ERROR_PERMISSION_DENIED, revocation closed the live session, no token in the log"
