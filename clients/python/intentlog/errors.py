"""Exceptions of the intentlog client.

Every failure the client reports is an :class:`IntentlogError`:

- :class:`ServerError` and its subclasses: the worker sent an ``Error`` frame
  (one subclass per ``ErrorCode`` of ``intentlog/v1/stream.proto``) and closed
  the connection;
- :class:`BadServerFrame`: what the server sent is not the intentlog wire (a
  malformed length prefix, an oversized or unparsable frame, a frame out of
  order): the connection is closed, nothing is retried;
- :class:`ConnectionLost`: the worker could not be reached, or the connection
  was lost and reconnecting is off or gave up;
- :class:`SchemaError`: an event's payload cannot be decoded (no registered
  schema, or the worker could not hand it out).
"""
from __future__ import annotations

from typing import Dict, Type

from intentlog.v1 import stream_pb2


class IntentlogError(Exception):
    """Base class of every error raised by this package."""


class ConnectionLost(IntentlogError):
    """The worker cannot be reached, or the connection to it was lost."""


class BadServerFrame(IntentlogError):
    """The server sent bytes that are not a valid intentlog ServerFrame stream."""


class SchemaError(IntentlogError):
    """An event's payload cannot be decoded through its domain's schema."""


class ServerError(IntentlogError):
    """The worker sent an Error frame; it closes the connection after it.

    ``code`` is the numeric ``intentlog.v1.ErrorCode``, ``code_name`` its name
    (``"ERROR_UNKNOWN_DOMAIN"``...), ``message`` the worker's explanation.
    """

    #: Whether a new connection may succeed (the consumer reconnects by itself).
    retryable = False

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        try:
            self.code_name = stream_pb2.ErrorCode.Name(code)
        except ValueError:
            self.code_name = "ERROR_%d" % code
        self.message = message
        super().__init__("%s: %s" % (self.code_name, message))


class UnspecifiedError(ServerError):
    """ERROR_UNSPECIFIED, or a code newer than this client."""


class BadFrameError(ServerError):
    """ERROR_BAD_FRAME: the worker could not parse a frame this client sent."""


class FrameTooLargeError(ServerError):
    """ERROR_FRAME_TOO_LARGE: a frame of this client exceeded max_frame_bytes."""


class ProtocolError(ServerError):
    """ERROR_PROTOCOL: a frame out of order, or an invalid field (group name, positions...)."""


class UnauthenticatedError(ServerError):
    """ERROR_UNAUTHENTICATED: missing or wrong token on a TCP listener."""


class UnknownDomainError(ServerError):
    """ERROR_UNKNOWN_DOMAIN: a domain of the Hello does not exist (or is not a valid name)."""


class CreditLimitError(ServerError):
    """ERROR_CREDIT_LIMIT: outstanding credit would exceed the worker's max_credit."""


class IdleTimeoutError(ServerError):
    """ERROR_IDLE_TIMEOUT: the worker heard nothing from this connection for too long."""

    retryable = True


class ShuttingDownError(ServerError):
    """ERROR_SHUTTING_DOWN: the worker is stopping; another (or the restarted) one takes over."""

    retryable = True


class InternalError(ServerError):
    """ERROR_INTERNAL: the worker failed on its side."""

    retryable = True


class UnsupportedVersionError(ServerError):
    """ERROR_UNSUPPORTED_VERSION: the worker does not speak this protocol_version."""


class PermissionDeniedError(ServerError):
    """ERROR_PERMISSION_DENIED: this consumer's token does not grant the group or a domain of the Hello."""


_BY_CODE: Dict[int, Type[ServerError]] = {
    stream_pb2.ERROR_UNSPECIFIED: UnspecifiedError,
    stream_pb2.ERROR_BAD_FRAME: BadFrameError,
    stream_pb2.ERROR_FRAME_TOO_LARGE: FrameTooLargeError,
    stream_pb2.ERROR_PROTOCOL: ProtocolError,
    stream_pb2.ERROR_UNAUTHENTICATED: UnauthenticatedError,
    stream_pb2.ERROR_UNKNOWN_DOMAIN: UnknownDomainError,
    stream_pb2.ERROR_CREDIT_LIMIT: CreditLimitError,
    stream_pb2.ERROR_IDLE_TIMEOUT: IdleTimeoutError,
    stream_pb2.ERROR_SHUTTING_DOWN: ShuttingDownError,
    stream_pb2.ERROR_INTERNAL: InternalError,
    stream_pb2.ERROR_UNSUPPORTED_VERSION: UnsupportedVersionError,
    stream_pb2.ERROR_PERMISSION_DENIED: PermissionDeniedError,
}


def server_error(code: int, message: str) -> ServerError:
    """The exception for an Error frame's code (UnspecifiedError for unknown codes)."""
    return _BY_CODE.get(code, UnspecifiedError)(code, message)
