#!/usr/bin/env bash
# Progressive consistency reads against a real streaming standby (pg_basebackup
# over the primary's socket, scripts/pg.sh replica). The domain's state_query
# reads the application's state table; the worker runs with --replica.
#   1. the standby has the expected version: the state comes from the standby;
#   2. the standby lags (replay paused): the state comes from the primary;
#   3. the intent is committed before its state: the worker backs off and
#      delivers once the state is written, with that state;
#   4. the state never comes within consistency_timeout: a failed delivery,
#      a retry in SQL (the key waits, another key does not); once the state
#      is written the retry delivers it (attempt 2).
# It restarts a standby twice: on a loaded 2-core machine that alone can take 30 s.
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
source "$(dirname "$0")/lib/common.sh"

PRIMARY=$(basename "$PGHOST")
export INTENTLOG_RUNDIR=$(dirname "$(dirname "$PGHOST")")
PGSH="$LIB_DIR/../../../scripts/pg.sh"
STANDBY="standby-$$"
stop_standby() {
  local rc=$?
  "$PGSH" stop "$STANDBY" --rm >/dev/null 2>&1 || true
  (exit $rc)
  cleanup
}
trap stop_standby EXIT

make_db
q -c "CREATE TABLE app_state (key text PRIMARY KEY, version bigint NOT NULL, doc jsonb NOT NULL)"
q -c "SELECT intentlog.create_domain('accounts', partitions => 2, max_attempts => 5,
        state_query => 'SELECT version, doc FROM public.app_state WHERE key = \$1')" >/dev/null
q -c "UPDATE intentlog.domains SET consistency_timeout = '1500 ms', base_backoff = '200 ms', max_backoff = '400 ms'
       WHERE name = 'accounts'"
