"""Opaque cursors for keyset pagination over (capture time, id).

The cursor is the position of the last item served, so a page never repeats or skips a frame
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


def encode_cursor(ts: float, frame_id: int) -> str:
    """Cursor pointing just after the frame captured at ``ts`` with id ``frame_id``."""
    return base64.urlsafe_b64encode(json.dumps([ts, frame_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    """(ts, id) of the position; raises :class:`CursorError` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, frame_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise CursorError("malformed cursor: pass the 'next' value of a previous page") from error
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts) \
            or not isinstance(frame_id, int) or isinstance(frame_id, bool) \
            or not 0 <= frame_id < 2**63:
        raise CursorError("malformed cursor: pass the 'next' value of a previous page")
    return float(ts), frame_id
