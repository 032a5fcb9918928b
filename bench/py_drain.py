#!/usr/bin/env python3
"""Drains N events with the Python client (clients/python) and acks each
(batched acks: the client's default ack_batch 500); prints the events/s.

  bench/py_drain.py ENDPOINT GROUP DOMAIN N [CREDIT]
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import intentlog  # noqa: E402


def main():
    endpoint, group, domain, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    credit = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
    got = 0
    t0 = time.monotonic()
    with intentlog.Consumer(endpoint, group, [domain], credit=credit, client_name="py_drain") as c:
        for e in c:
            if isinstance(e, intentlog.Event):
                c.ack(e)
                got += 1
                if got >= n:
                    break
    dt = time.monotonic() - t0
    print("%d %.3f %.0f" % (got, dt, got / dt))


if __name__ == "__main__":
    main()
