#!/usr/bin/env bash
# Where time goes on the append path: instructions per append (valgrind
# callgrind, deterministic, immune to the noise of a shared machine) of each
# variant of bench/append.sh, plus a per-function breakdown of intent_append.
#
#   bench/profile_append.sh [--n 1000] [--out DIR] [--scripts "single_durable single_emit ..."] [--sync-commit on]
#
# Runs the statements of bench/scripts/*.sql as prepared statements in a
# single-user backend (postgres --single) under callgrind, twice per variant
# (N0 and N0+N statements, one transaction each), and reports
# (Ir(N0+N) - Ir(N0)) / N: the instructions one append costs, commit included
# (WAL flush waits are not instructions: see append.sh for those).
# synchronous_commit is off unless --sync-commit on: staged appends take the
# hot table only in transactions whose commit would otherwise not flush, so
# profile staged with it on.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=1000
N0=100
SYNC_COMMIT=off
OUT=""
SCRIPTS="single_durable single_staged single_plain single_unlogged single_pgq single_emit
         batch_durable batch_staged batch_plain batch_unlogged batch_pgq batch_emit"
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift ;;
    --out) OUT=$2; shift ;;
    --scripts) SCRIPTS=$2; shift ;;
    --sync-commit) SYNC_COMMIT=$2; shift ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
export INTENTLOG_RUNDIR=${INTENTLOG_BENCH_RUNDIR:-/tmp/intentlog-bench.$(id -u)}
PG="$ROOT/scripts/pg.sh"
CLUSTER="profile-$$"
[ -n "$OUT" ] || OUT="$HERE/out/profile-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"; chmod 777 "$OUT"
OUT=$(cd "$OUT" && pwd)

"$PG" install
trap '"$PG" stop "$CLUSTER" --rm || true' EXIT
"$PG" start "$CLUSTER"
eval "$("$PG" env "$CLUSTER")"
psql -X -q -v ON_ERROR_STOP=1 -f "$HERE/setup.sql" >/dev/null
"$PG" stop "$CLUSTER"
DATA=$("$PG" dir "$CLUSTER")/data
BIN=$("$PG" bindir)

# The statement of bench/scripts/<shape>_<variant>.sql, on one line, with :k as $1.
statement() {
  grep -v '^\\' "$HERE/scripts/$1.sql" | grep -v -E '^(BEGIN|END);' | tr '\n' ' ' | sed 's/:k/$1/g; s/  */ /g'
}

# gen FILE STATEMENT COUNT: a single-user-mode script, one statement per line.
gen() {
  local f=$1 stmt=$2 count=$3
  {
    echo "PREPARE p(int) AS $stmt"
    awk -v n="$count" 'BEGIN { srand(42); for (i = 0; i < n; i++) printf "EXECUTE p(%d);\n", 1 + int(rand() * 100000) }'
  } >"$f"
}

run_cg() {  # run_cg NAME INPUT -> callgrind file
  runuser -u postgres -- valgrind --tool=callgrind --callgrind-out-file="$OUT/$1.cg" \
    "$BIN/postgres" --single -D "$DATA" -c synchronous_commit="$SYNC_COMMIT" -c shared_preload_libraries=intentlog \
    postgres <"$2" >"$OUT/$1.out" 2>"$OUT/$1.valgrind.log"
  grep -E '^(==[0-9]+== )?Collected' "$OUT/$1.valgrind.log" | awk '{print $NF}'
}

printf '| variant | statement | instructions per statement | per intent |\n|---|---|---:|---:|\n' >"$OUT/profile.md"
for name in $SCRIPTS; do
  script=$name
  stmt=$(statement "$script")
  label=$script
  per=1; n=$N; n0=$N0
  case $script in batch_*) per=100; n=$((N / 10)); n0=$((N0 / 10)) ;; esac
  tag=$name
  gen "$OUT/$tag.a.sql" "$stmt" "$n0"
  gen "$OUT/$tag.b.sql" "$stmt" "$((n0 + n))"
  a=$(run_cg "$tag.a" "$OUT/$tag.a.sql")
  b=$(run_cg "$tag.b" "$OUT/$tag.b.sql")
  ir=$(( (b - a) / n ))
  echo "$label: $ir instructions per statement" >&2
  printf '| %s | %s | %s | %s |\n' "$label" "$n0+$n EXECUTEs" "$ir" "$((ir / per))" >>"$OUT/profile.md"
done
cat "$OUT/profile.md"
echo "callgrind files in $OUT (callgrind_annotate --inclusive=yes FILE)" >&2
