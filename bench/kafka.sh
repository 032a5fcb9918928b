#!/usr/bin/env bash
# Kafka publication figures (issue 14), one run, on a mock Kafka cluster
# (intentlog-kafka-mock: 3 librdkafka mock brokers on 127.0.0.1):
#   1. drain rate of a BACKLOG-intent backlog (16 partitions, 5000 keys, ~55 B
#      payloads): a fresh intentlog-worker publishing it to Kafka (until the
#      group's SQL cursors are at the end, i.e. every intent has a delivery
#      report) against a fresh worker streaming it to one intentlog-tail
#      (JSON to /dev/null), ROUNDS rounds alternating, medians; and the rate
#      the backlog was appended at (intent_append_batch);
#   2. commit -> Kafka consumer receipt (a confluent_kafka consumer decoding
#      Events) p50/p99 at half the highest sustained rate (unthrottled pgbench
#      first, 4 clients, one intent per transaction), and the socket consumer's
#      at the same offered rate, alternating;
#   3. worker RSS while it publishes the backlog to brokers that are down, and
#      to brokers answering after 500 ms.
# Prints load averages throughout. Not part of CI.
#   BACKLOG=200000 ROUNDS=3 SECS=8 bench/kafka.sh [--no-build]
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BACKLOG=${BACKLOG:-200000}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
CLIENTS=${CLIENTS:-4}
BUILD=1
[ "${1:-}" = --no-build ] && BUILD=0
export INTENTLOG_RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-bench-kafka.$(id -u)}
source "$HERE/bench/lib.sh"
bench_cluster kafka "$BUILD" 3000
source "$HERE/test/integration/lib/kafka.sh"
STATS="$PY $HERE/bench/latency_stats.py"
load() { echo "load $(cut -d' ' -f1-3 /proc/loadavg)"; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

make_db
q -c "SELECT intentlog.create_domain('big', partitions => 16)" \
  -c "SELECT intentlog.create_domain('lat', partitions => 16)" >/dev/null
start_kafka --topic intentlog.lat:16
echo "build $(git -C "$HERE" rev-parse --short HEAD), $(nproc) cores, $(load)"

echo "== backlog of $BACKLOG intents"
start=$(date +%s%N)
q -c "DO \$\$ BEGIN
        FOR b IN 1..($BACKLOG / 10000) LOOP
          PERFORM intentlog.intent_append_batch('big',
            (SELECT array_agg('key-' || ((b * 10000 + i) % 5000)) FROM generate_series(1, 10000) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 10000) i),
            (SELECT array_agg(convert_to(repeat('x', 50) || i, 'UTF8')) FROM generate_series(1, 10000) i));
          COMMIT;
        END LOOP;
      END \$\$"
append_ms=$(( ($(date +%s%N) - start) / 1000000 ))
APPEND_RATE=$(( BACKLOG * 1000 / append_ms ))
echo "  appended in $append_ms ms: $APPEND_RATE intents/s (intent_append_batch, 10000 per call); $(load)"

# wait_drained GROUP: returns once every partition's cursor of GROUP is at the
# end, polling every 20 ms from one session. Not a psql per poll: starting
# psql and a backend costs tens of ms of CPU, and 5-20 of them a second took
# CPU from the worker being measured (the socket drain had no such poll).
wait_drained() {
  q -c "DO \$\$ BEGIN
          WHILE (SELECT count(*) FILTER (WHERE seq_lag = 0) FROM intentlog.lag
                 WHERE group_name = '$1' AND domain = 'big') < 16 LOOP
            PERFORM pg_sleep(0.02);
          END LOOP;
        END \$\$"
}
kafka_rates=() socket_rates=()
for r in $(seq "$ROUNDS"); do
  # Socket: a fresh worker, one consumer reading the backlog.
  start_worker "s$r"
  start=$(date +%s%N)
  "$TAIL_BIN" --connect "$(sock "s$r")" --group "sock$r" --domain big --limit "$BACKLOG" --credit 10000 >/dev/null 2>&1
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
  socket_rates+=($(( BACKLOG * 1000 / ms )))
  echo "  round $r socket: $ms ms, ${socket_rates[-1]} events/s; $(load)"
  # Kafka: a fresh worker publishing the backlog to a fresh topic.
  kafka_ctl topic "r$r.big" 16
  start=$(date +%s%N)
  start_worker "k$r" --kafka-brokers "$KAFKA_BROKERS" --kafka-domains big --kafka-group "kafka$r" --kafka-topic "r$r.<domain>"
  wait_drained "kafka$r"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
  kafka_rates+=($(( BACKLOG * 1000 / ms )))
  echo "  round $r kafka:  $ms ms, ${kafka_rates[-1]} events/s; $(load)"
