#!/usr/bin/env python3
"""Helpers of bench/e2e.sh (end to end: append, worker and consumer at once).

  e2e_stats.py stamp RAW
      stdin: intentlog-tail JSON lines whose payload is the producer's clock
      (microseconds since the epoch as decimal digits, zero-padded:
      clock_timestamp() in the appending statement). The receipt clock is
      read once per chunk read from the pipe: intentlog-tail writes a whole
      Batch frame's lines with one write, so a chunk is what the consumer
      printed at one moment. Writes "sent_us recv_us count attempt>1" lines
      to RAW (one per distinct stamp in a chunk: the 100 intents of one
      batch transaction share a stamp), flushed per chunk so the caller can
      follow the count. Cheap enough to keep up with >200k events/s.
  e2e_stats.py summary RAW SKIP_S T0_US TEND_US
      over the events of RAW: "received n p50 p99 p999 max append_rate
      recv_rate behind_at_end catchup_ms redelivered" (ms, events/s).
      Percentiles: events sent at least SKIP_S after T0 (warm-up).
      append_rate / recv_rate: events sent / received between T0 + SKIP and
      TEND (the producers' end) per second. behind_at_end: events received
      after TEND (the consumer's lag when the producers stopped), catchup_ms:
      how long after TEND the last one arrived.
  e2e_stats.py pgbench_log P SKIP_S FILES...
      pgbench --log files: the P-th percentile (0..100) of the transaction
      time without the schedule lag (the commit alone as the client saw it),
      transactions started SKIP_S after the first one; prints "n pct_ms".
  e2e_stats.py watch BEFORE AFTER PID:CATEGORY...
      samples utime + stime (/proc) of each process, and of each thread of a
      process of category worker (worker-thread), every 0.2 s until SIGTERM
      (PID:postmaster: children of it that appear later are pgbench's backends):
      BEFORE gets the first sample, AFTER the last value seen of each (a
      process that exited keeps its last sample) after a line "# SECONDS"
      (first to last sample); lines "pid category ticks". Also the busy time
      of the CPUs in $E2E_CPUS (all CPUs if unset) as category machine.
  e2e_stats.py cpu BEFORE AFTER SECONDS CORES RATE [RECV_RATE]
      BEFORE, AFTER: "pid category ticks" lines sampled from /proc SECONDS
      apart; prints per category "category pct_of_a_core busiest_one_pct
      cpu_us_per_intent" (per intent appended at RATE/s; the delivery side's,
      pg-backend:worker, worker, tail, stamper, per intent received at
      RECV_RATE/s when given), largest first, then a line
      "bottleneck: ..." (a thread at >= 85% of a core, or all CORES busy).
"""
import base64
import math
import os
import re
import sys
import time

PAYLOAD = re.compile(rb'"payload":"([^"]*)"')
RETRY = re.compile(rb'"attempt":(?!1[,}])')


def stamp(raw):
    out = open(raw, "w", buffering=1)
    fd = sys.stdin.fileno()
    rest = b""
    # One buffer for every read: os.read(fd, 1 MiB) maps and unmaps a fresh
    # megabyte per call (mmap, mremap, munmap), which cost the stamper about
    # a quarter of a core at 80,000 events/s, taken from what it measures.
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf])
        if n == 0:
            break
        now = int(time.time() * 1e6)
        data = rest + view[:n]
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        data = data[:cut]
        if not data:
            continue
        counts = {}
        for p in PAYLOAD.findall(data):
            counts[p] = counts.get(p, 0) + 1
        redelivered = len(RETRY.findall(data))
        lines = []
        for p, n in counts.items():
            try:
                sent = int(base64.b64decode(p))
            except ValueError:
                continue  # not an event of the producer
            lines.append("%d %d %d %d\n" % (sent, now, n, redelivered))
            redelivered = 0
        out.write("".join(lines))


def read_raw(raw):
    events = []  # (sent, recv, count)
    redelivered = 0
    with open(raw) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue  # a line cut by a killed stamper
            s, r, n, d = map(int, parts)
            events.append((s, r, n))
            redelivered += d
    return events, redelivered


def weighted_percentile(pairs, p):
    """pairs: sorted (value, count); nearest rank over the counts."""
    total = sum(n for _, n in pairs)
    rank = max(1, math.ceil(p * total))
    seen = 0
    for v, n in pairs:
        seen += n
        if seen >= rank:
            return v
    return pairs[-1][0]


