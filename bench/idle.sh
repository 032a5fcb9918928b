#!/usr/bin/env bash
# Idle partitions must be free (issue 19, goal 4): what 16 -> 1,024 partitions
# cost in CPU when nothing is appended, and under the same small load.
#
# One database per partition count N (N/8 domains of 8 partitions, every
# other one staged: staged partitions have promotion work). Each round visits
# every N (ascending in odd rounds, descending in even ones): it starts an
# intentlog-worker on that database and an intentlog-tail subscribed to all
# its domains, lets them settle, then measures over a window of --secs
#   idle    nothing appended;
#   loaded  pgbench -R RATE appending one intent per transaction, half to a
#           durable domain, half to a staged one (the same load for every N);
# the CPU time (/proc/PID/schedstat) of
#   maint    the database's intentlog maintenance background worker,
#   worker   the intentlog-worker process,
#   wbackend the PostgreSQL backends of the worker's connections
#            (pg_stat_activity, application_name = intentlog-bench-worker),
# and prints % of a core per component, per N and round, with medians, the
# load average and the build. Goals (MET/MISSED):
#   idle:    at 1,024 partitions maint <= 1% and worker + wbackend <= 1%;
#   follows: cost follows activity, not the number of partitions: idle at
#            1,024 as above, and loaded at 1,024 <= 1.5x loaded at 16 for
#            maint and for worker + wbackend.
#
#   bench/idle.sh [--rounds N] [--secs S] [--settle S] [--rate R] [--parts "16 64 256 1024"]
#                 [--no-build] [--label TEXT]
#
# Starts a throwaway cluster of its own (scripts/pg.sh under $INTENTLOG_RUNDIR,
# default /tmp/intentlog-bench-idle.$UID) and removes it on exit; needs
# intentlog-worker and intentlog-tail in $BUILD_DIR (default build/).
# --no-build: use the extension installed under $INTENTLOG_RUNDIR as it is
# (e.g. an older build, with BUILD_DIR pointing at its programs); --label
# names that build in the report instead of this tree's commit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ARGS="$*"
ROUNDS=3 SECS=10 SETTLE=10 RATE=1000 PARTS="16 64 256 1024" BUILD=1 LABEL=""
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --label) LABEL=$2; shift 2 ;;
    *) sed -n '2,33p' "$0"; exit 2 ;;
  esac
done
for n in $PARTS; do
  [ $((n % 16)) = 0 ] && [ "$n" -ge 16 ] || { echo "--parts: multiples of 16 only" >&2; exit 2; }  # 2+ domains of 8
done
export INTENTLOG_RUNDIR=${INTENTLOG_RUNDIR:-/tmp/intentlog-bench-idle.$(id -u)}
NPARTS=$(wc -w <<<"$PARTS")
source "$HERE/bench/lib.sh"
bench_cluster idle "$BUILD" $((900 + ROUNDS * NPARTS * (2 * SECS + SETTLE + 40)))

git_here() { git -C "$HERE" -c safe.directory="$HERE" "$@" 2>/dev/null; }
if [ -n "$LABEL" ]; then
  BUILD_ID=$LABEL
else
  BUILD_ID=$(git_here rev-parse --short HEAD) || BUILD_ID=unknown
  [ -z "$(git_here status --porcelain -- src sql proto)" ] || BUILD_ID="$BUILD_ID+uncommitted"
fi
APP=intentlog-bench-worker
TICKS=$(getconf CLK_TCK)

db_of() { echo "${TEST_DB}_n$1"; }
domains_of() { local i; for ((i = 0; i < $1 / 8; i++)); do printf 'd%03d\n' "$i"; done; }

# Every database and its domains first (even domains durable, odd staged).
echo "== creating $(echo "$PARTS" | tr ' ' '+') partitions" >&2
for n in $PARTS; do
  db=$(db_of "$n")
  psql -XAtq -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
  psql -XAtq -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION intentlog" \
    -c "SELECT count(intentlog.create_domain(format('d%s', lpad(i::text, 3, '0')), partitions => 8,
                 durability => CASE WHEN i % 2 = 0 THEN 'durable' ELSE 'staged' END))
          FROM generate_series(0, $n / 8 - 1) i" >/dev/null
