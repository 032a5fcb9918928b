#!/usr/bin/env python3
"""Deliberately misbehaving intentlog clients, for the robustness tests.
Encodes the few frames it needs by hand (no protobuf runtime required).

  raw_client.py ENDPOINT CASE [DOMAIN]
      one case; prints the worker's first reply: "ERROR <code> <message>",
      "WELCOME", "EVENTS n", or "CLOSED" (closed without an Error frame)
  raw_client.py --parallel N ENDPOINT CASE [DOMAIN]
      N clients at once; prints one reply line per client
"""
import socket
import sys
import time

ERRORS = {1: "BAD_FRAME", 2: "FRAME_TOO_LARGE", 3: "PROTOCOL", 4: "UNAUTHENTICATED", 5: "UNKNOWN_DOMAIN",
          6: "CREDIT_LIMIT", 7: "IDLE_TIMEOUT", 8: "SHUTTING_DOWN", 9: "INTERNAL", 10: "UNSUPPORTED_VERSION", 11: "PERMISSION_DENIED"}


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def frame(body):
    return varint(len(body)) + body


def hello(group, domains, credit=0, token=b""):
    h = field_varint(1, 1) + field_bytes(2, token) + field_bytes(3, group.encode())
    for d in domains:
        h += field_bytes(4, d.encode())
    if credit:
        h += field_varint(8, credit)
    return frame(field_bytes(1, h))


def read_varint(buf, i):
    shift = v = 0
    while True:
        if i >= len(buf):
            return None, i
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def fields(body):
    i = 0
    while i < len(body):
        tag, i = read_varint(body, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = read_varint(body, i)
            yield num, v
        elif wt == 2:
            n, i = read_varint(body, i)
            yield num, body[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wt)


def connect(endpoint):
    if endpoint.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(endpoint[5:])
    else:
        host, port = endpoint[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(20)
    return s


def replies(s):
    """Yields decoded server frames until the connection closes."""
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return
        buf += chunk
        while True:
            n, i = read_varint(buf, 0)
            if n is None or len(buf) - i < n:
                break
            body, buf = buf[i:i + n], buf[i + n:]
            for num, v in fields(body):
                yield num, v


def run_case(endpoint, case, domain):
    s = connect(endpoint)
    if case == "huge-prefix":
        s.sendall(varint(1 << 30) + b"\x00" * 100)  # announces 1 GiB
    elif case == "bad-varint":
        s.sendall(b"\xff" * 16)
    elif case == "http":
        s.sendall(b"GET / HTTP/1.1\r\nHost: worker\r\n\r\n")
    elif case == "garbage-body":
        s.sendall(frame(b"\x0f\x00\x00\x00"))  # wire type 7: not protobuf
    elif case == "ack-before-hello":
        s.sendall(frame(field_bytes(3, b"")))
    elif case == "unknown-domain":
        s.sendall(hello("g", ["no_such_domain"]))
    elif case == "too-much-credit":
        s.sendall(hello("g", [domain], credit=4000000000))
    elif case == "no-token":
        s.sendall(hello("g", [domain], credit=10))
    elif case == "silent":
        pass
    elif case == "partial-frame":
        s.sendall(b"\x20\x0a\x02")  # a 32-byte frame, 2 bytes of it, then silence
    elif case == "hello":
        s.sendall(hello("raw", [domain], credit=10))
    else:
        sys.exit("unknown case " + case)
    saw = []
    for num, v in replies(s):
        if num == 5:
            code = msg = None
            for f, x in fields(v):
                if f == 1:
                    code = ERRORS.get(x, str(x))
                elif f == 2:
                    msg = x.decode()
            saw.append("ERROR %s %s" % (code, msg))
        elif num == 1:
            saw.append("WELCOME")
            if case == "hello":
                break
        elif num == 2:
            saw.append("EVENTS %d" % sum(1 for f, _ in fields(v) if f == 1))
    s.close()
    return saw[0] if saw else "CLOSED"


def main():
    args = sys.argv[1:]
    parallel = 0
    if args and args[0] == "--parallel":
        parallel, args = int(args[1]), args[2:]
    endpoint, case = args[0], args[1]
    domain = args[2] if len(args) > 2 else "d"
    if not parallel:
        print(run_case(endpoint, case, domain))
        return
    import threading
    results = [None] * parallel

    def one(i):
        try:
            results[i] = run_case(endpoint, case, domain)
        except Exception as e:  # a refused or reset connection is a finding too
            results[i] = "EXCEPTION %s" % e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("\n".join(results))


if __name__ == "__main__":
    main()
