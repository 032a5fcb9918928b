#!/usr/bin/env python3
"""Helpers of bench/latency.sh (end-to-end latency, commit -> consumer receipt).

  latency_stats.py stamp
      stdin: intentlog-tail JSON lines whose payload is the producer's clock
      (microseconds since the epoch, clock_timestamp() in the appending
      statement); stdout: "sent_us recv_us" per event, line-buffered so that
      the caller can count what arrived. The receipt clock is read as each line
      is read, so this must run live, piped from the consumer.
  latency_stats.py summary RAW SKIP_SECONDS
      percentiles of the events of RAW sent after the first SKIP seconds:
      "total n p50 p90 p99 p999 max sent_rate recv_rate" (ms, events/s).
  latency_stats.py report TSV MAX_RATE
      the Markdown table of a run's TSV and the verdicts of issue 6's goals:
      p99 < 50 ms at half the highest sustained rate, < 1 s at it.
"""
import base64
import csv
import json
import math
import sys
import time

# (fraction of the highest sustained rate, p99 limit in ms) from issue 6.
GOALS = [(0.5, 50.0), (1.0, 1000.0)]
# A goal is judged on the offered rate nearest to its target, if this close.
NEAR = 0.15


def stamp():
    out = open(sys.stdout.fileno(), "w", buffering=1, closefd=False)
    for line in sys.stdin.buffer:
        now = time.time()
        try:
            sent = int(base64.b64decode(json.loads(line)["payload"]))
        except (ValueError, KeyError):
            continue  # not an event of the producer (e.g. a gap line)
        out.write("%d %d\n" % (sent, int(now * 1e6)))


def percentile(sorted_values, p):
    """Nearest rank: the smallest value with at least p of the values at or below it."""
    rank = max(1, math.ceil(p * len(sorted_values)))
    return sorted_values[min(len(sorted_values), rank) - 1]


def summary(raw, skip):
    events = []
    with open(raw) as f:
        for line in f:
            sent, recv = line.split()
            events.append((int(sent), int(recv)))
    total = len(events)
    if not events:
        print("0 0 nan nan nan nan nan 0 0")
        return
    first = min(s for s, _ in events)
    kept = [(s, r) for s, r in events if s - first >= skip * 1e6]
    if len(kept) < 2:
        print("%d 0 nan nan nan nan nan 0 0" % total)
        return
    lat = sorted((r - s) / 1000.0 for s, r in kept)
    sent_span = (max(s for s, _ in kept) - min(s for s, _ in kept)) / 1e6
    recv_span = (max(r for _, r in kept) - min(r for _, r in kept)) / 1e6
    print("%d %d %.2f %.2f %.2f %.2f %.2f %.0f %.0f" % (
        total, len(lat), percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99),
        percentile(lat, 0.999), lat[-1], len(kept) / max(sent_span, 1e-9), len(kept) / max(recv_span, 1e-9)))


def report(tsv, max_rate):
    with open(tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    print("| offered /s | % of max | achieved /s | received /s | events | p50 ms | p90 ms | p99 ms "
          "| p99.9 ms | max ms | pgbench lag avg ms | lost | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        offered = "unthrottled" if r["kind"] == "unthrottled" else r["offered"]
        pct = "" if r["kind"] == "unthrottled" else r["offered_pct"]
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            offered, pct, r["achieved"], r["received"], r["n"], r["p50_ms"], r["p90_ms"], r["p99_ms"],
            r["p999_ms"], r["max_ms"], r["sched_lag_avg_ms"], r["lost"], r["load1"]))
    print()
    rated = [r for r in rows if r["kind"] == "rate"]
    for frac, limit in GOALS:
        target = frac * max_rate
        what = "end-to-end p99 < %s at %d%% of the highest sustained rate (%.0f/s)" % (
            "%.0f ms" % limit if limit < 1000 else "%.0f s" % (limit / 1000), frac * 100, math.floor(target + 0.5))
        near = min(rated, key=lambda r: abs(float(r["offered"]) - target), default=None)
        if near is None or abs(float(near["offered"]) / target - 1) > NEAR:
            print("- goal %s: NOT MEASURED (no offered rate within %d%% of it)" % (what, NEAR * 100))
            continue
        p99 = float(near["p99_ms"])
        verdict = "MET" if p99 < limit else "MISSED"
        notes = []
        if float(near["achieved"]) < 0.95 * float(near["offered"]):
            notes.append("pgbench achieved only %s/s of it" % near["achieved"])
        if int(near["lost"]) != 0:
            notes.append("%s events not received" % near["lost"])
        print("- goal %s: p99 = %.2f ms at %s/s offered: **%s**%s" % (
            what, p99, near["offered"], verdict, " (" + "; ".join(notes) + ")" if notes else ""))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "stamp":
        stamp()
    elif cmd == "summary":
        summary(sys.argv[2], float(sys.argv[3]))
    elif cmd == "report":
        report(sys.argv[2], float(sys.argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
