from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
STATE_SOURCE_PRIMARY: StateSource
STATE_SOURCE_STANDBY: StateSource
STATE_SOURCE_UNSPECIFIED: StateSource

class Event(_message.Message):
    __slots__ = ["appended_at", "attempt", "domain", "expected_version", "headers_json", "key", "op", "partition", "payload", "schema_version", "seq", "state"]
    APPENDED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    HEADERS_JSON_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    appended_at: _timestamp_pb2.Timestamp
    attempt: int
    domain: str
    expected_version: int
    headers_json: str
    key: str
    op: str
    partition: int
    payload: bytes
    schema_version: int
    seq: int
    state: State
    def __init__(self, domain: _Optional[str] = ..., partition: _Optional[int] = ..., seq: _Optional[int] = ..., key: _Optional[str] = ..., op: _Optional[str] = ..., payload: _Optional[bytes] = ..., schema_version: _Optional[int] = ..., expected_version: _Optional[int] = ..., headers_json: _Optional[str] = ..., appended_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[State, _Mapping]] = ...) -> None: ...

class EventId(_message.Message):
    __slots__ = ["domain", "partition", "seq"]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    domain: str
    partition: int
    seq: int
    def __init__(self, domain: _Optional[str] = ..., partition: _Optional[int] = ..., seq: _Optional[int] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ["detected_at", "domain", "first_seq", "gap_id", "last_seq", "partition"]
    DETECTED_AT_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEQ_FIELD_NUMBER: _ClassVar[int]
    GAP_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    detected_at: _timestamp_pb2.Timestamp
    domain: str
    first_seq: int
    gap_id: int
    last_seq: int
    partition: int
    def __init__(self, domain: _Optional[str] = ..., partition: _Optional[int] = ..., first_seq: _Optional[int] = ..., last_seq: _Optional[int] = ..., gap_id: _Optional[int] = ..., detected_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class State(_message.Message):
    __slots__ = ["bytes", "json", "reads", "source", "version"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    bytes: bytes
    json: str
    reads: int
    source: StateSource
    version: int
    def __init__(self, version: _Optional[int] = ..., bytes: _Optional[bytes] = ..., json: _Optional[str] = ..., source: _Optional[_Union[StateSource, str]] = ..., reads: _Optional[int] = ...) -> None: ...

class StateSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
