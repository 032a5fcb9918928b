#!/usr/bin/env python3
"""N Hellos with a wrong token, one connection each, as fast as the worker
answers: prints "wrong W throttled T other O per_second R"."""
import sys
import time

import raw_client as rc


def main():
    endpoint, n, token = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    counts = {"wrong": 0, "throttled": 0, "other": 0}
    start = time.monotonic()
    for _ in range(n):
        s = rc.connect(endpoint)
        s.sendall(rc.hello("g", ["events"], credit=10, token=token))
        reply = "CLOSED"
        for num, v in rc.replies(s):
            if num == 5:
                reply = dict(rc.fields(v)).get(2, b"").decode()
                break
        s.close()
        if reply == "missing or wrong token":
            counts["wrong"] += 1
        elif reply.startswith("too many failed authentications"):
            counts["throttled"] += 1
        else:
            counts["other"] += 1
            if counts["other"] == 1:
                print("unexpected reply: %s" % reply, file=sys.stderr)
    rate = n / (time.monotonic() - start)
    print("wrong %d throttled %d other %d per_second %.0f" % (counts["wrong"], counts["throttled"], counts["other"], rate))


if __name__ == "__main__":
    main()
