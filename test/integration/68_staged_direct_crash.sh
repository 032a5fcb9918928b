#!/usr/bin/env bash
# Staged domains write an intent straight to the logged segment when its
# transaction flushes the WAL at commit anyway (docs/DESIGN.md, "Durability
# modes"): such an intent is durable with its transaction, and a crash must
# not lose it, while what went to the hot table may be lost, inside a
# recorded gap.
#
# Promotion is held back (promote_after 1 hour, the maintenance worker
# paused), so nothing leaves the hot table before the crash. Then, per
# transaction: the application's own row first, then the intent (WAL
# before the seq: direct), or the intent alone (no WAL: hot, except the
# appends whose seq the sequence logs). kill -9 of the postmaster, restart:
#   - every intent of an application row survives, under its seq;
#   - every seq that is gone lies inside a recorded gap;
#   - some of the intent-only ones were lost (the hot path was taken).
# Runs its own throwaway cluster (it crashes it).
set -euo pipefail
_LIB=$(cd "$(dirname "$0")/lib" && pwd)
OWN_CLUSTER=staged-direct source "$_LIB/own_cluster.sh"

make_db
psql -XAtq -d postgres -c "ALTER SYSTEM SET intentlog.maintenance = off" -c "SELECT pg_reload_conf()" >/dev/null
q -c "SELECT intentlog.create_domain('cache', partitions => 2, durability => 'staged', promote_after => '1 hour')" \
  >/dev/null
q -c "CREATE TABLE app_rows (k text PRIMARY KEY, p int, s bigint)" >/dev/null
N=200
{
  for i in $(seq "$N"); do
    echo "BEGIN; INSERT INTO app_rows (k) VALUES ('app-$i');
          WITH i AS (SELECT * FROM intentlog.intent_append('cache', 'app-$i', 'set'))
          UPDATE app_rows SET p = i.partition, s = i.seq FROM i WHERE k = 'app-$i'; COMMIT;"
    echo "SELECT 1 FROM intentlog.intent_append('cache', 'hot-$i', 'set');"
  done
} >"$SCRATCH/load.sql"
q -f "$SCRATCH/load.sql" >/dev/null
q -c "SELECT key, partition, seq FROM intentlog_data.cache ORDER BY 1" >"$SCRATCH/before"
hot_before=$(q -c "SELECT count(*) FROM intentlog_data.cache t JOIN pg_class c ON c.oid = t.tableoid
                   WHERE c.relpersistence = 'u'")
direct_app=$(q -c "SELECT count(*) FROM intentlog_data.cache t JOIN pg_class c ON c.oid = t.tableoid
                   WHERE c.relpersistence = 'p' AND t.key LIKE 'app-%'")
echo "before the crash: $direct_app of $N application intents in the logged segment, $hot_before intents in the hot tables"
[ "$direct_app" = "$N" ] || fail "only $direct_app of $N intents appended after their transaction's own write went to the segment"
[ "$hot_before" -gt $((N / 2)) ] || fail "only $hot_before intents took the hot table"

"$_PG" crash "$CLUSTER"
"$_PG" start "$CLUSTER" >"$SCRATCH/restart.log" 2>&1 || fail "restart failed: $(cat "$SCRATCH/restart.log")"
# The first append after the restart records the crash gaps.
q -c "SELECT 1 FROM intentlog.intent_append('cache', 'after', 'set')" >/dev/null
q -c "SELECT key, partition, seq FROM intentlog_data.cache WHERE key <> 'after' ORDER BY 1" >"$SCRATCH/after"
q -c "SELECT partition, first_seq, last_seq FROM intentlog.gaps ORDER BY 1, 2" >"$SCRATCH/gaps"
q -c "SELECT k, p, s FROM app_rows ORDER BY 1" >"$SCRATCH/app"

$PY - "$SCRATCH/before" "$SCRATCH/after" "$SCRATCH/gaps" "$SCRATCH/app" <<'PY' || fail "the crash lost what it must not"
import sys
def rows(path):
    out = {}
    for line in open(path):
        if line.strip():
            k, p, s = line.strip().split("|")
            out[k] = (int(p), int(s))
    return out
before, after, app = rows(sys.argv[1]), rows(sys.argv[2]), rows(sys.argv[4])
gaps = [tuple(map(int, l.strip().split("|"))) for l in open(sys.argv[3]) if l.strip()]
assert gaps, "no gap recorded after the crash of a staged domain"
for k, ps in app.items():
    assert after.get(k) == ps, f"application intent {k} {ps} lost or moved: {after.get(k)}"
for k, ps in after.items():
    assert before.get(k) == ps, f"{k} {ps} after the crash was not there before"
lost = {k: ps for k, ps in before.items() if k not in after}
for k, (p, s) in lost.items():
    assert any(gp == p and lo <= s <= hi for gp, lo, hi in gaps), f"{k} (partition {p}, seq {s}) lost outside any gap"
assert lost, "nothing was lost: the hot path was not exercised"
assert all(k.startswith("hot-") for k in lost)
print(f"  {len(app)} application intents kept, {len(lost)} hot intents lost, all inside {len(gaps)} gaps")
PY
echo "PASS: staged domain, kill -9: intents written after their transaction's own WAL survived; what the hot table lost lies inside the recorded gaps"
