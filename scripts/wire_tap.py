#!/usr/bin/env python3
"""A tap between consumers and an intentlog-worker: forwards every byte both
ways and prints each frame as it crossed the socket (hex, then the decoded
message), to document or debug the wire (docs/PROTOCOL.md's example session
was captured with it).

  scripts/wire_tap.py LISTEN_SOCKET WORKER_SOCKET >session.txt
      consumers connect to unix:LISTEN_SOCKET instead of the worker's socket

Each frame prints as "C>W" (consumer to worker) or "W>C", the time since the
connection opened, the bytes in hex (length prefix first) and the message in
Protobuf text format. Stops on SIGINT/SIGTERM. Needs python3-protobuf.
"""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from google.protobuf import text_format  # noqa: E402

from intentlog._framing import FrameDecoder  # noqa: E402
from intentlog.v1 import stream_pb2  # noqa: E402

out_lock = threading.Lock()


def pump(src, dst, label, cls, t0, conn_no):
    dec = FrameDecoder(1 << 30)
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            with out_lock:
                print("#%d %s %7.3f s  (closed)" % (conn_no, label, time.monotonic() - t0), flush=True)
            return
        dec.feed(data)
        while True:
            start = dec._pos
            body = dec.next()
            if body is None:
                break
            raw = bytes(dec._buf[start:dec._pos])
            msg = cls()
            msg.ParseFromString(body)
            with out_lock:
                print("#%d %s %7.3f s  %d bytes" % (conn_no, label, time.monotonic() - t0, len(raw)))
                print("  hex: " + raw.hex(" "))
                for line in text_format.MessageToString(msg).splitlines():
                    print("  | " + line)
                sys.stdout.flush()
        dst.sendall(data)  # after printing, so that the log shows the frames in the order they crossed


def main():
    listen, worker = sys.argv[1], sys.argv[2]
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen)
    srv.listen(8)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    n = 0
    while True:
        c, _ = srv.accept()
        w = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        w.connect(worker)
        n += 1
        t0 = time.monotonic()
        threading.Thread(target=pump, args=(c, w, "C>W", stream_pb2.ClientFrame, t0, n), daemon=True).start()
        threading.Thread(target=pump, args=(w, c, "W>C", stream_pb2.ServerFrame, t0, n), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
