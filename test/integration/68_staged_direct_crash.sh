#!/usr/bin/env bash
# Staged domains write an intent straight to the logged segment when its
# transaction flushes the WAL at commit anyway (docs/DESIGN.md, "Durability
# modes"): such an intent is durable with its transaction, and a crash must
# not lose it, while what went to the hot table may be lost, inside a
# recorded gap.
#
# The maintenance worker is paused. First 100 application transactions (the
# application's own row, then the intent: WAL before the seq, so direct)
# and one promotion by hand, which moves nothing but steps the promoter's
# cursor over them. Then, per transaction, such an application transaction
# or the intent alone (no WAL: hot, except the appends whose seq the
# sequence logs), not promoted. kill -9 of the postmaster, restart:
#   - every intent of an application row survives, under its seq;
#   - every seq that is gone lies inside a recorded gap;
#   - the gaps start above the first 100 (the cursor stepped over them);
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
app_txn() {
  echo "BEGIN; INSERT INTO app_rows (k) VALUES ('$1');
        WITH i AS (SELECT * FROM intentlog.intent_append('cache', '$1', 'set'))
        UPDATE app_rows SET p = i.partition, s = i.seq FROM i WHERE k = '$1'; COMMIT;"
}
for i in $(seq 100); do app_txn "first-$i"; done >"$SCRATCH/first.sql"
q -f "$SCRATCH/first.sql" >/dev/null
moved=$(q -c "SELECT sum(intentlog._promote(domain_id, partition)) FROM intentlog.partitions")
[ "$moved" = 0 ] || fail "the promotion moved $moved rows of transactions that wrote WAL first"
N=200
{
  for i in $(seq "$N"); do
    app_txn "app-$i"
    echo "SELECT 1 FROM intentlog.intent_append('cache', 'hot-$i', 'set');"
  done
} >"$SCRATCH/load.sql"
q -f "$SCRATCH/load.sql" >/dev/null
q -c "SELECT key, partition, seq FROM intentlog_data.cache ORDER BY 1" >"$SCRATCH/before"
hot_before=$(q -c "SELECT count(*) FROM intentlog_data.cache t JOIN pg_class c ON c.oid = t.tableoid
                   WHERE c.relpersistence = 'u'")
direct_app=$(q -c "SELECT count(*) FROM intentlog_data.cache t JOIN pg_class c ON c.oid = t.tableoid
                   WHERE c.relpersistence = 'p' AND t.key NOT LIKE 'hot-%'")
echo "before the crash: $direct_app of $((N + 100)) application intents in the logged segment, $hot_before intents in the hot tables"
[ "$direct_app" = $((N + 100)) ] || fail "only $direct_app of $N intents appended after their transaction's own write went to the segment"
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
for k, (p, s) in before.items():
    if k.startswith("first-"):
        assert all(not (gp == p and lo <= s) for gp, lo, hi in gaps), f"a gap covers {k} (seq {s}), written before the promotion"
print(f"  {len(app)} application intents kept, {len(lost)} hot intents lost, all inside {len(gaps)} gaps")
PY
echo "PASS: staged domain, kill -9: intents written after their transaction's own WAL survived; what the hot table lost lies inside the recorded gaps, which start above what the promoter stepped over"