"$PGSH" replica "$STANDBY" "$PRIMARY" || fail "could not start a standby of $PRIMARY"
SDIR=$("$PGSH" dir "$STANDBY")
"$PGSH" catch-up "$STANDBY" "$PRIMARY"
on_standby() { psql -XAtq -h "$SDIR" -p "$(cat "$SDIR/port")" -U postgres -d "$TEST_DB" -c "$1"; }
[ "$(on_standby "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"

start_worker w1 --retry-poll-ms 20 --replica "host=$SDIR port=$(cat "$SDIR/port") user=postgres dbname=$TEST_DB"
start_tail "$SCRATCH/c.jsonl" --connect "$(sock w1)" --group g --domain accounts
# field KEY EXPR: a Python expression over the JSON event `e` of the last event of KEY.
field() {
  $PY -c "import json,sys
evs=[json.loads(l) for l in open('$SCRATCH/c.jsonl') if l.strip()]
evs=[e for e in evs if e['key']=='$1']
e=evs[-1] if evs else None
print($2)"
}
wait_key() {  # wait_key KEY N SECONDS: until N events of KEY arrived
  for _ in $(seq $(($3 * 10))); do
    [ "$(grep -c "\"key\":\"$1\"" "$SCRATCH/c.jsonl" || true)" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

# 1. Standby up to date.
q -c "INSERT INTO app_state VALUES ('a', 1, '{\"balance\": 10}')"
"$PGSH" catch-up "$STANDBY" "$PRIMARY"
q -c "SELECT intentlog.intent_append('accounts', 'a', 'credit', expected_version => 1)" >/dev/null
wait_key a 1 10 || fail "case 1: no event for a"
[ "$(field a "e['state']['source'], e['state']['version'], e['state']['json']['balance']")" = "standby 1 10" ] \
  || fail "case 1: expected the standby's state: $(field a "e")"
echo "case 1 ok: $(field a "e['state']")"

# 2. Standby lags: replay paused, state and intent committed together on the primary.
"$PGSH" pause-replay "$STANDBY"
q -c "BEGIN; UPDATE app_state SET version = 2, doc = '{\"balance\": 20}' WHERE key = 'a';
      SELECT intentlog.intent_append('accounts', 'a', 'credit', expected_version => 2); COMMIT;" >/dev/null
wait_key a 2 10 || fail "case 2: no event for a"
[ "$(field a "e['state']['source'], e['state']['version'], e['state']['reads']")" = "primary 2 2" ] \
  || fail "case 2: expected the primary's state after one standby read: $(field a "e")"
[ "$(on_standby "SELECT version FROM app_state WHERE key = 'a'")" = 1 ] || fail "case 2: the standby did not lag"
echo "case 2 ok: $(field a "e['state']")"
"$PGSH" resume-replay "$STANDBY"

# 3. Intent ahead of its state: written before the state it expects.
q -c "SELECT intentlog.intent_append('accounts', 'a', 'credit', expected_version => 3)" >/dev/null
sleep 0.5
[ "$(grep -c '"key":"a"' "$SCRATCH/c.jsonl")" = 2 ] || fail "case 3: delivered before its state existed"
q -c "UPDATE app_state SET version = 3, doc = '{\"balance\": 30}' WHERE key = 'a'"
wait_key a 3 10 || fail "case 3: no event for a once the state was written"
[ "$(field a "e['state']['version'], e['state']['json']['balance'], e['attempt'], e['state']['reads'] >= 4")" = "3 30 1 True" ] \
  || fail "case 3: expected version 3 on the first attempt after several reads: $(field a "e")"
echo "case 3 ok: $(field a "e['state']")"

# 4. The state does not come within consistency_timeout: a retry in SQL.
q -c "INSERT INTO app_state VALUES ('b', 1, '{\"balance\": 0}'), ('c', 1, '{\"balance\": 5}')"
q -c "SELECT intentlog.intent_append('accounts', 'b', 'credit', expected_version => 9)" >/dev/null
for _ in $(seq 100); do
  err=$(q -c "SELECT last_error FROM intentlog.retries WHERE key = 'b'")
  [ -n "$err" ] && break
  sleep 0.1
done
case "$err" in consistency_timeout*) ;; *) fail "case 4: no consistency_timeout retry for b: '$err'" ;; esac
# Another key is not held up by b's retry.
q -c "SELECT intentlog.intent_append('accounts', 'c', 'credit', expected_version => 1)" >/dev/null
wait_key c 1 10 || fail "case 4: key c was held up"
grep -q '"key":"b"' "$SCRATCH/c.jsonl" && fail "case 4: b was delivered without its state"
q -c "UPDATE app_state SET version = 9, doc = '{\"balance\": 90}' WHERE key = 'b'"
wait_key b 1 15 || fail "case 4: b was not delivered after its state was written"
[ "$(field b "e['state']['version'], e['attempt'] >= 2")" = "9 True" ] \
  || fail "case 4: expected version 9 on a retry: $(field b "e")"
for _ in $(seq 50); do
  [ "$(q -c "SELECT count(*) FROM intentlog.retries")" = 0 ] && break
  sleep 0.1
done
[ "$(q -c "SELECT count(*) FROM intentlog.retries") $(q -c "SELECT count(*) FROM intentlog.dead_letters")" = "0 0" ] \
  || fail "case 4: retry bookkeeping left behind"
echo "case 4 ok: $(field b "e['attempt'], e['state']")"

