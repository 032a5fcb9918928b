#!/usr/bin/env python3
"""intentlog-tail's job done with the Python client (clients/python), for the
integration tests: prints every item as a JSON line (Event.to_dict(), or
{"gap": ...}) before acknowledging it, so lib/check_events.py can read it.

  py_consumer.py --connect EP --group G --domain D [--domain D2]
                 [--from committed|earliest|latest] [--limit N] [--idle-exit S]
                 [--fail-first N] [--credit N] [--no-decode]
                 [--token-file F] [--tls-ca CA [--tls-cert C --tls-key K]]
stderr gets "assignment N" whenever the assignment changes and, at exit,
"reconnects=N stale_acks=N". Exit 0 at --limit, after --idle-exit seconds
without an item, or on SIGTERM; an intentlog exception exits 3 with "ERROR <class>: ..." on stderr.
"""
import argparse
import base64
import json
import os
import signal
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python"))
import intentlog  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connect", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--domain", action="append", required=True)
    ap.add_argument("--from", dest="start", default="committed")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--idle-exit", type=float, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--credit", type=int, default=1000)
    ap.add_argument("--no-decode", action="store_true")
    ap.add_argument("--token-file")
    ap.add_argument("--tls-ca")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()

    def assigned(parts):
        print("assignment %d %s" % (len(parts), " ".join("%s/%d" % p for p in sorted(parts))),
              file=sys.stderr, flush=True)

    # SIGTERM ends the consumer like --limit does: pending acks sent, stats printed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    printed = 0
    token = open(a.token_file).read().strip() if a.token_file else None
    ctx = None
    if a.tls_ca:
        ctx = ssl.create_default_context(cafile=a.tls_ca)
        if a.tls_cert:
            ctx.load_cert_chain(a.tls_cert, a.tls_key)
    c = intentlog.Consumer(a.connect, a.group, a.domain, start=a.start, credit=a.credit, token=token,
                           ssl_context=ctx, on_assignment=assigned, client_name="py_consumer")
    try:
        with c:
            while not a.limit or printed < a.limit:
                item = c.poll(a.idle_exit or None)
                if item is None:
                    break
                if isinstance(item, intentlog.Gap):
                    print(json.dumps(item.to_dict()), flush=True)
                    continue
                if item.attempt <= a.fail_first:
                    c.nack(item, "--fail-first %d" % a.fail_first)
                    continue
                if a.no_decode:
                    d = item.to_dict() if item.schema_version == 0 else {
                        "partition": item.partition, "seq": item.seq, "key": item.key,
                        "payload": base64.b64encode(item.payload).decode()}
                else:
                    d = item.to_dict()
                print(json.dumps(d), flush=True)  # printed before acknowledged: at-least-once
                printed += 1
                c.ack(item)
    except intentlog.IntentlogError as e:
        print("ERROR %s: %s" % (type(e).__name__, e), file=sys.stderr, flush=True)
        sys.exit(3)
    finally:
        print("reconnects=%d stale_acks=%d" % (c.reconnects, c.stale_acks), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
