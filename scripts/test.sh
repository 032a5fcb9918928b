#!/usr/bin/env bash
# Runs every intentlog test against the real thing: unit tests (GoogleTest),
# the SQL surface (pg_regress), concurrency properties (isolation tester),
# SQL properties (pgTAP), and end-to-end integration tests (real server, real
# worker, real consumers). Works as root (the server runs as `postgres`) and as
# an ordinary user. Ends with one line: "N passed, N failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"

scripts/install-deps.sh || exit 1
echo "== build"
make -s >/dev/null || { echo "extension build failed"; exit 1; }
make -s programs >/dev/null || { echo "programs build failed"; exit 1; }
scripts/pg.sh install || exit 1

passed=0
failed=0
failures=()
record() {  # record NAME STATUS
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); failures+=("$1"); echo "FAIL $1"; fi
}

echo "== style (clang-format, src/common plain C++)"
scripts/check-style.sh; rc=$?
record "style" $rc

echo "== unit tests (GoogleTest)"
(cd build && ctest --output-on-failure -j2 >ctest.log 2>&1); rc=$?
grep -E "tests passed|tests failed" build/ctest.log
[ $rc -ne 0 ] && tail -40 build/ctest.log
record "unit tests" $rc

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
# A build dir of its own with only the unit tests; any report fails the run.
{ cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DINTENTLOG_SANITIZE=ON >/dev/null &&
  cmake --build build/asan -j2 --target unit_tests &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/unit_tests --gtest_brief=1
} >build/asan.log 2>&1; rc=$?
grep -E "^\[  (PASSED|FAILED)  \]" build/asan.log
[ $rc -ne 0 ] && tail -40 build/asan.log
record "unit tests (ASan+UBSan)" $rc

CLUSTER=test-$$
trap 'scripts/pg.sh stop "$CLUSTER" --rm >/dev/null 2>&1' EXIT
scripts/pg.sh start "$CLUSTER" || exit 1
eval "$(scripts/pg.sh env "$CLUSTER")"
PGXS_DIR=$(dirname "$(dirname "$(pg_config --pgxs)")")

echo "== pg_regress"
make -s installcheck >build/regress.log 2>&1; rc=$?
grep -E "^(test|ok|not ok) " build/regress.log | sed 's/  */ /g'
[ $rc -ne 0 ] && cat build/regress/regression.diffs 2>/dev/null | head -80
record "pg_regress" $rc

echo "== pg_regress, each file on its own"
rc=0
for t in $(sed -n 's/^REGRESS *= *//p' Makefile); do
  mkdir -p "build/regress-alone/$t"
  make -s installcheck REGRESS="$t" REGRESS_OPTS="--inputdir=test/regress --outputdir=build/regress-alone/$t" \
    >"build/regress-alone/$t.log" 2>&1 || { echo "not ok $t (alone)"; head -40 "build/regress-alone/$t/regression.diffs"; rc=1; }
done
record "pg_regress, each file alone" $rc

echo "== isolation"
"$PGXS_DIR/test/isolation/pg_isolation_regress" --inputdir=test/isolation --outputdir=build/isolation \
  --bindir="$(scripts/pg.sh bindir)" --dbname=intentlog_isolation \
  $(cd test/isolation/specs && ls *.spec | sed 's/\.spec$//') >build/isolation.log 2>&1; rc=$?
grep -E "^(test|ok|not ok) |permutation" build/isolation.log | sed 's/  */ /g'
[ $rc -ne 0 ] && cat build/isolation/regression.diffs 2>/dev/null | head -80
record "isolation" $rc

echo "== pgTAP"
createdb intentlog_tap && pg_prove -d intentlog_tap test/pgtap/*.sql; rc=$?
record "pgTAP" $rc

echo "== integration"
export BUILD_DIR="$HERE/build"
for t in test/integration/[0-9]*.sh; do
  [ -x "$t" ] || continue
  start=$(date +%s)
  timeout 300 "$t" >"build/$(basename "$t").log" 2>&1; rc=$?
  echo "     $(basename "$t"): $(( $(date +%s) - start )) s"
  [ $rc -ne 0 ] && tail -30 "build/$(basename "$t").log"
  record "integration $(basename "$t")" $rc
done

[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
