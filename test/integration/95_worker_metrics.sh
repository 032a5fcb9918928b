#!/usr/bin/env bash
# --metrics: the worker serves the Prometheus text format at /metrics while it
# delivers, and Debian's prometheus_client parser (not ours) reads every
# family of it. Counters move as events are delivered, acked and nacked; lag
# (from intentlog.lag) is 0 after rolled-back appends at the end of the
# partitions, goes up under a stalled consumer and back to 0 when a live one
# acks; a poison key shows in intentlog.blocked_keys while it waits for its
# retry, then in the dead-letter counters. Anything but GET /metrics is
# refused; a non-TCP endpoint is refused at startup.
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('jobs', partitions => 2, max_attempts => 2)" >/dev/null
q -c "UPDATE intentlog.domains SET base_backoff = '1 second', max_backoff = '2 seconds' WHERE name = 'jobs'"
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_worker w1 --metrics "tcp:127.0.0.1:$port" --retry-poll-ms 50
url="http://127.0.0.1:$port/metrics"
scrape() { $PY "$LIB_DIR/scrape.py" "$url" "$@"; }
# wait_metric 'CMD' TEST SECONDS: until the output of CMD passes `[ out TEST ]`.
wait_metric() {
  local i v
  for i in $(seq $(($3 * 10))); do
    v=$(eval "$1")
    [ "$v" $2 ] && return 0
    sleep 0.1
  done
  fail "$1 is $v, waited $3 s for it to be $2"
}
append() {  # append N KEYPREFIX
  q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('jobs', '$2' || (i % 7), 'run') FROM generate_series(1, $1) i) s" >/dev/null
}

append 50 k
timeout 30 "$TAIL_BIN" --connect "$(sock w1)" --group g --domain jobs --limit 50 >"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" ||
  fail "the consumer did not get 50 events: $(tail -2 "$SCRATCH/c.err")"

scrape >"$SCRATCH/all.txt" || fail "the scrape did not parse: $(cat "$SCRATCH/all.txt")"
rss=$(scrape process_resident_memory_bytes)
[ "$rss" -gt 1000000 ] || fail "process_resident_memory_bytes is $rss"
[ "$(scrape intentlog_worker_info worker_id=w1)" = 1 ] || fail "no intentlog_worker_info{worker_id=w1}: $(cat "$SCRATCH/all.txt")"
start=$(scrape process_start_time_seconds)
now=$(date +%s)
[ $((now - ${start%.*})) -ge 0 ] && [ $((now - ${start%.*})) -lt 600 ] || fail "process_start_time_seconds $start, now $now"

# Delivery counters, per group, domain and partition (summed here).
[ "$(scrape intentlog_worker_delivered_total group=g domain=jobs)" -ge 50 ] || fail "delivered: $(grep delivered "$SCRATCH/all.txt")"
wait_metric 'scrape intentlog_worker_acked_total group=g domain=jobs' "-ge 50" 10
[ "$(scrape intentlog_worker_fetched_total group=g domain=jobs)" = 50 ] || fail "fetched: $(grep fetched_total "$SCRATCH/all.txt")"
[ "$(scrape intentlog_worker_end_to_end_seconds_count group=g domain=jobs)" -ge 50 ] ||
  fail "end-to-end latency histogram: $(grep end_to_end "$SCRATCH/all.txt")"
[ "$(scrape intentlog_worker_fetch_rows_count group=g domain=jobs)" -ge 1 ] || fail "no fetch in intentlog_worker_fetch_rows"
[ "$(scrape intentlog_worker_nacked_total)" = 0 ] || fail "nacks counted before any nack"

# Lag from intentlog.lag: 0 once read, and still 0 after appends that rolled
# back at the end of both partitions (their seqs are never read).
lag() { scrape intentlog_lag_seqs group=g domain=jobs; }
wait_metric lag "= 0" 20
q -c "BEGIN; SELECT count(*) FROM intentlog.intent_append_batch('jobs', ARRAY['k0', 'k1', 'k2', 'k3'], ARRAY['run', 'run', 'run', 'run']); ROLLBACK;" >/dev/null
append 7 k
timeout 30 "$TAIL_BIN" --connect "$(sock w1)" --group g --domain jobs --limit 7 >>"$SCRATCH/c.jsonl" 2>"$SCRATCH/c.err" ||
  fail "the consumer did not get 7 events: $(tail -2 "$SCRATCH/c.err")"
q -c "BEGIN; SELECT count(*) FROM intentlog.intent_append_batch('jobs', ARRAY['k0', 'k1', 'k2', 'k3'], ARRAY['run', 'run', 'run', 'run']); ROLLBACK;" >/dev/null
wait_metric lag "= 0" 20
[ "$(q -c "SELECT sum(seq_lag) FROM intentlog.lag WHERE group_name = 'g'")" = 0 ] || fail "intentlog.lag: $(q -c "SELECT * FROM intentlog.lag")"

