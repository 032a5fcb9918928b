# Shared by the benchmarks that drive the worker (poison_key.sh, latency.sh):
# a throwaway cluster of the bench's own with this tree's extension, the
# integration tests' helpers (test/integration/lib/common.sh: make_db,
# start_worker, q, $SCRATCH, ...), and cleanup on exit.
#
#   bench_cluster NAME BUILD TIMEOUT_S
#
# NAME: cluster name prefix; BUILD=1: make, make programs and install first
# (0: use what is installed under $INTENTLOG_RUNDIR); TIMEOUT_S: the
# watchdog of common.sh. Call it from the script's top level (it sources).
bench_cluster() {
  local name=$1 build=$2 timeout=$3
  export BUILD_DIR=${BUILD_DIR:-$HERE/build}
  BENCH_CLUSTER=$name-$$
  if [ "$build" = 1 ]; then
    (cd "$HERE" && make -s >/dev/null && make -s programs >/dev/null && scripts/pg.sh install)
  fi
  "$HERE/scripts/pg.sh" start "$BENCH_CLUSTER"
  eval "$("$HERE/scripts/pg.sh" env "$BENCH_CLUSTER")"
  TEST_TIMEOUT=$timeout
  # shellcheck source=../test/integration/lib/common.sh
  source "$HERE/test/integration/lib/common.sh"
  trap bench_cluster_stop EXIT
}

bench_cluster_stop() {
  local rc=$?
  # Not errexit here: `(exit $rc)` would end the trap before cleanup kills the
  # bench's processes (they would outlive it, holding its output pipe).
  set +e
  "$HERE/scripts/pg.sh" stop "$BENCH_CLUSTER" --rm >/dev/null 2>&1 || true
  (exit $rc)
  cleanup
}
