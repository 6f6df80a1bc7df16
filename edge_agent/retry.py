"""When to try an upload again: exponential backoff with jitter, and the server's Retry-After.

Jitter spreads the retries of a fleet of vehicles that lost the server at the same moment, so
they do not all come back at the same instant when it returns ("equal jitter": half the delay
fixed, half random, so a delay never collapses to zero).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRY_AFTER_MAX_S = 600.0
"""The longest Retry-After honoured: a misconfigured proxy must not park the vehicle for hours."""


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (1 = the first retry): initial · 2^(attempt−1), capped."""

    initial_s: float = 0.5
    max_s: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.max_s, self.initial_s * 2.0 ** min(attempt - 1, 60))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent
    or unparseable; at most :data:`RETRY_AFTER_MAX_S`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)
