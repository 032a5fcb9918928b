#!/usr/bin/env bash
# End to end (issue 19, goals 5 and 6): append, intentlog-worker and one
# consumer running at once on this machine, on a durable 16-partition domain.
#   (a) sustained: pgbench -M prepared, --clients clients, each transaction one
#       intent_append_batch of --batch intents, one worker, one intentlog-tail
#       reading along, for --secs: appended and received intents/s, p50/p99/max
#       commit -> receipt, how far the consumer was behind when the producers
#       stopped, CPU per process and the bottleneck; goal >= 100k intents/s
#       sustained with p99 < 1 s.
#   (b) single intents: the highest sustained rate of one intent_append per
#       transaction (--single-clients clients, worker and consumer reading
#       along), then at half of it (pgbench -R) the p99 of the commit alone
#       (pgbench --log, no worker or consumer running) against p99 commit ->
#       receipt (worker and consumer running), alternating, per round; goal
#       receipt p99 <= commit p99 + 5 ms.
#   (d) offered rates: the producers of (a) throttled (pgbench -R) to each of
#       --rates intents/s, all cores, 1 worker: whether the pipeline sustains
#       the rate (appended at the offered rate, received as fast, p99 < 1 s,
#       caught up within 1 s). Goal 5a is judged here, at 100,000/s: (a)'s
#       unthrottled producers take all the CPU they can, so (a) shows the
#       highest append rate, not a rate the pipeline sustains.
#   (c) the scaling matrix: (a) with the server, pgbench, the worker(s) and
#       the consumer(s) pinned with taskset to 1 and to 2 cores, with 1 and 2
#       workers (2 workers split the partitions through leases; one tail per
#       worker, both in the same consumer group).
# Every measurement starts on a fresh domain after a CHECKPOINT, and checks that
# every appended intent was received (counted, and the group's cursors at the
# end of the log); a process that dies or an intent not received fails the run.
# The cells of (a)/(c) run in every round, starting from a different cell each
# round; figures are medians over the rounds.
#
#   bench/e2e.sh [--quick] [--secs S] [--rounds N] [--clients C] [--batch B]
#                [--cells "CORES:WORKERS ..."] [--rates "R ..."] [--single-clients C] [--no-single]
#                [--single-rate R] [--out DIR] [--no-build]
#
# Defaults: --secs 10 --rounds 3 --clients 8 --batch 100 --cells "1:1 1:2 2:1 2:2"
# (plus all:1, unpinned, when the machine has more than 2 cores) --rates "100000 75000 50000"
# --single-clients 4; ~12 min on 2 cores. --quick: --secs 5 --rounds 2, output
# to bench/out/ (~3 min). CORES: a count (taskset -c 0..CORES-1) or "all".
# --single-rate R: (b) at R intents/s instead of half the highest sustained
# rate, to compare builds at the same load (5b is then not judged).
# Goal (a) is judged on the cell with the most cores and 1 worker.
# Writes OUT/STAMP-e2e.tsv (one line per measurement) and OUT/STAMP-e2e.md (the
# printed report); OUT is bench/results (bench/out with --quick).
# Starts a throwaway cluster of its own (scripts/pg.sh under $INTENTLOG_RUNDIR,
# default /tmp/intentlog-bench-e2e.$UID) and removes it on exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*"
SECS=10 ROUNDS=3 CLIENTS=8 BATCH=100 CELLS="" RATES="100000 75000 50000" SCLIENTS=4 SINGLE=1 SRATE="" OUT="" BUILD=1
QUICK=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; SECS=5; ROUNDS=2; shift ;;
    --secs) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --cells) CELLS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --single-clients) SCLIENTS=$2; shift 2 ;;
    --no-single) SINGLE=0; shift ;;
    --single-rate) SRATE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) sed -n '2,46p' "$0"; exit 2 ;;
  esac
done
[ "$SECS" -ge 4 ] || { echo "--secs must be >= 4" >&2; exit 2; }
NCPU=$(nproc)
if [ -z "$CELLS" ]; then
  CELLS="1:1 1:2 2:1 2:2"
  [ "$NCPU" -gt 2 ] && CELLS="$CELLS all:1"
