from google.protobuf import timestamp_pb2 as _timestamp_pb2
from intentlog.v1 import event_pb2 as _event_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
ERROR_BAD_FRAME: ErrorCode
ERROR_CREDIT_LIMIT: ErrorCode
ERROR_FRAME_TOO_LARGE: ErrorCode
ERROR_IDLE_TIMEOUT: ErrorCode
ERROR_INTERNAL: ErrorCode
ERROR_PERMISSION_DENIED: ErrorCode
ERROR_PROTOCOL: ErrorCode
ERROR_SHUTTING_DOWN: ErrorCode
ERROR_UNAUTHENTICATED: ErrorCode
ERROR_UNKNOWN_DOMAIN: ErrorCode
ERROR_UNSPECIFIED: ErrorCode
ERROR_UNSUPPORTED_VERSION: ErrorCode
START_COMMITTED: Start
START_EARLIEST: Start
START_LATEST: Start
START_POSITION: Start

class Ack(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_event_pb2.EventId]
    def __init__(self, events: _Optional[_Iterable[_Union[_event_pb2.EventId, _Mapping]]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ["partitions"]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    partitions: _containers.RepeatedCompositeFieldContainer[PartitionRef]
    def __init__(self, partitions: _Optional[_Iterable[_Union[PartitionRef, _Mapping]]] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_event_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_event_pb2.Event, _Mapping]]] = ...) -> None: ...

class ClientFrame(_message.Message):
    __slots__ = ["ack", "credit", "heartbeat", "hello", "nack", "schema_request"]
    ACK_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_REQUEST_FIELD_NUMBER: _ClassVar[int]
    ack: Ack
    credit: Credit
    heartbeat: Heartbeat
    hello: Hello
    nack: Nack
    schema_request: SchemaRequest
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., credit: _Optional[_Union[Credit, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., nack: _Optional[_Union[Nack, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., schema_request: _Optional[_Union[SchemaRequest, _Mapping]] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: int
    def __init__(self, events: _Optional[int] = ...) -> None: ...

class DomainInfo(_message.Message):
    __slots__ = ["durability", "name", "partitions"]
    DURABILITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    durability: str
    name: str
    partitions: int
    def __init__(self, name: _Optional[str] = ..., partitions: _Optional[int] = ..., durability: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ["code", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ["sent_at"]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, sent_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ["client_name", "domains", "group", "initial_credit", "positions", "protocol_version", "start", "token"]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    INITIAL_CREDIT_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    domains: _containers.RepeatedScalarFieldContainer[str]
    group: str
    initial_credit: int
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    protocol_version: int
    start: Start
    token: str
    def __init__(self, protocol_version: _Optional[int] = ..., token: _Optional[str] = ..., group: _Optional[str] = ..., domains: _Optional[_Iterable[str]] = ..., start: _Optional[_Union[Start, str]] = ..., positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., client_name: _Optional[str] = ..., initial_credit: _Optional[int] = ...) -> None: ...

class Nack(_message.Message):
    __slots__ = ["error", "event"]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    error: str
    event: _event_pb2.EventId
    def __init__(self, event: _Optional[_Union[_event_pb2.EventId, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class PartitionRef(_message.Message):
    __slots__ = ["domain", "partition"]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    domain: str
    partition: int
    def __init__(self, domain: _Optional[str] = ..., partition: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ["after_seq", "domain", "partition"]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    after_seq: int
    domain: str
    partition: int
    def __init__(self, domain: _Optional[str] = ..., partition: _Optional[int] = ..., after_seq: _Optional[int] = ...) -> None: ...

class Schema(_message.Message):
    __slots__ = ["descriptor_set", "domain", "error", "message", "schema_version"]
    DESCRIPTOR_SET_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    descriptor_set: bytes
    domain: str
    error: str
    message: str
    schema_version: int
    def __init__(self, domain: _Optional[str] = ..., schema_version: _Optional[int] = ..., message: _Optional[str] = ..., descriptor_set: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class SchemaRequest(_message.Message):
    __slots__ = ["domain", "schema_version"]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    domain: str
    schema_version: int
    def __init__(self, domain: _Optional[str] = ..., schema_version: _Optional[int] = ...) -> None: ...

class ServerFrame(_message.Message):
    __slots__ = ["assignment", "batch", "error", "gap", "heartbeat", "schema", "welcome"]
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    assignment: Assignment
    batch: Batch
    error: Error
    gap: _event_pb2.Gap
    heartbeat: Heartbeat
    schema: Schema
    welcome: Welcome
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., batch: _Optional[_Union[Batch, _Mapping]] = ..., gap: _Optional[_Union[_event_pb2.Gap, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., assignment: _Optional[_Union[Assignment, _Mapping]] = ..., schema: _Optional[_Union[Schema, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ["domains", "heartbeat_interval_ms", "idle_timeout_ms", "max_credit", "max_frame_bytes", "max_in_flight", "protocol_version", "session_id", "worker_id"]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_CREDIT_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedCompositeFieldContainer[DomainInfo]
    heartbeat_interval_ms: int
    idle_timeout_ms: int
    max_credit: int
    max_frame_bytes: int
    max_in_flight: int
    protocol_version: int
    session_id: int
    worker_id: str
    def __init__(self, protocol_version: _Optional[int] = ..., worker_id: _Optional[str] = ..., session_id: _Optional[int] = ..., max_frame_bytes: _Optional[int] = ..., max_credit: _Optional[int] = ..., max_in_flight: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., idle_timeout_ms: _Optional[int] = ..., domains: _Optional[_Iterable[_Union[DomainInfo, _Mapping]]] = ...) -> None: ...

class Start(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
