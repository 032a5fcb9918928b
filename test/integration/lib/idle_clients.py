#!/usr/bin/env python3
"""Connections that never say Hello, as an attacker without a token holds them.

  idle_clients.py ENDPOINT N SECONDS [--reconnect] [--report-after S]

Opens N connections and holds them for SECONDS; with --reconnect a
connection the worker closes is opened again at once (up to N open). After
--report-after seconds (default: SECONDS) prints "open X closed Y failed Z":
connections open now, closed by the worker so far, connects that failed.
"""
import selectors
import socket
import sys
import time


def connect(endpoint):
    if endpoint.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(endpoint[5:])
    else:
        host, port = endpoint[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=2)
    s.setblocking(False)
    return s


def main():
    args = sys.argv[1:]
    reconnect = "--reconnect" in args
    report_after = None
    if "--report-after" in args:
        i = args.index("--report-after")
        report_after = float(args[i + 1])
        del args[i:i + 2]
    args = [a for a in args if a != "--reconnect"]
    endpoint, n, seconds = args[0], int(args[1]), float(args[2])
    if report_after is None:
        report_after = seconds
    sel = selectors.DefaultSelector()
    closed = failed = 0
    start = time.monotonic()
    reported = False

    def open_one():
        nonlocal failed
        try:
            sel.register(connect(endpoint), selectors.EVENT_READ)
        except OSError:
            failed += 1

    for _ in range(n):
        open_one()
    while time.monotonic() - start < seconds:
        if not reported and time.monotonic() - start >= report_after:
            print("open %d closed %d failed %d" % (len(sel.get_map()), closed, failed), flush=True)
            reported = True
        for key, _ in sel.select(timeout=0.05):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed by the worker (an Error frame before the close is fine too)
                sel.unregister(key.fileobj)
                key.fileobj.close()
                closed += 1
                if reconnect:
                    open_one()
        if reconnect:
            while len(sel.get_map()) < n and time.monotonic() - start < seconds:
                before = failed
                open_one()
                if failed > before:
                    time.sleep(0.01)
                    break
    if not reported:
        print("open %d closed %d failed %d" % (len(sel.get_map()), closed, failed), flush=True)


if __name__ == "__main__":
    main()
