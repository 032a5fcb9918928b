"""Consumer: one connection to an intentlog-worker, as an iterator of events.

The wire is docs/PROTOCOL.md. In short: the consumer sends Hello (with the
initial credit) and gets Welcome; the worker then sends Batches of events
against the credit; the consumer acks or nacks each event. Credit is topped up
as the application takes events, acks are batched, heartbeats are sent from a
background thread so that slow processing does not look like a dead client,
and a lost connection is reopened with back-off, resuming from the group's
committed cursors.
"""
from __future__ import annotations

import collections
import random
import select
import socket
import ssl
import threading
import time
import warnings
from typing import (Any, Callable, Deque, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, Type, Union)

from google.protobuf import message

from intentlog import errors
from intentlog._framing import FrameDecoder, frame
from intentlog.events import Event, Gap
from intentlog.schemas import SchemaCache
from intentlog.v1 import event_pb2, stream_pb2

Item = Union[Event, Gap]
PartitionRef = Tuple[str, int]  # (domain, partition)

_STARTS = {
    "committed": stream_pb2.START_COMMITTED,
    "earliest": stream_pb2.START_EARLIEST,
    "latest": stream_pb2.START_LATEST,
    "position": stream_pb2.START_POSITION,
}
_KEEPER_PERIOD = 0.02  # seconds between the background thread's looks at pending acks
_RECV_BYTES = 256 * 1024


class _Dropped(Exception):
    """The connection went away (EOF, reset, silence, a retryable Error frame)."""

    def __init__(self, reason: str, cause: Optional[BaseException] = None) -> None:
        super().__init__(reason)
        self.cause = cause


def parse_endpoint(endpoint: str) -> Tuple[int, Any]:
    """``unix:PATH``, ``tcp:HOST:PORT`` or a bare socket path -> (family, address)."""
    if endpoint.startswith("unix:"):
        return socket.AF_UNIX, endpoint[5:]
    if endpoint.startswith("tcp:"):
        host, sep, port = endpoint[4:].rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError("tcp endpoint must be tcp:HOST:PORT, got %r" % endpoint)
        return socket.AF_INET, (host.strip("[]"), int(port))
    if endpoint.startswith("/"):
        return socket.AF_UNIX, endpoint
    raise ValueError("endpoint must be unix:PATH or tcp:HOST:PORT, got %r" % endpoint)


