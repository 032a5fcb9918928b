#!/usr/bin/env python3
"""Consumers that misbehave at the transport level, for the fault tests
(frames encoded by hand with raw_client.py's helpers; no protobuf runtime).

  stall_client.py mute ENDPOINT GROUP DOMAIN CREDIT
      Hello with CREDIT events of credit, then a Heartbeat frame every
      second, and never reads a byte: a consumer whose network stalled while
      it is still alive. Prints "mute: hello sent" and runs until killed.

  stall_client.py vanish ENDPOINT GROUP DOMAIN N
      N times: connect, Hello with credit 1000, read until part of a Batch
      frame has arrived (or 3 s), then vanish with a reset (SO_LINGER 0),
      every other time after sending half of an Ack frame. Prints how many
      of the N connections vanished in the middle of a Batch.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_client import connect, field_bytes, frame, hello, read_varint  # noqa: E402


def heartbeat():
    return frame(field_bytes(5, b""))


def mute(endpoint, group, domain, credit):
    s = connect(endpoint)
    s.sendall(hello(group, [domain], credit=credit))
    print("mute: hello sent", flush=True)
    while True:
        time.sleep(1)
        try:
            s.sendall(heartbeat())
        except OSError as e:  # the worker closed us: a finding for the test
            print("mute: connection lost: %s" % e, flush=True)
            return 1


def vanish_once(endpoint, group, domain, half_ack):
    s = connect(endpoint)
    s.sendall(hello(group, [domain], credit=1000))
    buf = b""
    in_batch = False
    deadline = time.time() + 3
    s.settimeout(0.2)
    while time.time() < deadline and not in_batch:
        try:
            chunk = s.recv(1500)
        except socket.timeout:
            continue
        if not chunk:
            break
        buf += chunk
        # Walk the complete frames; stop at the first Batch (field 2), whole or not.
        i = 0
        while i < len(buf):
            n, j = read_varint(buf, i)
            if n is None or j >= len(buf):
                break
            if buf[j] == 0x12:  # ServerFrame.batch, wire type 2
                in_batch = True
                break
            if len(buf) - j < n:
                break
            i = j + n
    if half_ack:
        # An Ack frame announcing 40 bytes, of which 3 are sent.
        s.sendall(b"\x28\x1a\x26\x0a")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return in_batch


def main():
    mode = sys.argv[1]
    if mode == "mute":
        sys.exit(mute(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
    if mode == "vanish":
        endpoint, group, domain, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        mid = sum(vanish_once(endpoint, group, domain, i % 2 == 1) for i in range(n))
        print("vanish: %d of %d connections vanished in the middle of a Batch" % (mid, n), flush=True)
        return
    sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
