#!/usr/bin/env python3
"""Receipt clock of Kafka records for bench/kafka.sh (confluent_kafka).

  kafka_receipt.py BROKERS TOPIC
Reads every partition of TOPIC from its current end; each record's value is
an intentlog.v1.Event whose payload is the producer's clock (microseconds
since the epoch, taken in the appending statement). Prints "sent_us recv_us"
per record, line-buffered, the format `latency_stats.py summary` reads; the
receipt clock is read as each record is returned by poll. Prints "ready" on
stderr once assigned at the end. Runs until killed.
"""
import sys
import time

from confluent_kafka import OFFSET_END, Consumer, TopicPartition
from intentlog.v1 import event_pb2


def main():
    brokers, topic = sys.argv[1], sys.argv[2]
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-receipt", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 5, "fetch.error.backoff.ms": 5})
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
    # Positions resolved before the first append.
    for _ in range(20):
        c.poll(0.05)
    print("ready", file=sys.stderr, flush=True)
    e = event_pb2.Event()
    out = sys.stdout
    while True:
        # poll() returns with the first record; consume(n, 0) then takes
        # what is already here without waiting. (consume(1000, 0.1) waits
        # for 1000 records or 100 ms and so stamped records up to 100 ms late
        # at low rates: the first runs' p50 of 67-78 ms was mostly that.)
        m = c.poll(0.1)
        if m is None:
            continue
        for m in [m] + c.consume(1000, 0):
            now = time.time()
            if m.error():
                continue
            e.ParseFromString(m.value())
            out.write(f"{int(e.payload)} {int(now * 1e6)}\n")
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
