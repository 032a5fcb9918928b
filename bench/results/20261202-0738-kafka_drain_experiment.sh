#!/usr/bin/env bash
# Kafka drain experiment: which limit binds? KEYS distinct keys, N intents, variants of worker options.
set -euo pipefail
HERE=/work/wt-14
N=${N:-100000}
export INTENTLOG_RUNDIR=/tmp/il-kexp
source "$HERE/bench/lib.sh"
bench_cluster kexp 0 900
source "$HERE/test/integration/lib/kafka.sh"
make_db
start_kafka
load() { cut -d' ' -f1 /proc/loadavg; }
drained() { [ "$(q -c "SELECT count(*) FILTER (WHERE seq_lag = 0) FROM intentlog.lag WHERE group_name = '$1' AND domain = '$2'")" = 16 ]; }
mk() { # mk DOMAIN KEYS
  q -c "SELECT intentlog.create_domain('$1', partitions => 16)" >/dev/null
  q -c "DO \$\$ BEGIN FOR b IN 1..($N / 10000) LOOP
          PERFORM intentlog.intent_append_batch('$1',
            (SELECT array_agg('key-' || ((b * 10000 + i) % $2)) FROM generate_series(1, 10000) i),
            (SELECT array_agg('set'::text) FROM generate_series(1, 10000) i),
            (SELECT array_agg(convert_to(repeat('x', 50) || i, 'UTF8')) FROM generate_series(1, 10000) i));
          COMMIT; END LOOP; END \$\$"
}
mk k5000 5000
mk kuniq 100000000
n=0
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime+stime, clock ticks
PMPID=$(head -1 "$("$HERE/scripts/pg.sh" dir "$BENCH_CLUSTER")/data/postmaster.pid" 2>/dev/null || head -1 "$("$HERE/scripts/pg.sh" dir "$BENCH_CLUSTER")/postmaster.pid")
pgcpu() { local t=0; for p in $(pgrep -P "$PMPID"); do t=$((t + $(cpu $p 2>/dev/null || echo 0))); done; echo $t; }
run() { # run DOMAIN LABEL worker-options...
  local d=$1 label=$2; shift 2; n=$((n+1))
  kafka_ctl topic "t$n.$d" 16
  local start=$(date +%s%N) m0=$(cpu $KAFKA_PID) p0=$(pgcpu)
  start_worker "w$n" --kafka-brokers "$KAFKA_BROKERS" --kafka-domains "$d" --kafka-group "g$n" --kafka-topic "t$n.<domain>" "$@"
  until drained "g$n" "$d"; do sleep 0.05; done
  local ms=$(( ($(date +%s%N) - start) / 1000000 )) w=$(cpu $WORKER_PID) m1=$(cpu $KAFKA_PID) p1=$(pgcpu)
  for t in /proc/$WORKER_PID/task/*; do echo "   thread $(cat $t/comm): $(awk '{print $14+$15}' $t/stat)"; done | sort -k3 -t: -n -r | head -8
  kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true; cp "$SCRATCH/worker-w$n.log" /tmp/kexp/w$n.log
  echo "$label: $ms ms $(( N * 1000 / ms ))/s load $(load) cpu(ticks) worker=$w mock=$((m1-m0)) pg=$((p1-p0)) | $(grep -o 'report_ms_avg=[0-9.]* report_ms_max=[0-9.]*' "$SCRATCH/worker-w$n.log" 2>/dev/null | tail -1)"
}
sockrun() { # sockrun DOMAIN LABEL
  local d=$1 label=$2; n=$((n+1))
  start_worker "s$n"
  local start=$(date +%s%N)
  "$TAIL_BIN" --connect "unix:$SCRATCH/s$n.sock" --group "sg$n" --domain "$d" --limit "$N" --credit 10000 >/dev/null 2>&1
  local ms=$(( ($(date +%s%N) - start) / 1000000 )) w=$(cpu $WORKER_PID)
  kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
  echo "$label: $ms ms $(( N * 1000 / ms ))/s load $(load) cpu(ticks) worker=$w"
}
for r in 1 2; do
  run k5000 "kafka 5000keys default"
  run k5000 "kafka 5000keys nagle-off" -X socket.nagle.disable=true
done
