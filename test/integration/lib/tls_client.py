#!/usr/bin/env python3
"""One TLS connection to a worker with Python's ssl module, for the TLS tests.

  tls_client.py HOST PORT [--ca CA] [--cert C --key K] [--token T] [--plain]
                [--group G] [--domain D]...

Says Hello (default: group g, domain events) and prints the outcome: "WELCOME",
"ERROR <code> <message>", "TLS_VERIFY_FAILED <why>" (this client refused the
worker's certificate), "TLS_ERROR <reason>" (the handshake or the first read
failed otherwise: an alert from the worker) or
"CLOSED" (closed without a frame). --plain: no TLS at all.
"""
import argparse
import socket
import ssl
import sys

import raw_client as rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--token", default="")
    ap.add_argument("--plain", action="store_true")
    ap.add_argument("--group", default="g")
    ap.add_argument("--domain", action="append")
    a = ap.parse_args()
    s = socket.create_connection((a.host, a.port), timeout=10)
    try:
        if not a.plain:
            ctx = ssl.create_default_context(cafile=a.ca)
            if a.cert:
                ctx.load_cert_chain(a.cert, a.key)
            s = ctx.wrap_socket(s, server_hostname=a.host)
        s.sendall(rc.hello(a.group, a.domain or ["events"], credit=10, token=a.token.encode()))
        for num, v in rc.replies(s):
            if num == 5:
                f = dict(rc.fields(v))
                print("ERROR %s %s" % (rc.ERRORS.get(f.get(1), f.get(1)), f.get(2, b"").decode()))
                return
            if num == 1:
                print("WELCOME")
                return
        print("CLOSED")
    except ssl.SSLCertVerificationError as e:
        print("TLS_VERIFY_FAILED %s" % e.verify_message)
    except ssl.SSLError as e:
        print("TLS_ERROR %s" % (e.reason or e))
    except OSError as e:
        print("CLOSED %s" % e)


if __name__ == "__main__":
    main()
