"""Upload outcomes and retry timing, against scripted server answers (httpx.MockTransport)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from edge_agent.retry import RETRY_AFTER_MAX_S, Backoff, retry_after
from edge_agent.uploader import Outcome, Uploader


class RecordingStop(threading.Event):
    """A stop flag whose waits return at once and are recorded (no real sleeping)."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.stop_after = stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self.set()
        return self.is_set()


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.MockTransport, list]:
    """A transport answering requests with ``answers`` in order; also returns the requests."""
    requests: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), requests


BACKOFF = Backoff(1.0, 8.0)


def send(*answers, stop: RecordingStop | None = None):
    transport, requests = scripted(*answers)
    stop = stop or RecordingStop()
    uploader = Uploader("http://cloud.test", "tok", stop=stop, backoff=BACKOFF, transport=transport)
    result = uploader.send("f-1", b"container")
    uploader.close()
    return result, requests, stop.waits


@pytest.mark.parametrize("status", [201, 200])
def test_201_and_200_acknowledge(status: int) -> None:
    result, requests, waits = send(httpx.Response(status, json={"id": 1}))
    assert (result.outcome, result.status, result.attempts, waits) == (
        Outcome.ACKNOWLEDGED,
        status,
        1,
        [],
    )
    request = requests[0]
    assert request.url == "http://cloud.test/frames"
    assert request.headers["authorization"] == "Bearer tok"
    assert request.headers["content-type"] == "application/x-msgpack"
    assert request.content == b"container"


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 422])
def test_other_4xx_are_refused_for_good_with_the_reason(status: int) -> None:
    result, requests, waits = send(httpx.Response(status, json={"detail": "why not"}))
    assert (result.outcome, result.status, result.reason, len(requests), waits) == (
        Outcome.REJECTED,
        status,
        "why not",
        1,
        [],
    )


def test_network_errors_5xx_and_odd_answers_are_retried_with_growing_delays() -> None:
    result, requests, waits = send(
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(503, text="busy"),
        httpx.Response(500),
        httpx.Response(307, headers={"location": "https://elsewhere/frames"}),
        httpx.Response(201),
    )
    assert (result.outcome, result.attempts, len(requests)) == (Outcome.ACKNOWLEDGED, 6, 6)
    for attempt, delay in enumerate(waits, start=1):
        ceiling = min(8.0, 2.0 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_retry_after_is_honoured() -> None:
    result, _, waits = send(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(201))
    assert result.outcome is Outcome.ACKNOWLEDGED and waits == [7.0]


def test_stop_during_backoff_leaves_the_frame_unsent() -> None:
    result, requests, _ = send(httpx.Response(503), stop=RecordingStop(stop_after=1))
    assert (result.outcome, len(requests)) == (Outcome.STOPPED, 1)


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff, rng = Backoff(0.5, 4.0), random.Random(0)
    delays = [backoff.delay(attempt, rng) for attempt in range(1, 12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(2.0 <= d <= 4.0 for d in delays[3:])
    assert len(set(delays)) == len(delays)


def test_retry_after_parsing() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after(date, now=now.timestamp()) == pytest.approx(30)
    assert retry_after("12") == 12
    assert retry_after("999999") == RETRY_AFTER_MAX_S
    assert retry_after(None) is None and retry_after("soon") is None
