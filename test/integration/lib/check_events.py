#!/usr/bin/env python3
"""Checks what intentlog-tail consumers printed (JSON lines) against the
intents committed in the database.

  check_events.py --expected FILE [--strict] [--disjoint] CONSUMER_FILE...

--expected: "partition seq key" lines, every committed intent.
Always: every expected intent was received by some consumer, nothing else
was received (no rolled-back or invented intent), and per consumer the seqs
of each key arrive in increasing order apart from redeliveries.
--strict: no intent received twice (no failure happened, so at-least-once
must have delivered exactly once), and per key strictly increasing.
--disjoint: no partition was delivered to two consumers.
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expected", required=True)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--disjoint", action="store_true")
    ap.add_argument("consumers", nargs="+")
    a = ap.parse_args()

    expected = {}
    with open(a.expected) as f:
        for line in f:
            if not line.strip():
                continue
            p, s, k = line.rstrip("\n").split(" ", 2)
            expected[(int(p), int(s))] = k

    problems = []
    received = {}
    partitions_of = []
    for path in a.consumers:
        parts = set()
        last_per_key = {}
        seen = set()
        n = 0
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                e = json.loads(line)
                if "gap" in e:
                    continue
                n += 1
                ident = (e["partition"], e["seq"])
                parts.add(e["partition"])
                received[ident] = received.get(ident, 0) + 1
                if ident not in expected:
                    problems.append(f"{path}: received {ident} key={e['key']} that is not a committed intent")
                elif expected[ident] != e["key"]:
                    problems.append(f"{path}: {ident} has key {e['key']}, expected {expected[ident]}")
                key = e["key"]
                last = last_per_key.get(key)
                if ident in seen:
                    if a.strict:
                        problems.append(f"{path}: {ident} received twice")
                elif last is not None and e["seq"] <= last:
                    problems.append(f"{path}: key {key}: seq {e['seq']} after {last} (order per key broken)")
                seen.add(ident)
                if last is None or e["seq"] > last:
                    last_per_key[key] = e["seq"]
        partitions_of.append((path, parts, n))

    missing = [i for i in expected if i not in received]
    if missing:
        problems.append(f"{len(missing)} committed intents never delivered, e.g. {sorted(missing)[:5]}")
    dups = sum(c - 1 for c in received.values())
    if a.disjoint:
        for i in range(len(partitions_of)):
            for j in range(i + 1, len(partitions_of)):
                both = partitions_of[i][1] & partitions_of[j][1]
                if both:
                    problems.append(f"partitions {sorted(both)} delivered to both {partitions_of[i][0]} and {partitions_of[j][0]}")

    for path, parts, n in partitions_of:
        print(f"  {path.split('/')[-1]}: {n} events, partitions {sorted(parts)}")
    print(f"  expected {len(expected)}, distinct received {len(received)}, redeliveries {dups}")
    if problems:
        for p in problems[:20]:
            print("  problem: " + p, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
