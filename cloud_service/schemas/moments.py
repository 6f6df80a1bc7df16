"""Points in time as the API takes them: Unix seconds or ISO 8601, a zone-less time being UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, WithJsonSchema

UNIX_SECONDS_LIMIT = 2e10
"""Unix seconds are taken within ±2·10¹⁰ (about year 2603). Past that pydantic would silently
read the number as *milli*seconds; the API refuses it instead, and its schema says so."""


def _unix_seconds(value: Any, info: ValidationInfo) -> Any:
    """A number is Unix seconds, within :data:`UNIX_SECONDS_LIMIT`; a JSON string must be ISO
    8601 (pydantic alone would also read "668" as seconds, which the schema does not allow).
    Text given in Python (a form field, a command-line option) may also be a number."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as error:
            if info.mode == "json":
                raise ValueError("not an ISO 8601 date and time") from error
            try:
                value = float(value)
            except ValueError:
                raise ValueError("neither ISO 8601 nor Unix seconds") from error
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if not -UNIX_SECONDS_LIMIT <= value <= UNIX_SECONDS_LIMIT:
        raise ValueError(f"Unix seconds must be within ±{UNIX_SECONDS_LIMIT:.0e}")
    return datetime.fromtimestamp(value, UTC)


def clamped_moment(value: datetime | float) -> datetime:
    """A query parameter's time (an ISO 8601 string parses to a datetime, anything else to
    Unix seconds), clamped into :data:`UNIX_SECONDS_LIMIT`: query strings have no JSON Schema
    bounds to announce, so an extreme value means "since the beginning" or "from the end"."""
    if isinstance(value, datetime):
        return _naive_is_utc(value)
    if value != value:  # NaN
        raise ValueError("a time cannot be NaN")
    return datetime.fromtimestamp(min(max(value, -UNIX_SECONDS_LIMIT), UNIX_SECONDS_LIMIT), UTC)


def _naive_is_utc(moment: datetime) -> datetime:
    """As ``GET /frames``: a time without a zone is UTC, not the server's local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


UtcDatetime = Annotated[
    datetime, BeforeValidator(_unix_seconds), AfterValidator(_naive_is_utc),
    WithJsonSchema({"anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "number", "minimum": -UNIX_SECONDS_LIMIT, "maximum": UNIX_SECONDS_LIMIT},
    ]}),
]


def timestamp(moment: datetime | None) -> float | None:
    """Unix seconds, as the ``ts`` column holds them (None stays None: no bound)."""
    return None if moment is None else moment.timestamp()
