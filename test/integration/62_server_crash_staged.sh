#!/usr/bin/env bash
# kill -9 of the postmaster under load from four application clients, staged
# domain: what the crash lost lies inside ranges recorded in intentlog.gaps,
# each reaches the consumer group as one Gap frame, every committed intent
# outside them (and every surviving one inside) is delivered, nothing
# uncommitted is. See lib/server_crash_load.sh.
MODE=staged
source "$(dirname "$0")/lib/server_crash_load.sh"
gaps=$(wc -l <"$SCRATCH/gaps")
[ "$gaps" -gt 0 ] || fail "no gap recorded after a crash of a staged domain under load"
frames=$(grep -c '"gap"' "$SCRATCH/c1.jsonl" || true)
[ "$frames" = "$gaps" ] || fail "$gaps gaps recorded but $frames Gap frames received"
sed 's/^/  gap: partition /' "$SCRATCH/gaps"
# Promotion ran under load: the gaps start past most of what committed before the crash.
below=$(q -c "SELECT count(*) FROM app_orders a JOIN intentlog.gaps g ON g.partition = a.p
              JOIN intentlog.domains d ON d.domain_id = g.domain_id AND d.name = 'orders' WHERE a.s < g.first_seq")
echo "  $below committed intents lie below the gaps (promoted before the crash)"
[ "$below" -ge $((before / 4)) ] || fail "only $below of $before intents committed before the crash lie below the gaps"
echo "PASS: staged domain, server kill -9 under load: $gaps gaps recorded and reported, everything outside them delivered"
