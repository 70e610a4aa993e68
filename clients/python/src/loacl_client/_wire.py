"""LOACL wire v1 framing constants and encoders (docs/PROTOCOL.md §1–2)."""
from __future__ import annotations

import struct

PREFACE = b"LOACL/1\n"
HEADER = struct.Struct(">IBBI")  # length, type, flags, stream id
HEADER_SIZE = HEADER.size  # 10
U32 = struct.Struct(">I")

HEADERS = 0x1
MESSAGE = 0x2
TRAILERS = 0x3
CANCEL = 0x4
WINDOW_UPDATE = 0x5
PING = 0x6
GOAWAY = 0x7

END_STREAM = 0x1
ACK = 0x2

INITIAL_WINDOW = 1 << 20  # stream and connection, both directions
MAX_WINDOW = (1 << 31) - 1
MAX_STREAM_ID = (1 << 32) - 1
DEFAULT_MAX_FRAME = 4 * 1024 * 1024


def frame(type_: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload), type_, flags, stream_id) + payload


def window_update(stream_id: int, increment: int) -> bytes:
    return HEADER.pack(4, WINDOW_UPDATE, 0, stream_id) + U32.pack(increment)


def allows(window: int, size: int) -> bool:
    """A MESSAGE of `size` may be sent while the window is positive (it may go negative), or when
    it fits (PROTOCOL.md §4)."""
    return window > 0 or size <= window