def summary(raw, skip, t0, tend):
    events, redelivered = read_raw(raw)
    received = sum(n for _, _, n in events)
    start = t0 + skip * 1e6
    kept = sorted(((r - s) / 1000.0, n) for s, r, n in events if s >= start)
    n = sum(c for _, c in kept)
    span = max((tend - start) / 1e6, 1e-9)
    sent_in = sum(c for s, _, c in events if start <= s <= tend)
    recv_in = sum(c for _, r, c in events if start <= r <= tend)
    behind = sum(c for _, r, c in events if r > tend)
    last = max((r for _, r, _ in events), default=tend)
    catchup = max(0.0, (last - tend) / 1000.0)
    if not kept:
        print("%d 0 nan nan nan nan 0 0 %d %.0f %d" % (received, behind, catchup, redelivered))
        return
    print("%d %d %.2f %.2f %.2f %.2f %.0f %.0f %d %.0f %d" % (
        received, n, weighted_percentile(kept, 0.50), weighted_percentile(kept, 0.99),
        weighted_percentile(kept, 0.999), kept[-1][0], sent_in / span, recv_in / span, behind, catchup,
        redelivered))


def pgbench_log(p, skip, files):
    rows = []  # (start_us, commit_us)
    for name in files:
        with open(name) as f:
            for line in f:
                parts = line.split()
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag]
                if len(parts) < 6 or parts[2] == "skipped":
                    continue
                latency = int(parts[2])
                lag = int(parts[6]) if len(parts) > 6 else 0
                end = int(parts[4]) * 1000000 + int(parts[5])
                rows.append((end - latency, latency - lag))
    if not rows:
        print("0 nan")
        return
    first = min(s for s, _ in rows)
    kept = sorted(c / 1000.0 for s, c in rows if s - first >= skip * 1e6)
    if not kept:
        print("0 nan")
        return
    rank = max(1, math.ceil(p / 100.0 * len(kept)))
    print("%d %.2f" % (len(kept), kept[min(rank, len(kept)) - 1]))


DELIVERY = ("pg-backend:worker", "worker", "worker-thread", "tail", "stamper")


def cpu(before, after, secs, cores, rate, recv_rate):
    """CPU per category between two samples: % of one core, the busiest
    single process (or thread, for the worker-thread category), CPU per
    intent at RATE, and which limit binds."""
    def load(name):
        d = {}
        with open(name) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                pid, cat, ticks = line.split()
                d[(pid, cat)] = int(ticks)
        return d
    b, a = load(before), load(after)
    hz = os.sysconf("SC_CLK_TCK")
    total, top = {}, {}
    for key, ticks in a.items():
        pct = 100.0 * (ticks - b.get(key, 0)) / hz / secs
        cat = key[1]
        total[cat] = total.get(cat, 0.0) + pct
        top[cat] = max(top.get(cat, 0.0), pct)
    machine = total.pop("machine", 0.0)
    busy = sum(v for c, v in total.items() if not c.endswith("-thread"))
    total["others"] = top["others"] = max(0.0, machine - busy)  # processes not of this bench
    for cat, pct in sorted(total.items(), key=lambda kv: -kv[1]):
        r = recv_rate if cat in DELIVERY and recv_rate > 0 else rate  # per intent delivered / appended
        us = pct / 100.0 / r * 1e6 if r > 0 else float("nan")
        print("%s %.0f %.0f %.2f" % (cat, pct, top[cat], us))
    # Single-threaded: intentlog-tail, the stamper, each backend, each worker thread.
    single = [(top[c], c) for c in total if c in ("tail", "stamper", "worker-thread") or c.startswith("pg-backend")]
    hot = max(single, default=(0.0, "-"))
    largest = max(((v, c) for c, v in total.items() if not c.endswith("-thread") and c != "others"),
                  default=(0.0, "-"))
    if hot[0] >= 85:
        print("bottleneck: %s at %.0f%% of a core (one thread); all processes %.0f%% of %d cores"
              % (hot[1], hot[0], busy, cores))
    elif busy >= 85 * cores:
        print("bottleneck: CPU, the bench's processes %.0f%% of %d cores; largest share %s %.0f%%"
              % (busy, cores, largest[1], largest[0]))
    elif busy + total["others"] >= 85 * cores:
        print("bottleneck: CPU shared with other processes (the bench's %.0f%%, others %.0f%% of %d cores);"
              " largest share of the bench's: %s %.0f%%" % (busy, total["others"], cores, largest[1], largest[0]))
    else:
        print("bottleneck: none CPU-bound (the bench's processes %.0f%% of %d cores, others %.0f%%; largest %s"
              " %.0f%%, busiest single thread %s %.0f%%): waits"
              % (busy, cores, total["others"], largest[1], largest[0], hot[1], hot[0]))


