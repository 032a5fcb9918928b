#!/usr/bin/env python3
"""A consumer of intentlog events in Python (pip install clients/python).

    examples/python/consumer.py --connect unix:/tmp/intentlog.sock --group billing --domain orders

Prints each event (payload decoded through the domain's registered schema, if
it has one) as a JSON line, then acknowledges it. Delivery is at least once:
after a reconnect or a worker's restart some events come again, so real
handlers deduplicate on event.id, (domain, partition, seq). --limit N exits
after N events, --idle-exit S after S seconds without one.
"""
import argparse
import json
import sys

import intentlog


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connect", default="unix:/tmp/intentlog.sock")
    ap.add_argument("--group", required=True)
    ap.add_argument("--domain", action="append", required=True)
    ap.add_argument("--from", dest="start", default="committed", choices=["committed", "earliest", "latest"])
    ap.add_argument("--token", default=None, help="the worker's token (tcp: endpoints)")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--idle-exit", type=float, default=None)
    a = ap.parse_args()

    n = 0
    try:
        with intentlog.Consumer(a.connect, group=a.group, domains=a.domain, start=a.start, token=a.token) as consumer:
            while not a.limit or n < a.limit:
                item = consumer.poll(a.idle_exit)
                if item is None:  # --idle-exit seconds without an event
                    break
                if isinstance(item, intentlog.Gap):
                    print("gap: %s/%d seqs %d..%d may be lost" % (item.domain, item.partition, item.first_seq,
                                                                  item.last_seq), file=sys.stderr)
                    continue
                print(json.dumps(item.to_dict()), flush=True)  # process, then acknowledge
                consumer.ack(item)
                n += 1
    except intentlog.IntentlogError as e:
        print("consumer: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
