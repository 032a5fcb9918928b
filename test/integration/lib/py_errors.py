#!/usr/bin/env python3
"""The Python client's exceptions, against fake servers and a real worker.

  py_errors.py fake                 every fake-server case (garbage, bad frames, Error codes)
  py_errors.py worker ENDPOINT DOMAIN [TCP_ENDPOINT]   Error frames from a real worker

Each case must end in the expected exception within its time bound (no
hang); prints one "ok ..." line per case, exits 1 on the first mismatch.
"""
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "clients", "python"))
import intentlog  # noqa: E402
from intentlog._framing import frame  # noqa: E402
from intentlog.v1 import event_pb2, stream_pb2  # noqa: E402


def server_frame(**kw):
    f = stream_pb2.ServerFrame()
    for k, v in kw.items():
        getattr(f, k).CopyFrom(v)
    return frame(f.SerializeToString())


def welcome():
    return server_frame(welcome=stream_pb2.Welcome(protocol_version=1, worker_id="fake", heartbeat_interval_ms=5000,
                                                   idle_timeout_ms=30000, max_credit=100000))


class FakeServer:
    """Accepts one connection, reads the Hello, sends `reply` bytes, then holds
    the connection open (or closes it) until stopped."""

    def __init__(self, reply, close_after=False):
        self.path = tempfile.mktemp(prefix="il-fake-", suffix=".sock")
        self.reply, self.close_after = reply, close_after
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.conns = []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        self.conns.append(c)
        c.recv(65536)  # the Hello
        c.sendall(self.reply)
        if self.close_after:
            c.close()
            return
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    def stop(self):
        for c in self.conns:
            c.close()
        self.srv.close()
        os.unlink(self.path)


def expect(name, exc_type, fn, bound=5.0, text=None):
    t0 = time.monotonic()
    try:
        fn()
    except exc_type as e:
        took = time.monotonic() - t0
        if took > bound:
            sys.exit("FAIL %s: %s after %.1f s (bound %.1f s)" % (name, type(e).__name__, took, bound))
        if text and text not in str(e):
            sys.exit("FAIL %s: %s without %r: %s" % (name, type(e).__name__, text, e))
        print("ok   %-34s %s: %s" % (name, type(e).__name__, str(e)[:90]))
        return e
    except Exception as e:
        sys.exit("FAIL %s: expected %s, got %s: %s" % (name, exc_type.__name__, type(e).__name__, e))
    sys.exit("FAIL %s: expected %s, nothing raised" % (name, exc_type.__name__))


def consume(endpoint, timeout=3.0, **kw):
    kw.setdefault("connect_timeout", 2.0)
    with intentlog.Consumer(endpoint, "g", ["d"], **kw) as c:
        c.poll(timeout)


def fake_cases():
    cases = [
        ("http response", b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 52\r\n\r\n"
         b"<html><body><h1>400 Bad Request</h1></body></html>\r\n", intentlog.BadServerFrame),
        ("bad varint prefix", b"\xff" * 12, intentlog.BadServerFrame),
        ("huge length prefix", b"\xff\xff\xff\xff\x0f", intentlog.BadServerFrame),
        ("unparsable body", frame(b"\x0f\x00\x00\x00"), intentlog.BadServerFrame),
        ("first frame not Welcome", server_frame(heartbeat=stream_pb2.Heartbeat()), intentlog.BadServerFrame),
        ("garbage after Welcome", welcome() + b"\x05\xff\xff\xff\xff\xff", intentlog.BadServerFrame),
        ("second Welcome", welcome() + welcome(), intentlog.BadServerFrame),
        ("events beyond credit", welcome() + server_frame(batch=stream_pb2.Batch(
            events=[event_pb2.Event(domain="d", seq=i) for i in range(3)])), intentlog.BadServerFrame),
    ]
    for name, reply, exc in cases:
        s = FakeServer(reply)
        expect(name, exc, lambda: consume("unix:" + s.path, credit=2))
        s.stop()
    # Silence and half frames end in ConnectionLost at connect_timeout, not a hang.
    for name, reply in [("silent server", b""), ("partial frame", b"\x20\x0a\x02"), ("short garbage", b"HELLO?\n")]:
        s = FakeServer(reply)
        expect(name, intentlog.ConnectionLost, lambda: consume("unix:" + s.path, connect_timeout=1.0), bound=3.0,
               text="no Welcome")
        s.stop()
    # Closed without a word, with reconnect off after a Welcome.
    s = FakeServer(welcome(), close_after=True)
    expect("closed after Welcome", intentlog.ConnectionLost, lambda: consume("unix:" + s.path, reconnect=False))
    s.stop()
    # No server at all.
    expect("nothing listening", intentlog.ConnectionLost, lambda: consume("unix:/nonexistent/il.sock"))
    # Every Error code maps to its exception, message kept.
    classes = {0: intentlog.UnspecifiedError, 1: intentlog.BadFrameError, 2: intentlog.FrameTooLargeError,
               3: intentlog.ProtocolError, 4: intentlog.UnauthenticatedError, 5: intentlog.UnknownDomainError,
               6: intentlog.CreditLimitError, 7: intentlog.IdleTimeoutError, 8: intentlog.ShuttingDownError,
               9: intentlog.InternalError, 10: intentlog.UnsupportedVersionError, 42: intentlog.UnspecifiedError}
    for code, cls in classes.items():
        s = FakeServer(server_frame(error=stream_pb2.Error(code=code, message="fake %d" % code)))
        e = expect("Error frame code %d" % code, cls, lambda: consume("unix:" + s.path), text="fake %d" % code)
        assert e.code == code and isinstance(e, intentlog.ServerError), e
        s.stop()
    # A retryable Error after Welcome, reconnect off: raised as itself.
    s = FakeServer(welcome() + server_frame(error=stream_pb2.Error(code=8, message="bye")))
    expect("ShuttingDown after Welcome", intentlog.ShuttingDownError,
           lambda: consume("unix:" + s.path, reconnect=False), text="bye")
    s.stop()


def worker_cases(endpoint, domain, tcp):
    expect("unknown domain", intentlog.UnknownDomainError,
           lambda: intentlog.Consumer(endpoint, "g", ["no_such_domain"]).connect(), text="no_such_domain")
    expect("bad group name", intentlog.ProtocolError,
           lambda: intentlog.Consumer(endpoint, "bad group!", [domain]).connect(), text="group")
    expect("credit above max_credit", intentlog.CreditLimitError,
           lambda: intentlog.Consumer(endpoint, "g", [domain], credit=200000).connect(), text="max_credit")
    expect("position of no partition", intentlog.ProtocolError,
           lambda: intentlog.Consumer(endpoint, "g", [domain], positions={(domain, 999): 1}).connect(),
           text="position")
    if tcp:
        expect("wrong token on TCP", intentlog.UnauthenticatedError,
               lambda: intentlog.Consumer(tcp, "g", [domain], token="wrong").connect(), text="token")
        with intentlog.Consumer(tcp, "g", [domain], token=open(os.environ["TOKEN_FILE"]).read().strip()) as c:
            assert c.welcome is not None and c.welcome.protocol_version == 1
        print("ok   right token on TCP")


if __name__ == "__main__":
    if sys.argv[1] == "fake":
        fake_cases()
    else:
        worker_cases(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
