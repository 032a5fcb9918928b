"""What a consumer receives: events and gaps."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Dict, NamedTuple, Optional

from google.protobuf import json_format, message

from intentlog.v1 import event_pb2

if TYPE_CHECKING:
    from intentlog.consumer import Consumer


class EventId(NamedTuple):
    """An intent's identity and the consumers' idempotency key."""

    domain: str
    partition: int
    seq: int


def _datetime(ts: Any) -> datetime:
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=timezone.utc)


class Event:
    """One intent as delivered (``intentlog.v1.Event``), tied to the consumer
    (and connection) that received it.

    Delivery is at least once: the same :attr:`id` may be seen again after a
    nack, a reconnect or a worker's death (docs/PROTOCOL.md, "Acks").
    """

    __slots__ = ("_pb", "_consumer", "_conn")

    def __init__(self, pb: event_pb2.Event, consumer: "Consumer", conn: int) -> None:
        self._pb = pb
        self._consumer = consumer
        self._conn = conn

    @property
    def domain(self) -> str:
        return self._pb.domain

    @property
    def partition(self) -> int:
        return self._pb.partition

    @property
    def seq(self) -> int:
        return self._pb.seq

    @property
    def id(self) -> EventId:
        """(domain, partition, seq): deduplicate on this."""
        pb = self._pb
        return EventId(pb.domain, pb.partition, pb.seq)

    @property
    def key(self) -> str:
        return self._pb.key

    @property
    def op(self) -> str:
        return self._pb.op

    @property
    def payload(self) -> bytes:
        """The application's delta as appended (see :meth:`decode`)."""
        return self._pb.payload

    @property
    def schema_version(self) -> int:
        """The schema version the payload was appended under; 0: none registered."""
        return self._pb.schema_version

    @property
    def expected_version(self) -> Optional[int]:
        return self._pb.expected_version if self._pb.HasField("expected_version") else None

    @property
    def headers(self) -> Dict[str, Any]:
        """The intent's headers (a JSON object; empty when there are none)."""
        text = self._pb.headers_json
        return json.loads(text) if text else {}

    @property
    def appended_at(self) -> datetime:
        """When the intent was appended (its transaction's clock), in UTC."""
        return _datetime(self._pb.appended_at)

    @property
    def attempt(self) -> int:
        """Delivery attempt: 1 first, more after nacks. 1 does not prove a first delivery."""
        return self._pb.attempt

    @property
    def state(self) -> Optional[event_pb2.State]:
        """The key's state resolved through the domain's state_query, if it has one."""
        return self._pb.state if self._pb.HasField("state") else None

    @property
    def proto(self) -> event_pb2.Event:
        """The underlying ``intentlog.v1.Event`` message."""
        return self._pb

    def decode(self, timeout: Optional[float] = None) -> message.Message:
        """The payload as a message of the domain's schema at :attr:`schema_version`.

        The descriptor set is fetched from the worker (SchemaRequest) the first
        time a (domain, version) is met and cached for the consumer's life.
        Raises SchemaError when the domain has no schema or the worker cannot
        hand it out, or when the payload does not parse.
        """
        if self._pb.schema_version <= 0:
            raise SchemaError("domain %r has no registered schema (schema_version 0)" % self._pb.domain)
        cls = self._consumer.schema(self._pb.domain, self._pb.schema_version, timeout=timeout)
        msg = cls()
        try:
            msg.ParseFromString(self._pb.payload)
        except Exception as e:
            raise SchemaError("payload of %s/%d/%d does not parse as %s: %s" % (
                self._pb.domain, self._pb.partition, self._pb.seq, cls.DESCRIPTOR.full_name, e)) from None
        return msg

    def to_dict(self) -> Dict[str, Any]:
        """The event as JSON-ready values.

        ``payload`` is the decoded message in Protobuf's JSON mapping (what
        ``intentlog.decode`` returns) when the payload has a schema version,
        otherwise the bytes in base64. ``headers`` is a dict, ``appended_at``
        an RFC 3339 string, ``state`` present only when the domain has a
        state_query.
        """
        pb = self._pb
        d: Dict[str, Any] = {
            "domain": pb.domain,
            "partition": pb.partition,
            "seq": pb.seq,
            "key": pb.key,
            "op": pb.op,
            "schema_version": pb.schema_version,
            "headers": self.headers,
            "appended_at": pb.appended_at.ToJsonString(),
            "attempt": pb.attempt,
        }
        if pb.HasField("expected_version"):
            d["expected_version"] = pb.expected_version
        if pb.schema_version > 0 and pb.payload:
            d["payload"] = json_format.MessageToDict(self.decode())
        elif pb.schema_version > 0:
            d["payload"] = {}
        else:
            d["payload"] = base64.b64encode(pb.payload).decode("ascii")
        if pb.HasField("state"):
            d["state"] = json_format.MessageToDict(pb.state, preserving_proto_field_name=True)
        return d

    def __repr__(self) -> str:
        pb = self._pb
        return "Event(%s/%d/%d key=%r op=%r attempt=%d)" % (pb.domain, pb.partition, pb.seq, pb.key, pb.op, pb.attempt)


@dataclass(frozen=True)
class Gap:
    """Seqs ``first_seq..last_seq`` of a staged domain's partition that may
    have been lost in a server crash. Surviving intents of the range still
    arrive as events; the rest are gone. Told once per consumer group; needs
    no ack."""

    domain: str
    partition: int
    first_seq: int
    last_seq: int
    gap_id: int
    detected_at: datetime

    @classmethod
    def from_proto(cls, pb: event_pb2.Gap) -> "Gap":
        return cls(pb.domain, pb.partition, pb.first_seq, pb.last_seq, pb.gap_id, _datetime(pb.detected_at))

    def to_dict(self) -> Dict[str, Any]:
        return {"gap": {"domain": self.domain, "partition": self.partition, "first_seq": self.first_seq,
                        "last_seq": self.last_seq, "gap_id": self.gap_id,
                        "detected_at": self.detected_at.isoformat()}}