done

cat >"$SCRATCH/load.sql" <<'SQL'
\set k random(1, 10000)
\set d random(0, 1)
SELECT intentlog.intent_append(CASE WHEN :d = 0 THEN 'd000' ELSE 'd001' END, 'k' || :k, 'set', '\x0801'::bytea);
SQL

# cpu_ns PID...: CPU time of the processes so far, in ns (exited ones count 0).
cpu_ns() {
  local p t=0 v
  for p in "$@"; do
    if [ -r "/proc/$p/schedstat" ]; then
      read -r v _ <"/proc/$p/schedstat" || v=0
    elif [ -r "/proc/$p/stat" ]; then
      v=$(awk -v t="$TICKS" '{ print ($14 + $15) * 1000000000 / t }' "/proc/$p/stat")
    else
      v=0
    fi
    t=$((t + ${v%.*}))
  done
  echo "$t"
}

maint_pids() {
  psql -XAtq -d postgres -c "SELECT pid FROM pg_stat_activity
                             WHERE backend_type = 'intentlog maintenance' AND datname = '$1'"
}
backend_pids() {
  psql -XAtq -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$APP' AND datname = '$1'"
}

# window N PHASE ROUND: one measurement window on N's database; appends a
# line "N phase round maint worker wbackend load1" (percent of a core) to $OUT.
window() {
  local n=$1 phase=$2 round=$3 db m b m0 w0 b0 m1 w1 b1 t0 t1 el
  db=$(db_of "$n")
  read -ra m <<<"$(maint_pids "$db" | tr '\n' ' ')"
  read -ra b <<<"$(backend_pids "$db" | tr '\n' ' ')"
  [ ${#m[@]} -gt 0 ] || fail "no maintenance worker in $db"
  [ ${#b[@]} -gt 0 ] || fail "no backend of the worker in $db"
  t0=$(date +%s%N) m0=$(cpu_ns "${m[@]}") w0=$(cpu_ns "$WORKER_PID") b0=$(cpu_ns "${b[@]}")
  sleep "$SECS"
  t1=$(date +%s%N) m1=$(cpu_ns "${m[@]}") w1=$(cpu_ns "$WORKER_PID") b1=$(cpu_ns "${b[@]}")
  el=$((t1 - t0))
  awk -v n="$n" -v ph="$phase" -v r="$round" -v el="$el" -v m=$((m1 - m0)) -v w=$((w1 - w0)) -v b=$((b1 - b0)) \
    -v l="$(cut -d' ' -f1 /proc/loadavg)" -v nb=${#b[@]} \
    'BEGIN { printf "%d %s %d %.3f %.3f %.3f %s %d\n", n, ph, r, 100*m/el, 100*w/el, 100*b/el, l, nb }' >>"$OUT"
}

OUT=$SCRATCH/windows
: >"$OUT"
echo "bench/idle.sh $ARGS"
echo "build $BUILD_ID, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start;" \
  "N partitions = N/8 domains x 8 (half durable, half staged), one intentlog-worker and one intentlog-tail" \
  "(all domains) per measured database, maintenance_naptime $(psql -XAtq -d postgres -c 'SHOW intentlog.maintenance_naptime');" \
  "windows of ${SECS}s after ${SETTLE}s settling; load: pgbench -R $RATE -c 2, half to d000 (durable), half to d001 (staged)"
printf '%-5s %-6s %5s %7s %7s %8s %7s %6s\n' N phase round maint% worker% wbackend% total% load1
for ((r = 1; r <= ROUNDS; r++)); do
  if [ $((r % 2)) = 1 ]; then order=$PARTS; else order=$(tr ' ' '\n' <<<"$PARTS" | tac | tr '\n' ' '); fi
  for n in $order; do
    db=$(db_of "$n")
    log="$SCRATCH/worker-n$n-r$r.log"
    "$WORKER_BIN" --db "dbname=$db application_name=$APP" --listen "unix:$SCRATCH/w$n.sock" --worker-id "w$n-$r" \
      >"$log" 2>&1 &
    WORKER_PID=$!
    PIDS+=("$WORKER_PID")
    for _ in $(seq 200); do grep -q 'event=started' "$log" && break; sleep 0.05; done
    grep -q 'event=started' "$log" || fail "worker for $n partitions did not start"
    doms=()
    while read -r d; do doms+=(--domain "$d"); done < <(domains_of "$n")
    "$TAIL_BIN" --connect "unix:$SCRATCH/w$n.sock" --group "idle$r" "${doms[@]}" --from latest \
      >/dev/null 2>"$SCRATCH/tail-n$n-r$r.err" &
    TAIL_PID=$!
    PIDS+=("$TAIL_PID")
    # Every domain's leases taken (bounded), then the settling time.
    for _ in $(seq 600); do [ "$(grep -c 'event=leases ' "$log")" -ge $((n / 8)) ] && break; sleep 0.1; done
    sleep "$SETTLE"
    window "$n" idle "$r"
    pgbench -n -M prepared -c 2 -j 1 -R "$RATE" -T $((SECS + 2)) -f "$SCRATCH/load.sql" "$db" \
      >"$SCRATCH/pgbench-n$n-r$r" 2>&1 &
    pgb=$!
    sleep 1
    window "$n" loaded "$r"
    wait "$pgb" || fail "pgbench: $(tail -3 "$SCRATCH/pgbench-n$n-r$r")"
    kill "$TAIL_PID" "$WORKER_PID" 2>/dev/null || true
    wait "$TAIL_PID" "$WORKER_PID" 2>/dev/null || true
    awk -v tps="$(sed -n 's/^tps = \([0-9]*\)\..*/\1/p' "$SCRATCH/pgbench-n$n-r$r" | head -1)" \
      '{ a[NR] = $0 } END { for (i = NR - 1; i <= NR; i++) { split(a[i], f, " ");
         printf "%-5s %-6s %5s %7.2f %7.2f %8.2f %7.2f %6s%s\n", f[1], f[2], f[3], f[4], f[5], f[6], f[4]+f[5]+f[6], f[7],
                (f[2] == "loaded" ? "  (" tps " intents/s)" : "") } }' "$OUT"
  done
done

# Medians per N and phase, and the verdicts.
/usr/bin/python3 - "$OUT" "$PARTS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
parts = [int(x) for x in sys.argv[2].split()]
med = {}
print("\nmedians (% of a core):")
print("%-5s %-6s %7s %7s %8s %7s %13s" % ("N", "phase", "maint", "worker", "wbackend", "total", "worker+wback"))
for n in parts:
    for ph in ("idle", "loaded"):
        sel = [r for r in rows if int(r[0]) == n and r[1] == ph]
        m = statistics.median(float(r[3]) for r in sel)
        w = statistics.median(float(r[4]) for r in sel)
        b = statistics.median(float(r[5]) for r in sel)
        wb = statistics.median(float(r[4]) + float(r[5]) for r in sel)
        med[(n, ph)] = (m, wb)
        print("%-5d %-6s %7.2f %7.2f %8.2f %7.2f %13.2f" % (n, ph, m, w, b, m + w + b, wb))
lo, hi = min(parts), max(parts)
m_idle, wb_idle = med[(hi, "idle")]
idle_met = m_idle <= 1.0 and wb_idle <= 1.0
print("\ngoal idle: at %d idle partitions maintenance %.2f%% and worker+backends %.2f%% of a core (each <= 1%%): %s"
      % (hi, m_idle, wb_idle, "MET" if idle_met else "MISSED"))
def ratio(a, b):
    return a / b if b > 0 else float("inf")
rm = ratio(med[(hi, "loaded")][0], med[(lo, "loaded")][0])
rw = ratio(med[(hi, "loaded")][1], med[(lo, "loaded")][1])
follows = idle_met and rm <= 1.5 and rw <= 1.5
print("goal follows activity: loaded %d / loaded %d partitions: maintenance %.2fx, worker+backends %.2fx (each <= 1.5x),"
      " and idle as above: %s" % (hi, lo, rm, rw, "MET" if follows else "MISSED"))
PY
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at end"