done
KM=$(echo "${kafka_rates[*]}" | median) SM=$(echo "${socket_rates[*]}" | median)
ratios=()  # per round: kafka / the socket drain run just before it
for i in "${!kafka_rates[@]}"; do ratios+=("$(awk "BEGIN {printf \"%.2f\", ${kafka_rates[$i]} / ${socket_rates[$i]}}")"); done
RM=$(echo "${ratios[*]}" | median)
verdict() { awk "BEGIN {exit !($1)}" && echo MET || echo MISSED; }
echo "  medians: kafka $KM/s, socket $SM/s; kafka/socket per round: ${ratios[*]}, median $RM (goal >= 0.8: $(verdict "$RM >= 0.8")); kafka/append $(awk "BEGIN {printf \"%.2f\", $KM / $APPEND_RATE}") (goal >= 1: $(verdict "$KM >= $APPEND_RATE"))"

echo "== commit -> receipt latency"
cat >"$SCRATCH/append.sql" <<'SQL'
\set k random(1, 10000)
SELECT intentlog.intent_append('lat', 'k' || :k, 'set', convert_to((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 'UTF8'));
SQL
start_worker lat --kafka-brokers "$KAFKA_BROKERS" --kafka-domains lat --kafka-group kafka_lat
# measure KIND LABEL [pgbench options]: sets M_* (latency_stats.py summary)
measure() {
  local kind=$1 label=$2 raw="$SCRATCH/raw-$2" reader appended; shift 2
  if [ "$kind" = kafka ]; then
    PYTHONPATH="$SCRATCH/py" $PY "$HERE/bench/kafka_receipt.py" "$KAFKA_BROKERS" intentlog.lat >"$raw" 2>"$raw.err" &
    reader=$!
    for _ in $(seq 100); do grep -qs ready "$raw.err" && break; sleep 0.1; done
  else
    mkfifo "$SCRATCH/fifo-$label"
    $STATS stamp <"$SCRATCH/fifo-$label" >"$raw" &
    "$TAIL_BIN" --connect "$(sock lat)" --group "sock-$label" --domain lat --from latest --credit 10000 \
      >"$SCRATCH/fifo-$label" 2>"$raw.err" &
    reader=$!
    for _ in $(seq 100); do grep -qs connected "$raw.err" && break; sleep 0.1; done
  fi
  sleep 1
  M_LOAD=$(cut -d' ' -f1 /proc/loadavg)
  pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$SECS" "$@" -f "$SCRATCH/append.sql" >"$SCRATCH/pgbench-$label" 2>&1 \
    || fail "pgbench: $(tail -3 "$SCRATCH/pgbench-$label")"
  appended=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$SCRATCH/pgbench-$label")
  for _ in $(seq 300); do [ "$(wc -l <"$raw")" -ge "$appended" ] && break; sleep 0.1; done
  kill "$reader" 2>/dev/null || true
  wait "$reader" 2>/dev/null || true
  read -r M_TOTAL M_N M_P50 M_P90 M_P99 M_P999 M_MAX _ M_RECV <<<"$($STATS summary "$raw" 1)"
  M_TPS=$(sed -n 's/^tps = \([0-9]*\)\..*/\1/p' "$SCRATCH/pgbench-$label" | head -1)
  echo "  $kind $label: appended $M_TPS/s received $M_RECV/s n=$M_N p50=$M_P50 p90=$M_P90 p99=$M_P99 p99.9=$M_P999 max=$M_MAX ms (lost $((appended - M_TOTAL > 0 ? appended - M_TOTAL : 0))); load $M_LOAD"
}
measure kafka max
MAX=$(( M_TPS < M_RECV ? M_TPS : M_RECV ))
echo "  highest sustained rate (Kafka receipt): $MAX/s; half: $((MAX / 2))/s"
kafka_p99=() socket_p99=()
for r in $(seq "$ROUNDS"); do
  measure kafka "half$r" -R $((MAX / 2))
  kafka_p99+=("$M_P99")
  measure socket "half$r" -R $((MAX / 2))
  socket_p99+=("$M_P99")
done
KP=$(echo "${kafka_p99[*]}" | median)
echo "  p99 at half the highest rate, per round: kafka ${kafka_p99[*]} ms, socket ${socket_p99[*]} ms; kafka median $KP ms (goal < 50: $(verdict "$KP < 50")), socket median $(echo "${socket_p99[*]}" | median) ms"
kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true

echo "== worker RSS publishing the backlog to brokers that are down, then slow (RTT 500 ms)"
rss() { awk '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {print "rss=" r "kB peak=" h "kB"}' "/proc/$1/status"; }
kafka_ctl topic down.big 16
start_worker down --kafka-brokers "$KAFKA_BROKERS" --kafka-domains big --kafka-group kafka_down --kafka-topic "down.<domain>"
kafka_ctl down -1
for i in 1 2 3 4; do sleep 3; echo "  brokers down, $((i * 3)) s: $(rss "$WORKER_PID"); $(load)"; done
kafka_ctl up -1
kafka_ctl rtt -1 500
for i in 1 2 3 4; do sleep 3; echo "  RTT 500 ms, $((i * 3)) s: $(rss "$WORKER_PID"); lag $(q -c "SELECT sum(seq_lag) FROM intentlog.lag WHERE group_name = 'kafka_down'"); $(load)"; done
kafka_ctl rtt -1 0
wait_drained kafka_down
echo "  drained after the faults: $(rss "$WORKER_PID"); $(load)"