class Consumer:
    """A member of a consumer group, reading the given domains from one worker.

    Iterating yields :class:`~intentlog.events.Event` objects in delivery order
    (a key's events in seq order; different keys interleaved) and
    :class:`~intentlog.events.Gap` objects where a staged domain lost intents.
    The worker sends a key's next event only once the previous one was acked
    or nacked, so call :meth:`ack` (or :meth:`nack`) for every event.

    ``endpoint``: ``unix:PATH`` or ``tcp:HOST:PORT`` of an intentlog-worker.
    ``group``: 1..128 bytes of ``[A-Za-z0-9_.:-]``; the group's consumers share
    the partitions, each group has its own cursors.
    ``domains``: the domains to read.
    ``start``: ``"committed"`` (default: the group's committed cursor),
    ``"earliest"``, ``"latest"`` or ``"position"``; applies only when this
    consumer is the first of its group on the worker, and only on the first
    connection: reconnects always resume from the committed cursors.
    ``positions``: ``{(domain, partition): after_seq}``; implies
    ``start="position"`` (partitions not listed start as committed).
    ``token``: the worker's shared secret, or this consumer's token (TCP listeners).
    ``ssl_context``: an :class:`ssl.SSLContext` for a worker whose TCP listener
    speaks TLS (``ssl.create_default_context(cafile=...)``; load a client
    certificate into it with ``load_cert_chain`` when the worker requires one);
    ``server_hostname``: the name the worker's certificate must carry (default:
    the endpoint's host).
    ``credit``: events the worker may send ahead of the application (at most
    the worker's ``max_credit``, 100,000 by default).
    ``ack_batch``: acks sent in one frame at most; acks are also sent once
    ``ack_delay`` seconds old, and before the consumer waits for the worker.
    ``reconnect``: reopen a lost connection (back-off from 0.1 s doubling to
    ``reconnect_max_delay``, with jitter); ``reconnect_timeout``: give up
    (ConnectionLost) after that many seconds without a connection (None:
    never). ``connect_timeout``: for connecting and for the Welcome.
    ``on_assignment``: called with the set of (domain, partition) this
    connection receives, whenever the worker sends an Assignment.

    Not thread-safe: use a consumer from one thread (the background thread it
    runs itself only writes heartbeats and due acks).
    """

    def __init__(
        self,
        endpoint: str = "unix:/tmp/intentlog.sock",
        group: str = "",
        domains: Sequence[str] = (),
        *,
        start: Union[str, int] = "committed",
        positions: Optional[Mapping[PartitionRef, int]] = None,
        token: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        server_hostname: Optional[str] = None,
        credit: int = 1000,
        client_name: str = "intentlog-python",
        ack_batch: int = 500,
        ack_delay: float = 0.05,
        reconnect: bool = True,
        reconnect_max_delay: float = 5.0,
        reconnect_timeout: Optional[float] = None,
        connect_timeout: float = 10.0,
        max_frame_bytes: int = 256 << 20,
        on_assignment: Optional[Callable[[FrozenSet[PartitionRef]], None]] = None,
    ) -> None:
        if isinstance(domains, str):
            domains = [domains]
        if not group:
            raise ValueError("group is required")
        if not domains:
            raise ValueError("at least one domain is required")
        if not 1 <= credit <= 0xFFFFFFFF:
            raise ValueError("credit must be between 1 and 2^32-1")
        if isinstance(start, str):
            if start not in _STARTS:
                raise ValueError("start must be one of %s" % ", ".join(_STARTS))
            start = _STARTS[start]
        if positions:
            start = stream_pb2.START_POSITION
        self._family, self._address = parse_endpoint(endpoint)
        self.endpoint = endpoint
        self.group = group
        self.domains: List[str] = list(domains)
        self._start = start
        self._positions = dict(positions or {})
        self._token = token or ""
        if ssl_context is not None and self._family != socket.AF_INET:
            raise ValueError("ssl_context needs a tcp: endpoint")
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname or (self._address[0] if self._family == socket.AF_INET else None)
        self._credit = credit
        self._half_credit = max(1, credit // 2)
        self._client_name = client_name
        self._ack_batch = max(1, ack_batch)
        self._ack_delay = ack_delay
        self._reconnect = reconnect
        self._reconnect_max_delay = reconnect_max_delay
        self._reconnect_timeout = reconnect_timeout
        self._connect_timeout = connect_timeout
        self._max_frame_bytes = max_frame_bytes
        self._on_assignment = on_assignment

        self._sock: Optional[socket.socket] = None
        self._poller: Any = None
        self._welcomed = False  # on the current connection
        self._decoder = FrameDecoder(max_frame_bytes)
        self._conn = 0  # connection number; events remember theirs
        self._ever_welcomed = False
        self._closed = False
        self._queue: Deque[Item] = collections.deque()
        self._queued_events = 0
        self._outstanding = 0  # credit granted on this connection, not yet used by an event
        self._last_rx = 0.0
        self._lock = threading.Lock()  # socket writes and the pending acks
        self._pending: List[event_pb2.Event] = []  # acked, not yet sent
        self._pending_since = 0.0
        self._last_tx = 0.0
        self._heartbeat_s = 5.0
        self._idle_timeout_s = 30.0
        self._keeper: Optional[threading.Thread] = None
        self._keeper_stop = threading.Event()
        self._schemas = SchemaCache()
        self._schema_asked: set = set()

        #: The last Welcome frame (``intentlog.v1.Welcome``), None before the first.
        self.welcome: Optional[stream_pb2.Welcome] = None
        #: The (domain, partition) pairs this connection receives now.
        self.assignment: FrozenSet[PartitionRef] = frozenset()
        #: Connections opened after the first (reconnects).
        self.reconnects = 0
        #: Acks and nacks dropped because their event came on an earlier connection.
        self.stale_acks = 0

    # ------------------------------------------------------------ public API

    def __enter__(self) -> "Consumer":
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        item = self.poll(None)
        assert item is not None
        return item

    def connect(self) -> None:
        """Opens the connection (done by ``with`` and by the first iteration).

        Raises ConnectionLost when the worker cannot be reached, a ServerError
        when it refuses the Hello, BadServerFrame when the peer is not a worker.
        """
        if self._closed:
            raise errors.IntentlogError("consumer is closed")
        if self._sock is None:
            self._open()

    def poll(self, timeout: Optional[float] = None) -> Optional[Item]:
        """The next event or gap, waiting at most ``timeout`` seconds (None:
        as long as it takes); None when nothing came in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._queue:
                item = self._queue.popleft()
                if type(item) is Event:
                    self._queued_events -= 1
                    if self._credit - self._outstanding - self._queued_events >= self._half_credit:
                        self._top_up()
                return item
            if not self._pump(deadline):
                return None

    def ack(self, events: Union[Event, Iterable[Event]]) -> None:
        """Acknowledges processed events; they are sent batched (``ack_batch``,
        ``ack_delay``). Acks of events received on an earlier connection are
        dropped: the worker delivers those again."""
        if type(events) is Event:  # the common case, kept short
            if events._conn != self._conn:
                self.stale_acks += 1
                return
            pb = events._pb
            with self._lock:
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending.append(pb)
                flush = len(self._pending) >= self._ack_batch
            if flush:
                self.flush()
            return
        if isinstance(events, Event):
            events = (events,)
        flush = False
        with self._lock:
            for e in events:
                if not isinstance(e, Event):
                    raise TypeError("ack() takes Events, not %s" % type(e).__name__)
                if e._conn != self._conn:
                    self.stale_acks += 1
                    continue
                pb = e._pb
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending.append(pb)
            flush = len(self._pending) >= self._ack_batch
        if flush:
            self.flush()

    def nack(self, event: Event, error: str = "") -> None:
        """Reports a failed event: the worker delivers it again later (after the
        domain's back-off), and the later events of its key wait behind it."""
        if not isinstance(event, Event):
            raise TypeError("nack() takes an Event, not %s" % type(event).__name__)
        if event._conn != self._conn:
            self.stale_acks += 1
            return
        pb = event._pb
        f = stream_pb2.ClientFrame()
        f.nack.event.domain = pb.domain
        f.nack.event.partition = pb.partition
        f.nack.event.seq = pb.seq
        f.nack.error = error
        with self._lock:
            self._flush_locked()
            try:
                self._send_locked(f)
            except OSError:
                pass  # lost with the connection: the event is delivered again

    def flush(self) -> None:
        """Sends the pending acks now."""
        with self._lock:
            self._flush_locked()

    def schema(self, domain: str, version: int, timeout: Optional[float] = None) -> Type[message.Message]:
        """The message class of a domain's schema ``version`` (>= 1), fetched
        once with a SchemaRequest and cached for the consumer's life (an
        answer saying there is none is kept until the next reconnect).
        Raises SchemaError when there is none or no answer came in time."""
        if version < 1:
            raise ValueError("schema version must be >= 1 (an event's schema_version)")
        key = (domain, version)
        if key not in self._schemas:
            self.connect()
            deadline = time.monotonic() + (self._connect_timeout if timeout is None else timeout)
            while not self._schemas.known(key):
                if key not in self._schema_asked:  # not yet, or not on this connection
                    self._ask_schema(key)
                if not self._pump(deadline):
                    raise errors.SchemaError("no Schema frame for %s version %d in time" % key)
        return self._schemas.get(key)

    def close(self) -> None:
        """Sends pending acks and closes the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        except OSError:
            pass
        self._disconnect()

    # ------------------------------------------------------------ connection

    def _open(self) -> None:
        """Connects and says Hello; with reconnect on, a lost connection or a
        retryable Error is retried with back-off (not on the very first
        connection, whose failure is the caller's to see)."""
        first = not self._ever_welcomed
        delay = 0.1
        since = time.monotonic()
        while True:
            try:
                self._hello()
                return
            except (_Dropped, errors.ConnectionLost) as e:
                why: BaseException = e
            except errors.ServerError as e:
                if not e.retryable:
                    raise
                why = e
            if first or not self._reconnect:
                if isinstance(why, errors.IntentlogError):
                    raise why
                raise errors.ConnectionLost("cannot connect to %s: %s" % (self.endpoint, why)) from None
            if self._reconnect_timeout is not None and time.monotonic() - since > self._reconnect_timeout:
                raise errors.ConnectionLost("no connection to %s for %.1f s: %s" % (
                    self.endpoint, self._reconnect_timeout, why)) from None
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._reconnect_max_delay)

    def _hello(self) -> None:
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.settimeout(self._connect_timeout)
        try:
            sock.connect(self._address)
        except OSError as e:
            sock.close()
            raise errors.ConnectionLost("cannot connect to %s: %s" % (self.endpoint, e)) from None
        if self._family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl_context is not None:
            try:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_hostname)
            except (ssl.SSLError, ssl.CertificateError, OSError) as e:
                sock.close()
                raise errors.ConnectionLost("TLS handshake with %s failed: %s" % (self.endpoint, e)) from None
            # An SSL object must not read and write at once: reads take the
            # lock too (after poll() said there is something to read), and
            # keep the timeout, so that a record cut short cannot hold the
            # lock for ever.
        else:
            # Blocking from now on: reads wait in poll(), so that the keeper
            # thread's writes never share a socket timeout with them.
            sock.settimeout(None)
        self._sock = sock
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        self._welcomed = False
        self._last_rx = time.monotonic()
        self._decoder = FrameDecoder(self._max_frame_bytes)
        self._conn += 1
        self._queue.clear()
        self._queued_events = 0
        with self._lock:
            self._pending.clear()
        self._schema_asked.clear()
        self._schemas.forget_errors()

        f = stream_pb2.ClientFrame()
        h = f.hello
        h.protocol_version = 1
        h.token = self._token
        h.group = self.group
        h.domains.extend(self.domains)
        h.client_name = self._client_name
        h.initial_credit = self._credit
        if not self._ever_welcomed:
            h.start = self._start
            for (domain, partition), after in self._positions.items():
                h.positions.add(domain=domain, partition=partition, after_seq=after)
        self._outstanding = self._credit
        try:
            with self._lock:
                self._send_locked(f)
            deadline = time.monotonic() + self._connect_timeout
            while True:
                sf = self._read_frame(deadline)
                if sf is None:
                    raise _Dropped("no Welcome within %.1f s" % self._connect_timeout)
                kind = sf.WhichOneof("frame")
                if kind == "error":
                    raise errors.server_error(sf.error.code, sf.error.message)
                if kind != "welcome":
                    raise errors.BadServerFrame("expected Welcome or Error as the first frame, got %s" % (
                        kind or "an empty or unknown frame"))
                break
        except BaseException:
            self._disconnect()
            raise
        w = sf.welcome
        self.welcome = w
        if w.heartbeat_interval_ms:
            self._heartbeat_s = w.heartbeat_interval_ms / 1000.0
        if w.idle_timeout_ms:
            self._idle_timeout_s = w.idle_timeout_ms / 1000.0
        if self._ever_welcomed:
            self.reconnects += 1
        self._ever_welcomed = True
        self._welcomed = True
        self._last_tx = time.monotonic()
        self._keeper_stop = threading.Event()
        self._keeper = threading.Thread(target=self._keep, args=(sock, self._keeper_stop),
                                        name="intentlog-keeper", daemon=True)
        self._keeper.start()

    def _disconnect(self) -> None:
        self._keeper_stop.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(timeout=1.0)
        self._keeper = None
        self.assignment = frozenset()

    def _lost(self, why: _Dropped) -> None:
        """Closes a broken connection and opens a new one, or raises."""
        self._disconnect()
        if not self._reconnect or self._closed:
            cause = why.cause
            if isinstance(cause, errors.ServerError):
                raise cause
            raise errors.ConnectionLost("connection to %s lost: %s" % (self.endpoint, why)) from None
        self._open()

    # ------------------------------------------------------------ reading

    def _pump(self, deadline: Optional[float]) -> bool:
        """Reads and handles one frame, reconnecting when the connection is
        lost; False once the deadline passed."""
        if self._closed:
            raise errors.IntentlogError("consumer is closed")
        if self._sock is None:
            self._open()
        try:
            with self._lock:
                self._flush_locked()  # the worker may be waiting for them
            self._top_up()
            sf = self._read_frame(deadline)
        except _Dropped as why:
            self._lost(why)
            return True
        if sf is None:
            return False
        try:
            self._handle(sf)
        except _Dropped as why:
            self._lost(why)
        return True

    def _read_frame(self, deadline: Optional[float]) -> Optional[stream_pb2.ServerFrame]:
        """The next ServerFrame; None at the deadline. Raises _Dropped when the
        connection is lost or silent past the worker's idle timeout, and
        BadServerFrame on bytes that are not the wire."""
        sock = self._sock
        assert sock is not None
        while True:
            body = self._decoder.next()
            if body is not None:
                sf = stream_pb2.ServerFrame()
                try:
                    # The C++ runtime only warns about a stray end-group tag.
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", RuntimeWarning)
                        sf.ParseFromString(body)
                except Exception as e:  # DecodeError from either runtime, or that warning
                    self._disconnect()
                    # (the warning surfaces as itself or, raised inside C++, as a SystemError's cause)
                    cause = e.__cause__ if isinstance(e, SystemError) and e.__cause__ else e
                    detail = str(cause)
                    raise errors.BadServerFrame("server frame of %d bytes does not parse: %s" % (len(body), detail)) \
                        from None
                return sf
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            wait = self._idle_timeout_s if self._welcomed else self._connect_timeout
            if deadline is not None:
                wait = min(wait, deadline - now)
            try:
                tls = isinstance(sock, ssl.SSLSocket)
                # (TLS: bytes already decrypted are not seen by poll())
                if not (tls and sock.pending()) and not self._poller.poll(max(int(wait * 1000), 1)):
                    # Checked only after a wait found nothing to read: what the
                    # worker sent while the application was busy counts.
                    if self._welcomed and time.monotonic() - self._last_rx > self._idle_timeout_s:
                        raise _Dropped("nothing received for %.1f s" % self._idle_timeout_s)
                    continue
                if tls:
                    with self._lock:
                        data = sock.recv(_RECV_BYTES)
                else:
                    data = sock.recv(_RECV_BYTES)
            except OSError as e:
                raise _Dropped(str(e), e) from None
            if not data:
                raise _Dropped("connection closed by the worker")
            self._last_rx = time.monotonic()
            self._decoder.feed(data)

    def _handle(self, sf: stream_pb2.ServerFrame) -> None:
        kind = sf.WhichOneof("frame")
        if kind == "batch":
            conn = self._conn
            n = 0
            for pb in sf.batch.events:
                self._queue.append(Event(pb, self, conn))
                n += 1
                v = pb.schema_version
                if v > 0 and (pb.domain, v) not in self._schema_asked and not self._schemas.known((pb.domain, v)):
                    self._ask_schema((pb.domain, v))
            self._queued_events += n
            self._outstanding -= n
            if self._outstanding < 0:
                self._disconnect()
                raise errors.BadServerFrame("the worker sent %d events more than the credit granted" %
                                            -self._outstanding)
        elif kind == "gap":
            self._queue.append(Gap.from_proto(sf.gap))
        elif kind == "assignment":
            self.assignment = frozenset((p.domain, p.partition) for p in sf.assignment.partitions)
            if self._on_assignment is not None:
                self._on_assignment(self.assignment)
        elif kind == "schema":
            s = sf.schema
            self._schemas.store((s.domain, s.schema_version), s.message, s.descriptor_set, s.error)
        elif kind == "error":
            err = errors.server_error(sf.error.code, sf.error.message)
            if err.retryable:
                raise _Dropped(str(err), err)
            self._disconnect()
            raise err
        elif kind == "welcome":
            self._disconnect()
            raise errors.BadServerFrame("a second Welcome on one connection")
        # heartbeat: receiving it is all it is for; unknown (newer) frames are ignored

    def _ask_schema(self, key: Tuple[str, int]) -> None:
        self._schema_asked.add(key)
        f = stream_pb2.ClientFrame()
        f.schema_request.domain = key[0]
        f.schema_request.schema_version = key[1]
        try:
            with self._lock:
                self._send_locked(f)
        except OSError:
            pass  # the read side notices the lost connection

    # ------------------------------------------------------------ writing

    def _top_up(self) -> None:
        """Grants more credit once half of it was used by events the
        application took, so that at most ``credit`` events are ever buffered."""
        want = self._credit - self._outstanding - self._queued_events
        if want < self._half_credit or self._sock is None:
            return
        f = stream_pb2.ClientFrame()
        f.credit.events = want
        try:
            with self._lock:
                self._send_locked(f)
            self._outstanding += want
        except OSError:
            pass  # the read side notices the lost connection

    def _flush_locked(self) -> None:
        if not self._pending or self._sock is None:
            return
        f = stream_pb2.ClientFrame()
        add = f.ack.events.add
        for pb in self._pending:
            add(domain=pb.domain, partition=pb.partition, seq=pb.seq)
        self._pending.clear()
        try:
            self._send_locked(f)
        except OSError:
            pass  # lost with the connection: those events are delivered again

    def _send_locked(self, f: stream_pb2.ClientFrame) -> None:
        sock = self._sock
        if sock is None:
            raise OSError("not connected")
        sock.sendall(frame(f.SerializeToString()))
        self._last_tx = time.monotonic()

    def _keep(self, sock: socket.socket, stop: threading.Event) -> None:
        """Background thread of one connection: due acks and heartbeats."""
        hb = stream_pb2.ClientFrame()
        hb.heartbeat.SetInParent()
        while not stop.wait(_KEEPER_PERIOD):
            now = time.monotonic()
            with self._lock:
                if self._sock is not sock:
                    return
                try:
                    if self._pending and now - self._pending_since >= self._ack_delay:
                        self._flush_locked()
                    if now - self._last_tx >= self._heartbeat_s:
                        hb.heartbeat.sent_at.GetCurrentTime()
                        self._send_locked(hb)
                except OSError:
                    return
