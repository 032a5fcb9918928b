#!/usr/bin/env bash
# Where a Python consumer starts: positions={(domain, partition): after_seq}
# delivers partition 0 after the given seq and partition 1 from the group's
# (absent) cursor; "latest" skips the backlog and gets only what commits
# afterwards; "earliest" replays everything for a group that committed it all.
source "$(dirname "$0")/lib/common.sh"
REPO=$(cd "$LIB_DIR/../../.." && pwd)
make_db
q -c "SELECT intentlog.create_domain('d', partitions => 2)" \
  -c "SELECT count(*) FROM (SELECT intentlog.intent_append('d', 'k' || i, 'x') FROM generate_series(1, 40) i) s" >/dev/null
q -F ' ' -c "SELECT partition, seq FROM intentlog_data.d ORDER BY 1, 2" >"$SCRATCH/all"
start_worker w1
timeout 40 $PY - "$(sock w1)" "$REPO/clients/python" "$SCRATCH/all" "$TEST_DB" <<'EOF_PY' || fail "start positions"
import subprocess, sys
sys.path.insert(0, sys.argv[2])
import intentlog
endpoint, db = sys.argv[1], sys.argv[4]
rows = [tuple(map(int, l.split())) for l in open(sys.argv[3])]
p0 = sorted(s for p, s in rows if p == 0)
after = p0[len(p0) // 2]

def drain(group, want, **kw):
    got = []
    with intentlog.Consumer(endpoint, group, ["d"], **kw) as c:
        while len(got) < want:
            e = c.poll(10)
            assert e is not None, "%s: %d of %d events" % (group, len(got), want)
            got.append((e.partition, e.seq))
            c.ack(e)
        extra = c.poll(0.5)
        assert extra is None, "%s: unexpected %r" % (group, extra)
    return sorted(got)

want = sorted((p, s) for p, s in rows if p == 1 or s > after)
assert drain("pos", len(want), positions={("d", 0): after}) == want
print("positions: partition 0 after seq %d, partition 1 from the start: %d events" % (after, len(want)))

all_ = sorted(rows)
assert drain("replay", len(all_)) == all_  # commits everything
assert drain("replay", len(all_), start="earliest") == all_
print("earliest: %d events again for a group that had committed them" % len(all_))

with intentlog.Consumer(endpoint, "late", ["d"], start="latest") as c:
    while len(c.assignment) < 2:
        assert c.poll(0.2) is None, "latest delivered the backlog"
    e = None
    for i in range(40):  # the worker reads "latest" once it opened the partition: append until one arrives
        subprocess.run(["psql", "-XAtq", "-d", db, "-c", "SELECT intentlog.intent_append('d', 'new-%d', 'x')" % i],
                       check=True, stdout=subprocess.DEVNULL)
        e = c.poll(0.5)
        if e is not None:
            break
    assert e is not None and e.key.startswith("new-"), e
    c.ack(e)
print("latest: only the intent committed after joining")
EOF_PY
echo "PASS: positions, earliest and latest start where they say"
