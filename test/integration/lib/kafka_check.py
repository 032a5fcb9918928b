#!/usr/bin/env python3
"""Reads intentlog topics with confluent_kafka (a client nobody here wrote)
and checks them against the intents committed in the database.

  kafka_check.py --brokers B --topic T --expected FILE [--timeout S]
                 [--strict | --max-duplicates N] [--partitioning intentlog|murmur2]
                 [--absent PARTITION:SEQ]... [--report FILE]

--expected: "partition seq key" lines, every committed intent that must be there.
Reads every partition from the beginning until every expected intent was seen
(or the timeout), then to the end. Checks: each record's value decodes as an
intentlog.v1.Event whose domain/partition/seq/key agree with the Kafka key and
the id, seq, op, schema_version, appended_at headers; with intentlog
partitioning the Kafka partition is the intentlog partition; every expected
intent is there; nothing else is (rolled-back intents never); per key, the
first occurrences of its seqs come in increasing order in offset order (a key
lives in one Kafka partition). Duplicates (an id seen again) are counted;
--strict allows none, --max-duplicates N at most N. Prints one summary line.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from intentlog.v1 import event_pb2


def murmur2_partition(key, partitions):
    """The Java client's default partitioner (Utils.murmur2, toPositive)."""
    m, h = 0x5BD1E995, (0x9747B28C ^ len(key)) & 0xFFFFFFFF
    n4 = len(key) // 4
    for i in range(n4):
        k = int.from_bytes(key[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = key[4 * n4:]
    if len(rest) >= 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--max-duplicates", type=int, default=None)
    ap.add_argument("--partitioning", default="intentlog")
    ap.add_argument("--absent", action="append", default=[])
    ap.add_argument("--report")
    a = ap.parse_args()

    expected = {}
    with open(a.expected) as f:
        for line in f:
            if line.strip():
                p, s, k = line.rstrip("\n").split(" ", 2)
                expected[(int(p), int(s))] = k
    absent = {tuple(int(x) for x in s.split(":")) for s in a.absent}

    c = Consumer({"bootstrap.servers": a.brokers, "group.id": "intentlog-check", "enable.auto.commit": False})
    md = c.list_topics(a.topic, timeout=10).topics[a.topic]
    if md.error is not None:
        print(f"FAIL topic {a.topic}: {md.error}")
        return 1
    parts = sorted(md.partitions)
    c.assign([TopicPartition(a.topic, p, 0) for p in parts])

    problems = []
    seen = {}          # (partition, seq) -> count
    first_order = {}   # key -> list of seqs in first-occurrence order
    gaps = 0
    records = 0
    per_partition = {}  # Kafka partition -> records read
    deadline = time.time() + a.timeout

    def done_reading():
        if not all(i in seen for i in expected):
            return False
        # Everything expected is there: read on to the current end for duplicates.
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=5)
            pos = c.position([TopicPartition(a.topic, p)])[0].offset
            if hi > 0 and (pos < 0 or pos < hi):
                return False
        return True

    while time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            if done_reading():
                break
            continue
        if m.error():
            continue
        records += 1
        h = {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}
        if h.get("type") == "gap":
            gaps += 1
            continue
        e = event_pb2.Event()
        try:
            e.ParseFromString(m.value())
        except Exception as ex:  # noqa: BLE001
            problems.append(f"offset {m.partition()}/{m.offset()}: value is not an Event: {ex}")
            continue
        ident = (e.partition, e.seq)
        want_id = f"{e.domain}/{e.partition}/{e.seq}"
        if h.get("id") != want_id:
            problems.append(f"{want_id}: id header {h.get('id')!r}")
        if h.get("type") != "event" or h.get("seq") != str(e.seq) or h.get("op") != e.op \
                or h.get("schema_version") != str(e.schema_version) or not h.get("appended_at"):
            problems.append(f"{want_id}: headers {h} do not match the Event")
        if e.HasField("expected_version") != ("expected_version" in h):
            problems.append(f"{want_id}: expected_version header {h.get('expected_version')!r}")
        if (m.key() or b"").decode() != e.key:
            problems.append(f"{want_id}: Kafka key {m.key()!r}, Event key {e.key!r}")
        if a.partitioning == "intentlog" and m.partition() != e.partition:
            problems.append(f"{want_id}: in Kafka partition {m.partition()}")
        if a.partitioning == "murmur2" and m.partition() != murmur2_partition(e.key.encode(), len(parts)):
            problems.append(f"{want_id}: key {e.key!r} in Kafka partition {m.partition()}, murmur2 says otherwise")
        if ident in absent:
            problems.append(f"{want_id}: must not be in Kafka")
        elif ident not in expected:
            problems.append(f"{want_id} key={e.key}: not a committed intent")
        elif expected[ident] != e.key:
            problems.append(f"{want_id}: key {e.key}, expected {expected[ident]}")
        seen[ident] = seen.get(ident, 0) + 1
        per_partition[m.partition()] = per_partition.get(m.partition(), 0) + 1
        if seen[ident] == 1:
            first_order.setdefault(e.key, []).append(e.seq)
    missing = [i for i in expected if i not in seen]
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} committed intents missing, e.g. {sorted(missing)[:5]}")
        # What the brokers hold against what was read: tells a record Kafka
        # lacks from one this reader did not get to.
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(a.topic, p), timeout=5)
            problems.append(f"Kafka partition {p}: offsets {lo}..{hi}, {per_partition.get(p, 0)} records read")
    c.close()
    for key, seqs in first_order.items():
        if seqs != sorted(seqs):
            problems.append(f"key {key}: first occurrences out of order: {seqs[:20]}")
    dups = sum(n - 1 for n in seen.values())
    if a.strict and dups:
        problems.append(f"{dups} duplicates, none allowed")
    if a.max_duplicates is not None and dups > a.max_duplicates:
        problems.append(f"{dups} duplicates, at most {a.max_duplicates} allowed")
    summary = {"records": records, "intents": len(seen), "expected": len(expected), "duplicates": dups,
               "gap_records": gaps, "keys": len(first_order)}
    if a.report:
        with open(a.report, "w") as f:
            json.dump(summary, f)
    for p in problems[:20]:
        print("FAIL", p)
    print(("FAIL " if problems else "ok ") + json.dumps(summary))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
