"""Opaque cursors for keyset pagination: frames over (capture time, id), jobs over id.

The cursor is the position of the last item served, so a page never repeats or skips an item
however many arrive meanwhile, and the query is an index range scan at any depth (OFFSET would
be neither). It is opaque to clients (base64 of JSON) so the order key may change later.
"""

from __future__ import annotations

import base64
import binascii
import json
import math


class CursorError(ValueError):
    """The cursor was not made by this server."""


MALFORMED = "malformed cursor: pass the 'next' value of a previous page"


def encode_cursor(ts: float, frame_id: int) -> str:
    """Cursor pointing just after the frame captured at ``ts`` with id ``frame_id``."""
    return _pack([ts, frame_id])


def decode_cursor(cursor: str) -> tuple[float, int]:
    """(ts, id) of the position; raises :class:`CursorError` for anything else."""
    try:
        ts, frame_id = _unpack(cursor)
    except (ValueError, TypeError) as error:
        raise CursorError(MALFORMED) from error
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts) \
            or not _is_id(frame_id):
        raise CursorError(MALFORMED)
    return float(ts), frame_id


def encode_id_cursor(item_id: int) -> str:
    """Cursor pointing just after the item with id ``item_id`` (lists ordered by id alone)."""
    return _pack([item_id])


def decode_id_cursor(cursor: str) -> int:
    """The id of the position; raises :class:`CursorError` for anything else."""
    try:
        (item_id,) = _unpack(cursor)
    except (ValueError, TypeError) as error:
        raise CursorError(MALFORMED) from error
    if not _is_id(item_id):
        raise CursorError(MALFORMED)
    return item_id


def _pack(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _unpack(cursor: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except binascii.Error as error:
        raise ValueError(str(error)) from error


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