def proc_ticks(path):
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # exited meanwhile
    return int(fields[11]) + int(fields[12])  # utime + stime


def children(pid):
    try:
        with open("/proc/%s/task/%s/children" % (pid, pid)) as f:
            return f.read().split()
    except OSError:
        return []


def sample(specs, known):
    """specs: PID:CATEGORY; a worker's threads are sampled too (worker-thread);
    PID:postmaster: its children not in specs are new backends (category
    pg-backend:pgbench: nothing else connects during a measurement);
    "machine": the busy ticks of the measured CPUs (/proc/stat)."""
    got = {}
    for spec in list(specs):
        pid, cat = spec.split(":", 1)
        if cat == "postmaster":
            for child in children(pid):
                if child not in known:
                    known[child] = "pg-backend:pgbench"
                    specs.append("%s:pg-backend:pgbench" % child)
    busy = 0
    with open("/proc/stat") as f:
        for line in f:
            name = line.split(" ", 1)[0]
            if name.startswith("cpu") and name != "cpu" and (CPUS is None or int(name[3:]) in CPUS):
                cpu = [int(v) for v in line.split()[1:]]
                busy += sum(cpu[:8]) - cpu[3] - cpu[4]  # all but idle and iowait (guest is in user)
    got[("0", "machine")] = busy
    for spec in specs:
        pid, cat = spec.split(":", 1)
        if cat == "postmaster":
            cat = "pg-background"
        t = proc_ticks("/proc/%s/stat" % pid)
        if t is None:
            continue
        got[(pid, cat)] = t
        if cat == "worker":
            try:
                tids = os.listdir("/proc/%s/task" % pid)
            except OSError:
                tids = []
            for tid in tids:
                t = proc_ticks("/proc/%s/task/%s/stat" % (pid, tid))
                if t is not None:
                    got[(tid, "worker-thread")] = t
    return got


# The CPUs of the measurement (E2E_CPUS, a taskset list such as 0-1 or 0,2): whose
# busy time counts as "machine" (the bench's processes and others on those CPUs).
CPUS = None
if os.environ.get("E2E_CPUS"):
    CPUS = set()
    for part in os.environ["E2E_CPUS"].split(","):
        lo, _, hi = part.partition("-")
        CPUS.update(range(int(lo), int(hi or lo) + 1))


def watch(before, after, specs):
    """Samples every 0.2 s until SIGTERM: BEFORE gets the first sample, AFTER
    the last value seen of each process (one that exited keeps its last
    sample) and, first line, the seconds between the first and last sample."""
    import signal
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.time()
    specs = list(specs)
    known = {spec.split(":", 1)[0]: spec.split(":", 1)[1] for spec in specs}
    first = sample(specs, known)
    write_sample(before + ".tmp", first)
    os.rename(before + ".tmp", before)  # the caller waits for it
    last, t1 = dict(first), t0
    while not stop:
        time.sleep(0.2)
        now = sample(specs, known)
        last.update(now)
        t1 = time.time()
    for key in last:
        first.setdefault(key, 0)  # started after the first sample: all its CPU is in the window
    write_sample(before, first)
    write_sample(after, last, "%.3f" % (t1 - t0))


def write_sample(name, got, head=None):
    with open(name, "w") as f:
        if head:
            f.write("# %s\n" % head)
        f.write("".join("%s %s %d\n" % (pid, cat, t) for (pid, cat), t in got.items()))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "stamp":
        stamp(sys.argv[2])
    elif cmd == "summary":
        summary(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "pgbench_log":
        pgbench_log(float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:])
    elif cmd == "watch":
        watch(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "cpu":
        cpu(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]),
            float(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[7] != "-" else 0.0)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
