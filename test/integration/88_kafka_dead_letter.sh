#!/usr/bin/env bash
# Records Kafka refuses for good take the group's retry / dead-letter path in
# SQL while other keys flow: an intent over message.max.bytes (refused by the
# producer) becomes a dead letter of group kafka after max_attempts while every
# other key reaches Kafka; a worker restarted with
# a higher limit delivers it after intentlog.redrive. A Produce request the
# broker refuses once (TOPIC_AUTHORIZATION_FAILED) is a failed delivery that
# retries deliver once librdkafka's metadata shows the topic writable again.
# The Kafka series of --metrics (parsed by Debian's prometheus_client) count
# each of these: records, reports by outcome, errors by stage and name, the
# records outstanding while every broker is down and 0 once they are back.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/kafka.sh"

make_db
q -c "SELECT intentlog.create_domain('orders', partitions => 4, max_attempts => 2)" \
  -c "UPDATE intentlog.domains SET base_backoff = '40 ms', max_backoff = '200 ms' WHERE name = 'orders'" >/dev/null
start_kafka --topic intentlog.orders:4
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
metric() { $PY "$LIB_DIR/scrape.py" "http://127.0.0.1:$port/metrics" "$@"; }
# wait_metric NAME OP VALUE [k=v...]: until the sum of NAME's samples compares so (10 s).
wait_metric() {
  local name=$1 op=$2 want=$3 got
  shift 3
  for _ in $(seq 100); do
    got=$(metric "$name" "$@")
    [ "$got" "$op" "$want" ] && return 0
    sleep 0.1
  done
  fail "$name $* is $got, expected $op $want"
}
start_worker w1 --kafka-brokers "$KAFKA_BROKERS" --kafka-domains orders -X message.max.bytes=4000 --retry-poll-ms 20 \
  --metrics "tcp:127.0.0.1:$port"

q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'k' || (i % 10), 'set') FROM generate_series(1, 50) i) s" \
  -c "SELECT intentlog.intent_append('orders', 'big', 'set', decode(repeat('ab', 6000), 'hex'))" \
  -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'k' || (i % 10), 'set') FROM generate_series(51, 100) i) s" >/dev/null
read -r bp bs <<<"$(q -F ' ' -c "SELECT partition, seq FROM intentlog_data.orders WHERE octet_length(payload) > 1000")"

for _ in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM intentlog.dead_letters WHERE group_name = 'kafka'")" = 1 ] && break
  sleep 0.1
done
err=$(q -c "SELECT last_error FROM intentlog.dead_letters WHERE group_name = 'kafka' AND key = 'big'")
case "$err" in *MSG_SIZE_TOO_LARGE*) ;; *) fail "no dead letter for the large intent (last_error: '$err')" ;; esac
q -F ' ' -c "SELECT partition, seq, key FROM intentlog_data.orders WHERE (partition, seq) <> ($bp, $bs) ORDER BY 1, 2" >"$SCRATCH/expected"
kafka_check --topic intentlog.orders --expected "$SCRATCH/expected" --absent "$bp:$bs" --timeout 20 --strict \
  || fail "the other intents did not reach Kafka once each while the large one was a dead letter"
wait_metric intentlog_kafka_outstanding -eq 0
[ "$(metric intentlog_kafka_produced_total group=kafka domain=orders topic=intentlog.orders)" = 100 ] \
  || fail "intentlog_kafka_produced_total is $(metric intentlog_kafka_produced_total), expected 100"
[ "$(metric intentlog_kafka_reports_total outcome=persisted)" = 100 ] \
  || fail "persisted reports: $(metric intentlog_kafka_reports_total outcome=persisted), expected 100"
[ "$(metric intentlog_kafka_report_seconds_count)" = 100 ] || fail "report_seconds counted $(metric intentlog_kafka_report_seconds_count)"
[ "$(metric intentlog_kafka_errors_total stage=produce error=MSG_SIZE_TOO_LARGE)" = 2 ] \
  || fail "MSG_SIZE_TOO_LARGE refusals: $(metric intentlog_kafka_errors_total stage=produce error=MSG_SIZE_TOO_LARGE), expected 2 (max_attempts)"
