"""Length-delimited framing: a base-128 varint byte length, then the message.

The framing of C++ ``delimited_message_util``, Java ``writeDelimitedTo`` and Go
``protodelim`` (docs/PROTOCOL.md, "Framing").
"""
from __future__ import annotations

from typing import Optional

from intentlog.errors import BadServerFrame

_MAX_PREFIX_BYTES = 5  # a uint32 length needs at most 5 varint bytes


def encode_varint(n: int) -> bytes:
    """The base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(body: bytes) -> bytes:
    """``body`` with its length prefix."""
    return encode_varint(len(body)) + body


class FrameDecoder:
    """Incremental decoder: feed it what the socket returned, take whole frame bodies.

    The length prefix is checked against ``max_frame_bytes`` as soon as it is
    complete, before any of the body is buffered.
    """

    def __init__(self, max_frame_bytes: int) -> None:
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next(self) -> Optional[bytes]:
        """The next complete frame body, or None until more bytes arrive.

        Raises BadServerFrame on a malformed prefix or a frame above the limit.
        """
        buf, pos, end = self._buf, self._pos, len(self._buf)
        length = 0
        shift = 0
        i = pos
        while True:
            if i == end:
                return None
            if i - pos == _MAX_PREFIX_BYTES:
                raise BadServerFrame("malformed frame length prefix (more than 5 varint bytes)")
            b = buf[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if length > 0xFFFFFFFF:
            raise BadServerFrame("malformed frame length prefix (above 32 bits)")
        if length > self._max:
            raise BadServerFrame("frame of %d bytes exceeds the client's max_frame_bytes %d" % (length, self._max))
        if end - i < length:
            return None
        self._pos = i + length
        return bytes(buf[i : i + length])
