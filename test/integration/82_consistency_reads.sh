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
echo "PASS: state from the standby, from the primary when the standby lags, after back-off when the intent came first, and through a retry after consistency_timeout"
