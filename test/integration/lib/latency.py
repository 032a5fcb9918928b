#!/usr/bin/env python3
"""Reads intentlog-tail JSON lines on stdin whose payload is the producer's
clock (microseconds since the epoch, taken inside the appending transaction,
just before it commits) and reports commit -> receipt latency percentiles.

  latency.py SKIP_SECONDS MEASURE_SECONDS
Ignores events produced in the first SKIP seconds (warm-up) and stops after
MEASURE seconds of events; prints "n p50 p99 p999 max rate" (ms, events/s).
"""
import base64
import json
import sys
import time


def main():
    skip, measure = float(sys.argv[1]), float(sys.argv[2])
    lat = []
    first = None
    t_first = t_last = None
    for line in sys.stdin.buffer:
        now = time.time()
        e = json.loads(line)
        sent = int(base64.b64decode(e["payload"])) / 1e6
        if first is None:
            first = sent
        if sent - first < skip:
            continue
        if sent - first > skip + measure:
            break
        lat.append((now - sent) * 1000.0)
        t_first = t_first or sent
        t_last = sent
    if not lat:
        print("no events")
        sys.exit(1)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))]

    rate = len(lat) / max(1e-9, (t_last - t_first))
    print("n=%d p50=%.2fms p99=%.2fms p999=%.2fms max=%.2fms rate=%.0f/s" %
          (len(lat), pct(0.5), pct(0.99), pct(0.999), lat[-1], rate))


if __name__ == "__main__":
    main()
