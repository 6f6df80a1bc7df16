"""Opaque cursors for keyset pagination: frames over (capture time, id), jobs over id.

The cursor is the position of the last item served, so a page never repeats or skips an item
however many arrive meanwhile, and the query is an index range scan at any depth (OFFSET would
be neither). It is opaque to clients, and its format is one that a pattern describes exactly
(:data:`CURSOR_PATTERN`: 16 hex digits of the time, 16 of the id; :data:`ID_CURSOR_PATTERN`:
16 of the id). Every string of that form is a position (the OpenAPI document promises no more
and no less), so the only malformed cursor is one the pattern already refuses.

The time is written as its float64 bits turned into an order-preserving unsigned integer;
the integers past +inf and before -inf (the NaNs) are read as ±inf, positions after every frame
and before every frame.
"""

from __future__ import annotations

import math
import re
import struct

ID_CURSOR_PATTERN = r"^[0-7][0-9a-f]{15}$"
"""An id below 2**63 (ids are BIGINT)."""
CURSOR_PATTERN = r"^[0-9a-f]{16}[0-7][0-9a-f]{15}$"
"""Time key, then an id."""
MALFORMED = "malformed cursor: pass the 'next' value of a previous page"
_SIGN = 1 << 63
_ALL = (1 << 64) - 1


class CursorError(ValueError):
    """The cursor was not made by this server."""


def _key(ts: float) -> int:
    """An unsigned 64-bit integer that orders as ``ts`` does (-inf lowest, +inf highest)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", ts))
    return bits ^ _ALL if bits & _SIGN else bits | _SIGN


def _time(key: int) -> float:
    key = min(max(key, _key(-math.inf)), _key(math.inf))
    bits = key ^ _SIGN if key & _SIGN else key ^ _ALL
    (ts,) = struct.unpack(">d", struct.pack(">Q", bits))
    return ts


def _check(cursor: str, pattern: str) -> None:
    if not re.fullmatch(pattern.strip("^$"), cursor):
        raise CursorError(MALFORMED)


def encode_cursor(ts: float, frame_id: int) -> str:
    """Cursor pointing just after the frame captured at ``ts`` with id ``frame_id``."""
    return f"{_key(ts):016x}{frame_id:016x}"


def decode_cursor(cursor: str) -> tuple[float, int]:
    """(ts, id) of the position; raises :class:`CursorError` for anything but a cursor."""
    _check(cursor, CURSOR_PATTERN)
    return _time(int(cursor[:16], 16)), int(cursor[16:], 16)


def encode_id_cursor(item_id: int) -> str:
    """Cursor pointing just after the item with id ``item_id`` (lists ordered by id alone)."""
    return f"{item_id:016x}"


def decode_id_cursor(cursor: str) -> int:
    """The id of the position; raises :class:`CursorError` for anything but an id cursor."""
    _check(cursor, ID_CURSOR_PATTERN)
    return int(cursor, 16)