fi
for c in $CELLS; do
  cores=${c%:*} workers=${c#*:}
  { [ "$cores" = all ] || [ "$cores" -ge 1 ] 2>/dev/null; } && [ "$workers" -ge 1 ] 2>/dev/null \
    || { echo "bad cell $c (CORES:WORKERS)" >&2; exit 2; }
  [ "$cores" = all ] || [ "$cores" -le "$NCPU" ] || { echo "cell $c: only $NCPU cores" >&2; exit 2; }
done
if [ -z "$OUT" ]; then
  if [ $QUICK = 1 ]; then OUT=$HERE/bench/out; else OUT=$HERE/bench/results; fi
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAMP=$(date +%Y%m%d-%H%M)
TSV=$OUT/$STAMP-e2e.tsv MD=$OUT/$STAMP-e2e.md RAWDIR=$OUT/$STAMP-e2e

export INTENTLOG_RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-bench-e2e.$(id -u)}
NCELLS=$(wc -w <<<"$CELLS")
source "$HERE/bench/lib.sh"
NRATES=$(wc -w <<<"$RATES")
bench_cluster e2e "$BUILD" $((300 + (ROUNDS * (NCELLS + NRATES + 2 * SINGLE) + SINGLE) * (SECS + 90)))
STATS="$PY $HERE/bench/e2e_stats.py"
PGDATA_DIR=$INTENTLOG_RUNDIR/clusters/$BENCH_CLUSTER/data

make_db
# safe.directory: only reading the commit of a tree another user may own.
git_here() { git -C "$HERE" -c safe.directory="$HERE" "$@" 2>/dev/null; }
BUILD_ID=$(git_here rev-parse --short HEAD) || BUILD_ID=unknown
[ -z "$(git_here status --porcelain -- src sql proto)" ] || BUILD_ID="$BUILD_ID+uncommitted"

# The payload is the producer's clock in the appending statement
# (clock_timestamp(), microseconds, zero-padded to 45 bytes like the payload of
# bench/append.sh): taken before the commit, so commit -> receipt includes the
# rest of the statement and the commit itself.
cat >"$SCRATCH/batch.sql" <<'SQL'
\set k random(1, 100000)
SELECT count(*) FROM intentlog.intent_append_batch('e2e',
  ARRAY(SELECT 'acct-' || (1 + (:k + g) % 100000) FROM generate_series(1, :batch::int) g),
  array_fill('upsert'::text, ARRAY[:batch::int]),
  array_fill(convert_to(lpad((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 45, '0'), 'UTF8'),
             ARRAY[:batch::int]));
SQL
cat >"$SCRATCH/single.sql" <<'SQL'
\set k random(1, 100000)
SELECT intentlog.intent_append('e2e', 'acct-' || :k, 'upsert',
  convert_to(lpad((extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text, 45, '0'), 'UTF8'));
SQL

cpus_of() {  # cpus_of CORES -> the taskset cpu list
  if [ "$1" = all ]; then echo "0-$((NCPU - 1))"; else echo "0-$(($1 - 1))"; fi
}
ncores_of() { if [ "$1" = all ]; then echo "$NCPU"; else echo "$1"; fi; }

# pin_server CPUS: the postmaster and every process it has forked (new
# backends inherit the postmaster's affinity).
pin_server() {
  local pm c
  pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
  taskset -a -p -c "$1" "$pm" >/dev/null
  for c in $(pgrep -P "$pm"); do taskset -a -p -c "$1" "$c" >/dev/null 2>&1 || true; done
}

# watch_cpu CPUS: starts the sampler of every process of the measurement (sets M_WATCH).
watch_cpu() {
  local pm pid specs=()
  pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
  for pid in $(pgrep -P "$pm"); do specs+=("$pid:${PG_CAT[$pid]:-pg-background}"); done
  specs+=("$pm:postmaster")
  for pid in ${M_PGBENCH_PID:-}; do specs+=("$pid:pgbench"); done
  for pid in "${M_WORKERS[@]}"; do specs+=("$pid:worker"); done
  for pid in "${M_TAILS[@]}"; do specs+=("$pid:tail"); done
  for pid in "${M_STAMPERS[@]}"; do specs+=("$pid:stamper"); done
  E2E_CPUS=$1 $STATS watch "$SCRATCH/cpu0-$M_LABEL" "$SCRATCH/cpu1-$M_LABEL" "${specs[@]}" &
  M_WATCH=$!
  PIDS+=("$M_WATCH")
  for _ in $(seq 100); do [ -s "$SCRATCH/cpu0-$M_LABEL" ] && return 0; sleep 0.1; done
  fail "the CPU sampler did not start"
}

now_us() { date +%s%6N; }

# steal_pct "cpu ..." "cpu ...": steal time between two /proc/stat cpu lines,
# in % of all the CPU time between them.
steal_pct() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x); split(b, y); total = 0
    for (i = 2; i <= n; i++) total += y[i] - x[i]
    printf "%.0f", (total > 0 ? 100 * (y[9] - x[9]) / total : 0)
  }'
}