# 5. The standby goes away while intents stream, and comes back. Keys s0..s4
# carry no expected_version: any read resolves, so the source says where
# the state was read. op n<i> numbers the intents in append order.
LOG="$SCRATCH/worker-w1.log"
[ "$(grep -c 'event=standby_down' "$LOG" || true)" = 0 ] || fail "case 5: the standby was down before it was stopped"
q -c "INSERT INTO app_state SELECT 's' || i, 1, jsonb_build_object('balance', i) FROM generate_series(0, 4) i"
"$PGSH" catch-up "$STANDBY" "$PRIMARY"
n=0
append() {  # append COUNT: the next COUNT intents, one transaction each
  for _ in $(seq "$1"); do
    q -c "SELECT intentlog.intent_append('accounts', 's' || ($n % 5), 'n$n')" >/dev/null
    n=$((n + 1))
  done
}
wait_ops() {  # wait_ops N SECONDS: until intents n0..n<N-1> were all delivered
  for _ in $(seq $(($2 * 10))); do
    [ "$($PY - "$SCRATCH/c.jsonl" "$1" <<'PY'
import json, sys
ops = {e['op'] for e in (json.loads(l) for l in open(sys.argv[1]) if l.strip()) if e['op'].startswith('n')}
print(all('n%d' % i in ops for i in range(int(sys.argv[2]))))
PY
)" = True ] && return 0
    sleep 0.1
  done
  return 1
}
# check_ops FIRST LAST SOURCE: n<FIRST>..n<LAST-1> all delivered, in order per
# key, every delivery of them with state from SOURCE (any: not checked).
check_ops() {
  $PY - "$SCRATCH/c.jsonl" "$@" <<'PY' || fail "case 5: $(tail -3 "$SCRATCH/c.jsonl")"
import json, sys
path, first, last, source = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
evs = [e for e in (json.loads(l) for l in open(path) if l.strip()) if e['op'].startswith('n')]
per_key = {}
for e in evs:
    per_key.setdefault(e['key'], []).append(int(e['op'][1:]))
for k, ns in per_key.items():
    # Order per key: a later intent never before an earlier one (a redelivery repeats, never reorders).
    if ns != sorted(ns):
        sys.exit('out of order for %s: %s' % (k, ns))
got = {int(e['op'][1:]) for e in evs}
missing = [i for i in range(first, last) if i not in got]
if missing:
    sys.exit('not delivered: %s' % missing)
if source != 'any':
    wrong = [(e['op'], e['state']['source']) for e in evs if first <= int(e['op'][1:]) < last and e['state']['source'] != source]
    if wrong:
        sys.exit('expected state from the %s: %s' % (source, wrong))
PY
}
append 10
wait_ops 10 10 || fail "case 5: intents not delivered with the standby up"
check_ops 0 10 standby
# Stopped while intents stream: those appended meanwhile may go either way.
"$PGSH" stop "$STANDBY" &
stopper=$!
append 10
wait $stopper || fail "case 5: could not stop the standby"
down_from=$n
append 30
wait_ops $n 20 || fail "case 5: intents not delivered with the standby down"
check_ops 0 "$n" any
check_ops "$down_from" "$n" primary
downs=$(grep -c 'event=standby_down' "$LOG" || true)
[ "$downs" = 1 ] || fail "case 5: expected one standby_down line for $((n - 10)) intents, got $downs"
grep 'event=standby_down' "$LOG" | grep -q 'retry_in_ms=' || fail "case 5: standby_down without retry_in_ms"
echo "case 5 ok (down): $((n - down_from)) intents from the primary; $(grep -o 'event=standby_down.*' "$LOG")"

# Started again: once the back-off has passed a read probes it and the state
# comes from the standby again. One intent at a time until one does.
"$PGSH" start "$STANDBY"
"$PGSH" catch-up "$STANDBY" "$PRIMARY"
up_at=""
for _ in $(seq 150); do
  append 1
  wait_ops $n 10 || fail "case 5: n$((n - 1)) not delivered after the standby was started"
  if [ "$(grep "\"op\":\"n$((n - 1))\"" "$SCRATCH/c.jsonl" | tail -1 | $PY -c "import json,sys; print(json.load(sys.stdin)['state']['source'])")" = standby ]; then
    up_at=$((n - 1))
    break
  fi
  sleep 0.2
done
[ -n "$up_at" ] || fail "case 5: the state never came from the standby again"
grep -q 'event=standby_up' "$LOG" || fail "case 5: no standby_up line"
# Up again: the following intents read the standby.
append 10
wait_ops $n 10 || fail "case 5: intents not delivered after the standby came back"
check_ops 0 "$n" any
check_ops "$((up_at + 1))" "$n" standby
[ "$(grep -c 'event=standby_down' "$LOG") $(grep -c 'event=standby_up' "$LOG")" = "1 1" ] \
  || fail "case 5: expected one standby_down and one standby_up: $(grep -E 'event=standby_(down|up)' "$LOG")"
echo "case 5 ok (up): n$up_at first from the standby again; $(grep -o 'event=standby_up.*' "$LOG")"
echo "PASS: state from the standby, from the primary when the standby lags, after back-off when the intent came first, through a retry after consistency_timeout, and from the primary while the standby is down (one standby_down), from the standby again once it is back"
