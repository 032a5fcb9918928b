#!/usr/bin/env bash
# kill -9 of the postmaster under load from four application clients, durable
# domain: after the restart the same worker reconnects by itself and every
# intent whose transaction committed (per the application table written in
# the same transactions) reaches the consumer at least once; none of a
# rolled-back or in-flight transaction does. See lib/server_crash_load.sh.
# The outage (a few seconds) outlasts the worker's 1.5 s leases here: it
# stops delivering, then takes its partitions again and resumes from the
# committed cursors (62 keeps the default 10 s leases, and so its streams).
MODE=durable
WORKER_OPTS=${WORKER_OPTS:---lease-ttl-ms 1500}
OUTAGE_SECONDS=${OUTAGE_SECONDS:-2}
source "$(dirname "$0")/lib/server_crash_load.sh"
[ "$(wc -l <"$SCRATCH/gaps")" = 0 ] || fail "a durable domain got gap records"
grep -q 'event=leases_expired' "$SCRATCH/worker-w1.log" || fail "the leases did not expire during the outage"
echo "PASS: durable domain, server kill -9 under load: every committed intent delivered, nothing uncommitted"
