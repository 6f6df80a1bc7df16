"""The request types that keep the API to its JSON Schema (Schemathesis found each case)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cloud_service.finetune.spec import JobRequest
from cloud_service.resegment import Selection
from cloud_service.schemas.moments import UNIX_SECONDS_LIMIT, clamped_moment


@pytest.mark.parametrize("body", ['{"version": true}', '{"version": "5"}', '{"version": 1.5}',
                                  '{"version": 0}', '{"version": 2147483648}'])
def test_integers_are_json_integers_within_their_bounds(body: str) -> None:
    with pytest.raises(ValidationError):
        Selection.model_validate_json(body)


def test_an_integral_number_is_an_integer() -> None:
    assert Selection.model_validate_json('{"version": 7.0}').version == 7
    assert JobRequest.model_validate_json(
        '{"hyperparameters": {"iterations": 10.0}}').hyperparameters.iterations == 10


@pytest.mark.parametrize("moment", ['"668"', '"yesterday"', "3e10", "-3e10", "true"])
def test_times_are_iso_8601_or_unix_seconds_in_range(moment: str) -> None:
    with pytest.raises(ValidationError):
        Selection.model_validate_json(f'{{"since": {moment}}}')


def test_times_parse_to_utc() -> None:
    naive = Selection.model_validate_json('{"since": "2026-01-02T03:04:05"}').since
    assert naive == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert Selection.model_validate_json('{"since": 86400}').since == datetime(
        1970, 1, 2, tzinfo=UTC)


def test_query_times_are_clamped_not_refused() -> None:
    assert clamped_moment(1e300) == datetime.fromtimestamp(UNIX_SECONDS_LIMIT, UTC)
    assert clamped_moment(-1e300) == datetime.fromtimestamp(-UNIX_SECONDS_LIMIT, UTC)
    with pytest.raises(ValueError, match="NaN"):
        clamped_moment(float("nan"))


def test_text_built_in_python_may_be_a_number() -> None:
    """Form fields and command-line options arrive as text; only JSON keeps types apart."""
    built = Selection(since="86400", version="3")
    assert built.since == datetime(1970, 1, 2, tzinfo=UTC) and built.version == 3
    with pytest.raises(ValidationError):
        Selection(since="tomorrow")
