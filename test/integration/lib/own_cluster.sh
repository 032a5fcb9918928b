# For tests that crash or reconfigure a server (sourced, not run): a throwaway
# cluster of the test's own instead of scripts/test.sh's, then common.sh, and
# cleanup that kills the test's processes and removes the cluster.
#
#   OWN_CLUSTER=NAME source "$(dirname "$0")/lib/own_cluster.sh"
#
# Sets _PG (scripts/pg.sh) and CLUSTER (NAME-PID).
: "${OWN_CLUSTER:?OWN_CLUSTER must name the cluster}"
_OWN_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_PG="$_OWN_LIB/../../../scripts/pg.sh"
CLUSTER="$OWN_CLUSTER-$$"
trap '"$_PG" stop "$CLUSTER" --rm >/dev/null 2>&1 || true' EXIT
"$_PG" start "$CLUSTER" >/dev/null
eval "$("$_PG" env "$CLUSTER")"
source "$_OWN_LIB/common.sh"
# common.sh's cleanup ends with exit: kill our processes and the cluster first.
trap 'rc=$?; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
      "$_PG" stop "$CLUSTER" --rm >/dev/null 2>&1 || true; (exit $rc); cleanup' EXIT
