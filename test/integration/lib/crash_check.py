#!/usr/bin/env python3
"""Checks what intentlog-tail consumers printed across a server crash against
the application's own record of what committed.

  crash_check.py --mode durable|staged --app FILE --log FILE [--gaps FILE]
                 [--quiet] CONSUMER_FILE...

--app:  "partition seq key" per committed application transaction (the
        application table written in the same transaction as the intent:
        after recovery it says exactly which transactions committed).
--log:  "partition seq key" per intent still in the log (intentlog_data.D).
--gaps: "partition first_seq last_seq" per row of intentlog.gaps of the domain.
Consumer files hold the JSON lines of one consumer group.

Always: nothing delivered that is not a committed transaction's intent (no
intent of a rolled-back or in-flight transaction), every intent still in the
log delivered at least once, each key's seqs in increasing order per consumer
apart from redeliveries.
durable: the log holds exactly the committed intents; no gaps, no Gap frames.
staged: the log holds no uncommitted intent; a committed intent missing from
the log lies inside a gap; every committed intent outside the gaps was
delivered; each gap reached the group as a Gap frame exactly once.
Exit 0 when all hold; prints a summary either way.
"""
import argparse
import json
import sys


def read_triples(path):
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                p, s, k = line.rstrip("\n").split(" ", 2)
                out[(int(p), int(s))] = k
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["durable", "staged"], required=True)
    ap.add_argument("--app", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--gaps")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("consumers", nargs="+")
    a = ap.parse_args()

    app = read_triples(a.app)
    log = read_triples(a.log)
    gaps = []
    if a.gaps:
        with open(a.gaps) as f:
            for line in f:
                if line.strip():
                    p, lo, hi = map(int, line.split())
                    gaps.append((p, lo, hi))

    def in_gap(ident):
        return any(p == ident[0] and lo <= ident[1] <= hi for p, lo, hi in gaps)

    problems = []
    received = {}
    gap_frames = {}
    for path in a.consumers:
        last_per_key = {}
        seen = set()
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    e = json.loads(line)
                except ValueError:
                    problems.append(f"{path}: unparsable line {line[:80]!r}")
                    continue
                if "gap" in e:
                    g = e["gap"]
                    gk = (g["partition"], g["first_seq"], g["last_seq"])
                    gap_frames[gk] = gap_frames.get(gk, 0) + 1
                    continue
                ident = (e["partition"], e["seq"])
                received[ident] = received.get(ident, 0) + 1
                if ident not in app:
                    problems.append(f"{path}: delivered {ident} key={e['key']}: no committed transaction wrote it")
                elif app[ident] != e["key"]:
                    problems.append(f"{path}: {ident} has key {e['key']}, the application wrote {app[ident]}")
                last = last_per_key.get(e["key"])
                if ident not in seen and last is not None and e["seq"] <= last:
                    problems.append(f"{path}: key {e['key']}: seq {e['seq']} after {last} (order per key broken)")
                seen.add(ident)
                if last is None or e["seq"] > last:
                    last_per_key[e["key"]] = e["seq"]

    uncommitted_in_log = [i for i in log if i not in app]
    if uncommitted_in_log:
        problems.append(f"{len(uncommitted_in_log)} intents in the log without a committed application row, "
                        f"e.g. {sorted(uncommitted_in_log)[:5]}")
    lost = sorted(i for i in app if i not in log)
    undelivered_log = sorted(i for i in log if i not in received)
    if undelivered_log:
        problems.append(f"{len(undelivered_log)} intents in the log never delivered, e.g. {undelivered_log[:5]}")

    if a.mode == "durable":
        if lost:
            problems.append(f"{len(lost)} committed intents missing from the durable log, e.g. {lost[:5]}")
        if gaps:
            problems.append(f"{len(gaps)} gap records on a durable domain")
        if gap_frames:
            problems.append(f"{sum(gap_frames.values())} Gap frames on a durable domain")
    else:
        silent = [i for i in lost if not in_gap(i)]
        if silent:
            problems.append(f"{len(silent)} committed intents lost outside every gap (silent loss), e.g. {silent[:5]}")
        outside_undelivered = sorted(i for i in app if not in_gap(i) and i not in received)
        if outside_undelivered:
            problems.append(f"{len(outside_undelivered)} committed intents outside the gaps never delivered, "
                            f"e.g. {outside_undelivered[:5]}")
        for g in gaps:
            n = gap_frames.get(g, 0)
            if n != 1:
                problems.append(f"gap {g} reached the group as {n} Gap frames, expected 1")
        for g in gap_frames:
            if g not in gaps:
                problems.append(f"Gap frame {g} matches no row of intentlog.gaps")

    dups = sum(c - 1 for c in received.values())
    lost_after_delivery = sum(1 for i in lost if i in received)
    print(f"  committed {len(app)}, in the log {len(log)}, lost with the crash {len(lost)} "
          f"(of which delivered before it {lost_after_delivery}), gaps {len(gaps)}, "
          f"Gap frames {sum(gap_frames.values())}")
    outside = sum(1 for i in app if not in_gap(i))
    print(f"  delivered distinct {len(received)}, redeliveries {dups}; committed intents outside the gaps {outside}")
    if problems:
        for p in problems[:20]:
            if not a.quiet:
                print("  problem: " + p, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
