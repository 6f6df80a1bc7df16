"""``POST /frames``: one container to the cloud, retried until it is acknowledged or refused.

Answers and what they mean here:

- ``201`` (stored) and ``200`` (already stored: a resend after a lost acknowledgement) both
  acknowledge the frame; the spool may delete it.
- Any ``4xx`` but ``408`` and ``429`` (bad token, a frame the server cannot accept, a frame id
  clash) will not get better by resending: the frame is refused for good, with the reason.
- Everything else is retried with exponential backoff and jitter, never giving up (the frame
  waits in the spool), waiting at least as long as the server's ``Retry-After``: network errors,
  ``408``, ``429``, ``5xx``, and answers this protocol does not have, such as a redirect from a
  misconfigured proxy (the frames keep until the URL is fixed, rather than being discarded).

The client is pooled (keep-alive: one TLS handshake, not one per frame) and every phase of a
request has a timeout, so a dead link is noticed and never hangs the uploader.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx

from edge_agent.retry import Backoff, retry_after
from latentlink.codec.container import MEDIA_TYPE

log = logging.getLogger(__name__)

TRANSIENT_4XX = frozenset({408, 429})
REASON_LIMIT = 2000


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    STOPPED = "stopped"


@dataclass(frozen=True)
class UploadResult:
    """How sending one frame ended; ``status`` is the last HTTP status (None: no answer)."""

    outcome: Outcome
    status: int | None
    attempts: int
    elapsed_ms: float
    reason: str = ""


def is_refusal(status: int) -> bool:
    """A final "no": resending the same bytes cannot succeed."""
    return 400 <= status < 500 and status not in TRANSIENT_4XX


def reason_of(response: httpx.Response) -> str:
    """The server's explanation: FastAPI's ``detail``, else the body's text (truncated)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if detail is None:
        text = response.text.strip() or response.reason_phrase
    else:
        text = detail if isinstance(detail, str) else json.dumps(detail)
    return text[:REASON_LIMIT]


class Uploader:
    """Sends containers to one server with one vehicle's token."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        stop: threading.Event,
        backoff: Backoff | None = None,
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._stop, self._backoff = stop, backoff or Backoff()
        self._client = httpx.Client(
            base_url=server,
            headers={"Authorization": f"Bearer {token}", "Content-Type": MEDIA_TYPE},
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            transport=transport,
        )

    def send(
        self, frame_id: str, data: bytes, on_retry: Callable[[str], None] | None = None
    ) -> UploadResult:
        """Upload until acknowledged or refused; returns STOPPED if stopped while waiting.

        ``on_retry(problem)`` is called before each wait, so outages show while they last.
        """
        started = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            wait_at_least = 0.0
            try:
                response = self._client.post("/frames", content=data)
            except httpx.RequestError as error:
                problem = f"{type(error).__name__}: {error}".rstrip(": ")
            else:
                status = response.status_code
                elapsed_ms = 1000 * (time.perf_counter() - started)
                if status in (200, 201):
                    return UploadResult(Outcome.ACKNOWLEDGED, status, attempt, elapsed_ms)
                if is_refusal(status):
                    outcome = Outcome.REJECTED
                    return UploadResult(outcome, status, attempt, elapsed_ms, reason_of(response))
                problem = f"HTTP {status}: {reason_of(response)}"
                wait_at_least = retry_after(response.headers.get("retry-after")) or 0.0
            delay = max(self._backoff.delay(attempt), wait_at_least)
            log.warning(
                "upload failed; will retry",
                extra={
                    "frame": frame_id,
                    "attempt": attempt,
                    "retry_in_s": round(delay, 2),
                    "error": problem,
                },
            )
            if on_retry is not None:
                on_retry(problem)
            if self._stop.wait(delay):
                elapsed_ms = 1000 * (time.perf_counter() - started)
                return UploadResult(Outcome.STOPPED, None, attempt, elapsed_ms, problem)

    def close(self) -> None:
        self._client.close()
