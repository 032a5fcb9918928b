"""intentlog: a Python consumer of intentlog-worker's stream.

    from intentlog import Consumer

    with Consumer("unix:/tmp/intentlog.sock", group="billing", domains=["orders"]) as c:
        for item in c:
            if isinstance(item, Gap):
                ...  # a staged domain lost these seqs in a server crash
                continue
            handle(item.key, item.decode())
            c.ack(item)

The wire it speaks is docs/PROTOCOL.md of the intentlog repository.
"""
from intentlog.consumer import Consumer, parse_endpoint
from intentlog.errors import (BadFrameError, BadServerFrame, ConnectionLost, CreditLimitError, FrameTooLargeError,
                              IdleTimeoutError, IntentlogError, InternalError, PermissionDeniedError, ProtocolError,
                              SchemaError,
                              ServerError, ShuttingDownError, UnauthenticatedError, UnknownDomainError,
                              UnspecifiedError, UnsupportedVersionError)
from intentlog.events import Event, EventId, Gap

__version__ = "0.1.0"

__all__ = [
    "Consumer", "Event", "EventId", "Gap", "parse_endpoint",
    "IntentlogError", "ConnectionLost", "BadServerFrame", "SchemaError", "ServerError",
    "UnspecifiedError", "BadFrameError", "FrameTooLargeError", "ProtocolError", "UnauthenticatedError",
    "UnknownDomainError", "CreditLimitError", "IdleTimeoutError", "ShuttingDownError", "InternalError",
    "UnsupportedVersionError", "PermissionDeniedError",
]
