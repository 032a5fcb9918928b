#!/usr/bin/env bash
# kill -9 of the postmaster under load from four application clients, durable
# domain: after the restart the same worker reconnects by itself and every
# intent whose transaction committed (per the application table written in
# the same transactions) reaches the consumer at least once; none of a
# rolled-back or in-flight transaction does. See lib/server_crash_load.sh.
MODE=durable
source "$(dirname "$0")/lib/server_crash_load.sh"
[ "$(wc -l <"$SCRATCH/gaps")" = 0 ] || fail "a durable domain got gap records"
echo "PASS: durable domain, server kill -9 under load: every committed intent delivered, nothing uncommitted"