# A stalled consumer: lag (seqs and seconds) goes up, events stay in flight.
start_tail "$SCRATCH/stalled.jsonl" --connect "$(sock w1)" --group g --domain jobs --no-ack
STALLED=$TAIL_PID
append 40 s
wait_metric lag "-gt 0" 20
wait_metric 'scrape intentlog_worker_in_flight group=g domain=jobs' "-gt 0" 20
[ "$(scrape intentlog_worker_leases_held group=g domain=jobs)" = 2 ] || fail "leases held: $(scrape | grep leases_held)"
[ "$(scrape intentlog_worker_consumers group=g domain=jobs)" = 1 ] || fail "consumers: $(scrape | grep consumers)"
sleep 1.2
wait_metric 'scrape intentlog_lag_seconds group=g domain=jobs | cut -d. -f1' "-ge 1" 20
kill "$STALLED"
timeout 30 "$TAIL_BIN" --connect "$(sock w1)" --group g --domain jobs --limit 40 >"$SCRATCH/c2.jsonl" 2>"$SCRATCH/c2.err" ||
  fail "the second consumer did not get 40 events: $(tail -2 "$SCRATCH/c2.err")"
wait_metric lag "= 0" 20
wait_metric 'scrape intentlog_lag_seconds group=g domain=jobs' "= 0" 20

# A poison key: nacked, held behind its retry (intentlog.blocked_keys), then
# a dead letter (max_attempts 2) in the worker's counter and the SQL gauge.
start_tail "$SCRATCH/c3.jsonl" --connect "$(sock w1)" --group g --domain jobs --fail-key poison
q -c "SELECT intentlog.intent_append('jobs', 'poison', 'run')" >/dev/null
seen=
for _ in $(seq 100); do
  if [ "$(q -c "SELECT count(*) FROM intentlog.blocked_keys WHERE group_name = 'g' AND domain = 'jobs' AND key = 'poison' AND attempt = 2")" = 1 ]; then
    seen=1
    break
  fi
  sleep 0.1
done
[ -n "$seen" ] || fail "the poison key never showed in intentlog.blocked_keys: $(q -c "SELECT * FROM intentlog.dead_letters")"
wait_metric 'scrape intentlog_worker_dead_letters_total group=g domain=jobs' "= 1" 20
[ "$(scrape intentlog_worker_nacked_total group=g domain=jobs)" = 2 ] || fail "nacked: $(scrape | grep nacked)"
[ "$(scrape intentlog_worker_retries_scheduled_total group=g domain=jobs)" = 1 ] || fail "retries: $(scrape | grep retries_sched)"
wait_metric 'scrape intentlog_dead_letters group=g domain=jobs' "= 1" 20
[ "$(q -c "SELECT count(*) FROM intentlog.blocked_keys")" = 0 ] || fail "the dead-lettered key is still blocked"

# Every series the Grafana dashboard queries exists (except those that need
# a lost lease or a consistency read).
scrape >"$SCRATCH/end.txt"
$PY - "$(dirname "$0")/../../docs/grafana/intentlog-dashboard.json" "$SCRATCH/end.txt" <<'PY' || fail "the dashboard queries series the worker does not serve"
import json, re, sys
exprs = [t["expr"] for p in json.load(open(sys.argv[1]))["panels"] for t in p.get("targets", [])]
wanted = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"\b(?:intentlog|process)_[a-z_]+", e)}
served = {re.sub(r"_(bucket|sum|count)$", "", l.split("{")[0]) for l in open(sys.argv[2])}
conditional = {"intentlog_worker_leases_lost_total", "intentlog_worker_state_reads_total",
               "intentlog_worker_state_primary_fallbacks_total"}
# The Kafka publisher's series are checked by test 88, which runs one.
missing = sorted(n for n in wanted - served - conditional if not n.startswith("intentlog_kafka_"))
if missing:
    sys.exit("not served: " + ", ".join(missing))
PY

code=$($PY -c "import urllib.request, urllib.error
try: print(urllib.request.urlopen('http://127.0.0.1:$port/').status)
except urllib.error.HTTPError as e: print(e.code)")
[ "$code" = 404 ] || fail "GET / answered $code, expected 404"

if "$WORKER_BIN" --db "dbname=$TEST_DB" --listen "unix:$SCRATCH/x.sock" --metrics "unix:$SCRATCH/m.sock" 2>"$SCRATCH/bad.err"; then
  fail "the worker started with --metrics unix:"
fi
grep -q 'tcp:HOST:PORT' "$SCRATCH/bad.err" || fail "no clear error for --metrics unix: $(cat "$SCRATCH/bad.err")"
echo "PASS: /metrics parsed by prometheus_client ($(wc -l <"$SCRATCH/all.txt") samples): delivered/acked/nacked/dead letters counted, lag 0 after rolled-back appends, up under a stalled consumer and back to 0, the poison key in intentlog.blocked_keys; RSS $rss bytes, 404 elsewhere"
