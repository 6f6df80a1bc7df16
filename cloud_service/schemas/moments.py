"""Points in time as the API takes them: Unix seconds or ISO 8601, a zone-less time being UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _naive_is_utc(moment: datetime) -> datetime:
    """As ``GET /frames``: a time without a zone is UTC, not the server's local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_naive_is_utc)]


def timestamp(moment: datetime | None) -> float | None:
    """Unix seconds, as the ``ts`` column holds them (None stays None: no bound)."""
    return None if moment is None else moment.timestamp()
