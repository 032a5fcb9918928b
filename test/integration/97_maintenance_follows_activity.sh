#!/usr/bin/env bash
# Maintenance visits only partitions with work (docs/DESIGN.md, "Maintenance"):
# the skipping must never skip real work. After the worker has settled (every
# partition looked at, nothing flagged), with no call of intentlog.maintain():
#   1. a staged partition appended to after an idle period longer than the
#      full sweep (10 s) is promoted within about promote_after (the commit's
#      stamp, not the sweep);
#   2. a domain created after the worker started is promoted (the partition
#      list is read again when intentlog.domains changes);
#   3. a durable and a staged segment past segment_age rotate while idle (no
#      append after the one that filled them; the staged one's rows reach its
#      segment only by promotion, after housekeeping may have found it empty);
#   4. an idle partition's empty segment is not rotated, however old;
#   5. a sealed segment past retention that a consumer group has read past is
#      dropped while nothing is appended;
#   6. a staged intent of a two-phase transaction, whose COMMIT PREPARED
#      stamps nothing, is promoted within the full sweep (10 s) after it
#      commits, though its PREPARE's stamp found nothing to move.
TEST_TIMEOUT=${TEST_TIMEOUT:-90}
source "$(dirname "$0")/lib/common.sh"

make_db
q -c "SELECT intentlog.create_domain('st', partitions => 4, durability => 'staged', promote_after => '300 ms')" \
  -c "SELECT intentlog.create_domain('du', partitions => 2)" \
  -c "SELECT intentlog.create_domain('sa', partitions => 2, durability => 'staged', promote_after => '1 second')" \
  -c "SELECT intentlog.create_domain('re', partitions => 1, retention => '1 second')" \
  -c "SELECT intentlog.create_domain('idle', partitions => 2)" \
  -c "UPDATE intentlog.domains SET segment_age = '3 seconds' WHERE name IN ('du', 'sa')" \
  -c "UPDATE intentlog.domains SET segment_age = '1 second' WHERE name IN ('re', 'idle')" >/dev/null

hot_rows() { q -c "SELECT count(*) FROM ONLY intentlog_data.$1_hot"; }
segments() { q -c "SELECT count(*) FROM intentlog.segments s JOIN intentlog.domains d USING (domain_id) WHERE d.name = '$1'"; }
# until CONDITION (a shell command) holds, at most SECONDS; returns 1 on timeout.
until_true() {
  local secs=$1; shift
  for _ in $(seq $((secs * 10))); do
    eval "$@" && return 0
    sleep 0.1
  done
  return 1
}
key_of() {  # key_of DOMAIN PARTITIONS PARTITION
  q -c "SELECT 'k' || g FROM generate_series(1, 1000) g WHERE intentlog.partition_for('k' || g, $2) = $3 LIMIT 1"
}

# 3 and 5 start now: their segments age while everything else idles.
q -c "SELECT intentlog.intent_append('du', '$(key_of du 2 1)', 'set')" \
  -c "SELECT intentlog.intent_append('sa', '$(key_of sa 2 0)', 'set')" \
  -c "SELECT intentlog.intent_append('re', 'r1', 'set')" >/dev/null
# The group reads past the 're' intent; its segment is sealed at segment_age and expires a second later.
q -c "SELECT count(*) FROM intentlog.consume('g', 're', 0, 10)" >/dev/null

# 1. Idle past a full sweep, then one append to partition 2 of 'st'.
sleep 12
k=$(key_of st 4 2)
q -c "SELECT intentlog.intent_append('st', '$k', 'set')" >/dev/null
until_true 4 '[ "$(hot_rows st_p0002)" = 0 ]' \
  || fail "a staged partition appended to after 12 s idle was not promoted within 4 s (promote_after 300 ms)"
seg=$(q -c "SELECT durable_rel FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
            WHERE d.name = 'st' AND p.partition = 2")
[ "$(q -c "SELECT count(*) FROM $seg")" = 1 ] || fail "the promoted intent is not in its segment"
echo "ok 1: promoted after a long idle period"

# 2. A domain created now.
q -c "SELECT intentlog.create_domain('late', partitions => 2, durability => 'staged', promote_after => '300 ms')" \
  -c "SELECT intentlog.intent_append('late', 'x', 'set')" >/dev/null
p=$(q -c "SELECT intentlog.partition_for('x', 2)")
until_true 5 '[ "$(hot_rows late_p000'"$p"')" = 0 ]' || fail "a domain created after the worker started was not promoted within 5 s"
echo "ok 2: a new domain is promoted"

# 3. Both aged segments rotated while idle (they were appended to 13 s ago).
until_true 5 '[ "$(segments du)" = 3 ]' || fail "the durable segment past segment_age was not rotated while idle ($(segments du) segments, expected 3)"
until_true 5 '[ "$(segments sa)" = 3 ]' || fail "the staged segment past segment_age was not rotated while idle ($(segments sa) segments, expected 3)"
[ "$(q -c "SELECT count(*) FROM intentlog.segments s JOIN intentlog.domains d USING (domain_id)
           WHERE d.name IN ('du', 'sa') AND s.sealed_at IS NOT NULL")" = 2 ] || fail "expected the two old segments sealed"
echo "ok 3: durable and staged segments rotated by age while idle"

# 4. Empty segments stay, one per partition.
[ "$(segments idle)" = 2 ] || fail "an idle partition's empty segment was rotated ($(segments idle) segments, expected 2)"
echo "ok 4: empty segments are not rotated"

# 5. The 're' segment: rotated by age, read by the only group, expired: dropped.
until_true 20 '[ "$(q -c "SELECT count(*) FROM intentlog.segments s JOIN intentlog.domains d USING (domain_id)
                           WHERE d.name = '"'re'"' AND s.sealed_at IS NOT NULL")" = 0 ] && [ "$(segments re)" = 1 ]' \
  || fail "the consumed, expired segment was not dropped while idle ($(segments re) segments)"
[ "$(q -c "SELECT count(*) FROM intentlog_data.re")" = 0 ] || fail "the dropped segment's intent is still readable"
echo "ok 5: a consumed, expired segment is dropped while idle"

# 6. Two-phase commit (scripts/pg.sh enables it).
[ "$(q -c "SHOW max_prepared_transactions")" -gt 0 ] || fail "the cluster has max_prepared_transactions = 0"
k=$(key_of st 4 1)
# A first append logs the partition's sequence: the next one writes no WAL
# before its commit, so its row goes to the hot table (append.cpp).
q -c "SELECT intentlog.intent_append('st', '$k', 'set')" >/dev/null
until_true 4 '[ "$(hot_rows st_p0001)" = 0 ]' || fail "the first append of case 6 was not promoted"
q -c "BEGIN" -c "SELECT intentlog.intent_append('st', '$k', 'set')" -c "PREPARE TRANSACTION 'il97'" >/dev/null
sleep 2  # the PREPARE's stamp: checked and found nothing committed to move
q -c "COMMIT PREPARED 'il97'" >/dev/null
seg=$(q -c "SELECT durable_rel FROM intentlog.partitions p JOIN intentlog.domains d USING (domain_id)
            WHERE d.name = 'st' AND p.partition = 1")
until_true 14 '[ "$(hot_rows st_p0001)" = 0 ] && [ "$(q -c "SELECT count(*) FROM $seg WHERE key = '"'$k'"'")" = 2 ]' \
  || fail "a staged intent committed by COMMIT PREPARED was not promoted within 14 s"
echo "ok 6: a two-phase transaction's staged intent is promoted after COMMIT PREPARED"
echo "PASS: maintenance skipped no work"