alive() {  # alive PIDS...: fail if one of them has exited
  local p
  for p in "$@"; do kill -0 "$p" 2>/dev/null || fail "process $p ($(cat "$SCRATCH/what-$p" 2>/dev/null)) died during $M_LABEL"; done
}

received_count() { cat "$@" 2>/dev/null | awk '{s += $3} END {print s + 0}'; }

# measure LABEL CORES WORKERS SCRIPT CLIENTS [pgbench options...]: one run on a
# fresh domain; WORKERS 0 = pgbench alone (the commit-alone baseline). Sets M_*.
measure() {
  M_LABEL=$1
  local cores=$2 workers=$3 script=$4 clients=$5; shift 5
  local cpus ncores i name raw fifo log t0 tend appended got lag group=g-$M_LABEL
  cpus=$(cpus_of "$cores") ncores=$(ncores_of "$cores")
  q -c "SELECT intentlog.drop_domain('e2e') FROM intentlog.domains WHERE name = 'e2e'" >/dev/null
  q -c "SELECT intentlog.create_domain('e2e', partitions => 16)" >/dev/null  # durable
  pin_server "$cpus"
  M_WORKERS=() M_TAILS=() M_STAMPERS=() M_RAWS=() M_PGBENCH_PID=""
  for i in $(seq "$workers"); do
    name=w$i-$M_LABEL
    start_worker "$name" --lease-ttl-ms 2000
    taskset -a -p -c "$cpus" "$WORKER_PID" >/dev/null
    M_WORKERS+=("$WORKER_PID")
    echo "worker $name" >"$SCRATCH/what-$WORKER_PID"
  done
  for i in $(seq "$workers"); do
    raw=$SCRATCH/raw-$M_LABEL-$i fifo=$SCRATCH/fifo-$M_LABEL-$i
    mkfifo "$fifo"
    taskset -c "$cpus" $STATS stamp "$raw" <"$fifo" &
    M_STAMPERS+=($!) PIDS+=($!) M_RAWS+=("$raw")
    echo "stamper $i" >"$SCRATCH/what-$!"
    taskset -c "$cpus" "$TAIL_BIN" --connect "$(sock "w$i-$M_LABEL")" --group "$group" --domain e2e --from latest \
      --credit 10000 --client-name "tail-$i" >"$fifo" 2>"$SCRATCH/tail-$M_LABEL-$i.err" &
    M_TAILS+=($!) PIDS+=($!)
    echo "intentlog-tail $i" >"$SCRATCH/what-$!"
    for _ in $(seq 100); do grep -qs connected "$SCRATCH/tail-$M_LABEL-$i.err" && break; sleep 0.1; done
    grep -qs connected "$SCRATCH/tail-$M_LABEL-$i.err" || fail "tail $i did not connect: $(cat "$SCRATCH/tail-$M_LABEL-$i.err")"
  done
  if [ "$workers" -gt 0 ]; then
    # Every worker holds its share of the group's 16 partitions before the load starts.
    local want split
    want=$(for i in $(seq "$workers"); do echo "w$i-$M_LABEL=$((16 / workers + (i <= 16 % workers ? 1 : 0)))"; done | paste -sd' ')
    for _ in $(seq 300); do
      split=$(q -c "SELECT string_agg(worker_id || '=' || n, ' ' ORDER BY worker_id) FROM (SELECT worker_id, count(*) n
                    FROM intentlog.leases WHERE group_name = '$group' AND expires_at > now() GROUP BY 1) s")
      [ "$split" = "$want" ] && break
      sleep 0.1
    done
    [ "$split" = "$want" ] || fail "$M_LABEL: leases not split as $want: $split"
  fi
  # The backends of the worker(s) by pid; those that appear once pgbench runs are pgbench's.
  declare -gA PG_CAT=()
  local pid
  while read -r pid; do PG_CAT[$pid]=pg-backend:worker; done < <(q -c "SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> pg_backend_pid()")
  q -c "CHECKPOINT"  # every run starts from the same WAL state (full-page writes included)
  sleep 1            # the group's position is taken before the first append
  M_LOAD=$(cut -d' ' -f1 /proc/loadavg)
  stat0=$(head -1 /proc/stat)
  log=$SCRATCH/pgbench-$M_LABEL
  t0=$(now_us)
  taskset -c "$cpus" pgbench -n -M prepared -c "$clients" -j 2 -T "$SECS" -D batch="$BATCH" "$@" \
    -f "$SCRATCH/$script.sql" >"$log" 2>&1 &
  M_PGBENCH_PID=$!
  PIDS+=("$M_PGBENCH_PID")
  watch_cpu "$cpus"
  sleep "$(awk -v t0="$t0" -v now="$(now_us)" -v s="$SECS" 'BEGIN {d = (t0 + s * 1e6 - now) / 1e6; printf "%.2f", (d > 0 ? d : 0)}')"
  alive "${M_WORKERS[@]}" "${M_TAILS[@]}" "${M_STAMPERS[@]}"
  wait "$M_PGBENCH_PID" || fail "pgbench ($M_LABEL): $(tail -3 "$log")"
  tend=$(now_us)
  # The share of the machine's CPU time the hypervisor gave to others while
  # the producers ran (/proc/stat "steal"): on a shared host it moves every
  # figure of the run.
  M_LOAD="$M_LOAD st $(steal_pct "$stat0" "$(head -1 /proc/stat)")%"
  kill "$M_WATCH"
  wait "$M_WATCH" || fail "the CPU sampler failed"
  M_PGBENCH_PID=""
  M_TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$log" | head -1)
  M_APPENDED_RATE=$(awk -v t="$M_TPS" -v b="$([ "$script" = batch ] && echo "$BATCH" || echo 1)" 'BEGIN {printf "%.0f", t * b}')
  M_FAILED=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
  [ "${M_FAILED:-0}" = 0 ] || fail "$M_LABEL: pgbench reports $M_FAILED failed transactions"
  appended=$(q -c "SELECT count(*) FROM intentlog_data.e2e")
  M_APPENDED=$appended
  M_CPU_SECS=$(sed -n '1s/^# //p' "$SCRATCH/cpu1-$M_LABEL")
  M_NCORES=$ncores
  M_RECV="-" M_N="-" M_P50="-" M_P99="-" M_P999="-" M_MAX="-" M_ARATE="-" M_RRATE="-" M_BEHIND="-" M_CATCHUP="-" M_REDELIVERED="-"
  if [ "$workers" -gt 0 ]; then
    # Every appended intent must arrive, and the group's cursors reach the end of the log.
    for _ in $(seq 600); do
      got=$(received_count "${M_RAWS[@]}")
      [ "$got" -ge "$appended" ] && break
      alive "${M_WORKERS[@]}" "${M_TAILS[@]}" "${M_STAMPERS[@]}"
      sleep 0.1
    done
    [ "$got" -ge "$appended" ] || fail "$M_LABEL: $appended intents appended, $got received within 60 s"
    for _ in $(seq 100); do
      lag=$(q -c "SELECT coalesce(sum(seq_lag), -1) FROM intentlog.lag WHERE group_name = '$group'")
      [ "$lag" = 0 ] && break
      sleep 0.1
    done
    [ "$lag" = 0 ] || fail "$M_LABEL: the group's cursors are $lag seqs behind the log after every intent arrived"
    alive "${M_WORKERS[@]}" "${M_TAILS[@]}" "${M_STAMPERS[@]}"
    for pid in "${M_TAILS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    for pid in "${M_STAMPERS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${M_WORKERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    cat "${M_RAWS[@]}" >"$SCRATCH/raw-$M_LABEL"
    read -r M_RECV M_N M_P50 M_P99 M_P999 M_MAX M_ARATE M_RRATE M_BEHIND M_CATCHUP M_REDELIVERED \
      <<<"$($STATS summary "$SCRATCH/raw-$M_LABEL" 1 "$t0" "$tend")"
    [ "$M_RECV" -ge "$appended" ] || fail "$M_LABEL: $appended appended, $M_RECV received"
  fi
  $STATS cpu "$SCRATCH/cpu0-$M_LABEL" "$SCRATCH/cpu1-$M_LABEL" "$M_CPU_SECS" "$ncores" "$M_APPENDED_RATE" "$M_RRATE" \
    >"$SCRATCH/cpu-$M_LABEL"
  M_BOTTLENECK=$(sed -n 's/^bottleneck: //p' "$SCRATCH/cpu-$M_LABEL")

  # category=pct% (busiest one pct%, us per intent)
  M_CPU=$(grep -v '^bottleneck\|^#' "$SCRATCH/cpu-$M_LABEL" | awk '$2 >= 1 {printf "%s%s=%s%% (%s%%, %sus)", sep, $1, $2, $3, $4; sep=", "}')
  M_PGLOG=("$SCRATCH"/pgl-"$M_LABEL".*)
  rm -f "$SCRATCH"/fifo-"$M_LABEL"-*
  # What each figure came from, kept next to the report.
  mkdir -p "$RAWDIR/$M_LABEL"
  echo "t0_us=$t0 pgbench_end_us=$tend cpu_window_s=$M_CPU_SECS" >"$RAWDIR/$M_LABEL/times"
  cp "$log" "$SCRATCH"/cpu*-"$M_LABEL" "$RAWDIR/$M_LABEL/"
  for i in $(seq "$workers"); do cp "$SCRATCH/worker-w$i-$M_LABEL.log" "$SCRATCH/tail-$M_LABEL-$i.err" "$RAWDIR/$M_LABEL/"; done
}

printf 'part\tround\tcores\tworkers\tclients\tbatch\toffered\tappended_per_s\treceived_per_s\tappended\treceived\tn\tp50_ms\tp99_ms\tp999_ms\tmax_ms\tcommit_p99_ms\tbehind_at_end\tcatchup_ms\tredelivered\tload1\tcpu\tbottleneck\n' >"$TSV"

row() {  # row PART ROUND CORES WORKERS CLIENTS BATCH OFFERED COMMIT_P99
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$M_APPENDED_RATE" "$M_RRATE" "$M_APPENDED" "$M_RECV" "$M_N" "$M_P50" \
    "$M_P99" "$M_P999" "$M_MAX" "$8" "$M_BEHIND" "$M_CATCHUP" "$M_REDELIVERED" "$M_LOAD" "$M_CPU" "$M_BOTTLENECK" >>"$TSV"
}

say() { echo "$*" >&2; }
say "bench/e2e.sh $ARGS: build $BUILD_ID, $NCPU cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# (a) and (c): every cell each round, the starting cell rotating.
read -ra cells <<<"$CELLS"
for r in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((NCELLS - 1))); do
    c=${cells[$(((k + r - 1) % NCELLS))]}
    cores=${c%:*} workers=${c#*:}
    say "== round $r: batch($BATCH), $CLIENTS clients, $cores core(s), $workers worker(s), ${SECS}s"
    measure "b$r-$cores-$workers" "$cores" "$workers" batch "$CLIENTS"
    row sustained "$r" "$cores" "$workers" "$CLIENTS" "$BATCH" - -
    say "   appended $M_APPENDED_RATE/s, received $M_RRATE/s, p50 $M_P50 p99 $M_P99 max $M_MAX ms," \
      "behind at end $M_BEHIND (caught up in $M_CATCHUP ms), load $M_LOAD"
    say "   cpu: $M_CPU"
    say "   $M_BOTTLENECK"
  done
done

# (d): offered rates, the starting rate rotating each round.
read -ra rates <<<"$RATES"
for rate in "${rates[@]}"; do [ "$rate" -ge "$BATCH" ] 2>/dev/null || { echo "bad rate $rate" >&2; exit 2; }; done
for r in $(seq "$ROUNDS"); do
  for k in $(seq 0 $((${#rates[@]} - 1))); do
    rate=${rates[$(((k + r - 1) % ${#rates[@]}))]}
    say "== round $r: batch($BATCH), $CLIENTS clients throttled to $rate intents/s, all cores, 1 worker, ${SECS}s"
    measure "o$r-$rate" all 1 batch "$CLIENTS" -R "$(((rate + BATCH / 2) / BATCH))"
    row offered "$r" all 1 "$CLIENTS" "$BATCH" "$rate" -
    say "   appended $M_APPENDED_RATE/s, received $M_RRATE/s, p50 $M_P50 p99 $M_P99 max $M_MAX ms," \
      "behind at end $M_BEHIND (caught up in $M_CATCHUP ms), load $M_LOAD"
    say "   cpu: $M_CPU"
  done
done

# (b): single intents at half the highest sustained rate.
if [ $SINGLE = 1 ]; then
  if [ -n "$SRATE" ]; then
    HALF=$SRATE  # a fixed rate: builds compared at the same load (goal 5b is not judged)
  else
    say "== single: highest sustained rate, $SCLIENTS clients unthrottled, all cores, 1 worker, ${SECS}s"
    measure "smax" all 1 single "$SCLIENTS"
    row single-max - all 1 "$SCLIENTS" 1 - -
    SMAX=$(awk -v a="$M_APPENDED_RATE" -v r="$M_RRATE" 'BEGIN {printf "%d", (a < r ? a : r)}')
    [ "$SMAX" -gt 0 ] || fail "highest sustained single-intent rate is 0"
    HALF=$(( (SMAX + 1) / 2 ))
    say "   appended $M_APPENDED_RATE/s, received $M_RRATE/s: highest sustained $SMAX/s; half: $HALF/s"
  fi
  for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="0 1"; else order="1 0"; fi
    for workers in $order; do
      say "== round $r: single, -R $HALF, $SCLIENTS clients, $([ "$workers" = 0 ] && echo "commit alone" || echo "worker and consumer running")"
      measure "s$r-$workers" all "$workers" single "$SCLIENTS" -R "$HALF" -l --log-prefix="$SCRATCH/pgl-s$r-$workers"
      read -r _ cp99 <<<"$($STATS pgbench_log 99 1 "${M_PGLOG[@]}")"
      row "single-half-$([ "$workers" = 0 ] && echo commit || echo e2e)" "$r" all "$workers" "$SCLIENTS" 1 "$HALF" "$cp99"
      say "   appended $M_APPENDED_RATE/s, commit p99 $cp99 ms (pgbench), commit -> receipt p99 $M_P99 ms, load $M_LOAD"
    done
  done
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "bench/e2e.sh $ARGS"
  echo "build $BUILD_ID, $NCPU cores, $(free -g | awk '/Mem:/ {print $2}') GB; load $LOAD_START at start, $LOAD_END at end;" \
    "durable domain, 16 partitions, fresh per measurement, after a CHECKPOINT; pgbench -M prepared -j 2, ${SECS}s per measurement," \
    "$ROUNDS rounds; intentlog-tail (JSON) per worker, same consumer group; warm-up second discarded;" \
    "latency stamp = clock_timestamp() in the appending statement (before the commit), receipt = when the consumer printed it"
  echo
  $PY "$HERE/bench/e2e_report.py" "$TSV" "$NCPU"
} >"$MD"
cat "$MD"
echo
echo "data: $TSV"
echo "report: $MD"
echo "per measurement (pgbench output, CPU samples, worker logs): $RAWDIR/"