[ "$(metric intentlog_worker_dead_letters_total group=kafka)" = 1 ] || fail "the dead letter was not counted"
[ "$(metric intentlog_kafka_producer_rebuilds_total)" = 0 ] || fail "a producer was rebuilt"
metric >"$SCRATCH/kafka-metrics.txt" || fail "scrape failed"
$PY - "$(dirname "$0")/../../docs/grafana/intentlog-dashboard.json" "$SCRATCH/kafka-metrics.txt" <<'PY' || fail "the dashboard queries Kafka series the worker does not serve"
import json, re, sys
exprs = [t["expr"] for p in json.load(open(sys.argv[1]))["panels"] for t in p.get("targets", [])]
wanted = {re.sub(r"_(bucket|sum|count)$", "", n) for e in exprs for n in re.findall(r"\bintentlog_kafka_[a-z_]+", e)}
served = {re.sub(r"_(bucket|sum|count)$", "", l.split("{")[0]) for l in open(sys.argv[2])}
if not wanted or wanted - served:
    sys.exit("not served: " + ", ".join(sorted(wanted - served)))
PY

# A higher limit and a redrive deliver it.
kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
start_worker w1 --kafka-brokers "$KAFKA_BROKERS" --kafka-domains orders -X message.max.bytes=100000 --retry-poll-ms 20 \
  -X topic.metadata.refresh.interval.ms=500 --metrics "tcp:127.0.0.1:$port"
[ "$(q -c "SELECT intentlog.redrive('orders', key => 'big')")" = 1 ] || fail "redrive found no dead letter"
kafka_expect orders "$SCRATCH/expected-all" 20 --strict || fail "the redriven intent did not reach Kafka"
[ "$(q -c "SELECT count(*) FROM intentlog.dead_letters")" = 0 ] || fail "dead letters left after the redrive"

# The broker refuses one Produce request: its records fail, and so does every
# record of the topic librdkafka is given until its next metadata refresh
# says the topic is fine again; the retries after that land.
q -c "UPDATE intentlog.domains SET max_attempts = 30, base_backoff = '100 ms', max_backoff = '300 ms' WHERE name = 'orders'"
kafka_ctl errors produce TOPIC_AUTHORIZATION_FAILED
q -c "SELECT count(*) FROM (SELECT intentlog.intent_append('orders', 'r' || i, 'set') FROM generate_series(1, 20) i) s" >/dev/null
kafka_expect orders "$SCRATCH/expected-retry" 20 --strict || fail "records of the refused request were not retried"
grep -q 'event=kafka_delivery_failed.*TOPIC_AUTHORIZATION_FAILED' "$SCRATCH/worker-w1.log" \
  || fail "the broker's refusal was not a failed delivery"
[ "$(metric intentlog_kafka_errors_total stage=report error=TOPIC_AUTHORIZATION_FAILED)" -ge 1 ] \
  || fail "the broker's refusal was not counted: $(grep intentlog_kafka_errors "$SCRATCH/kafka-metrics.txt")"
[ "$(metric intentlog_kafka_reports_total outcome=failed)" -ge 1 ] || fail "no failed report counted"

# Every broker down: records wait in librdkafka (outstanding), the client
# errors say why; back up, they land and nothing is outstanding.
for b in 1 2 3; do kafka_ctl down "$b"; done
q -c "SELECT intentlog.intent_append('orders', 'down' || i, 'set') FROM generate_series(1, 5) i" >/dev/null
wait_metric intentlog_kafka_outstanding -ge 1
wait_metric intentlog_kafka_errors_total -ge 1 stage=client
for b in 1 2 3; do kafka_ctl up "$b"; done
kafka_expect orders "$SCRATCH/expected-down" 30 --strict || fail "records produced while the brokers were down did not land"
wait_metric intentlog_kafka_outstanding -eq 0
echo "PASS: oversized intent dead-lettered, other keys flowed, redrive delivered it; broker refusal retried; Kafka series counted records, reports, errors by stage and outstanding records while the brokers were down"
