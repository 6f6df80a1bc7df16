"""Capture, encode and upload overlapped on three threads, with bounded hand-offs.

::

    capture ──(queue of queue_size frames)──▶ encode ──(spool, on disk, capped)──▶ upload

Backpressure: a full queue blocks capture (a live camera then drops frames in its driver,
keeping only the newest), so memory stays bounded however slow the encoder or the link; what
waits for the link waits on disk, under the spool's cap.

Shutdown (``stop()``, from SIGTERM/SIGINT): capture stops at once; the encoder finishes the
frame in hand and spools it; the uploader finishes the request in flight but starts no retry.
Frames still in the queue are not spooled, so a replayable source captures them again on the
next start; the spool is kept as it is.

With ``once``, the run is a batch job whose exit status must say how it went: ``EXIT_REJECTED``
when the server refused any frame of this run, ``EXIT_GAVE_UP`` when it neither took nor
refused a frame for ``once_timeout_s`` (unreachable, or answering 5xx: the agent stops as on
SIGTERM, frames stay spooled); a daemon without ``once`` retries for ever instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from edge_agent.encoder import FrameEncoder
from edge_agent.metrics import Metrics, current, progress_text
from edge_agent.outbox import Spool
from edge_agent.sources import Capture, Source
from edge_agent.uploader import Outcome, Uploader

log = logging.getLogger(__name__)

POLL_S = 0.25
"""How often a waiting thread looks at the stop flag."""

EXIT_OK = 0
EXIT_FAILED = 1
"""A thread failed while running (a camera stopped delivering, a full disk)."""
EXIT_REJECTED = 3
"""``once``: everything was sent, but the server refused some frames (see ``rejected/``)."""
EXIT_GAVE_UP = 4
"""``once``: the server took no frame for ``once_timeout_s``; unsent frames stay spooled."""


class Pacer:
    """At most ``fps`` frames per second; a late frame resets the schedule (no catch-up bursts)."""

    def __init__(self, fps: float | None) -> None:
        self.interval = 1.0 / fps if fps else 0.0
        self.next_at = time.monotonic()

    def wait(self, stop: threading.Event) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        self.next_at = max(self.next_at + self.interval, now)
        stop.wait(self.next_at - now)


class Agent:
    """The daemon's three threads around one source, encoder, spool and uploader."""

    def __init__(
        self,
        *,
        source: Source,
        encoder: FrameEncoder,
        spool: Spool,
        uploader: Uploader,
        stop: threading.Event,
        metrics: Metrics | None = None,
        fps: float | None = None,
        once: bool = False,
        once_timeout_s: float = 300.0,
        queue_size: int = 4,
    ) -> None:
        self.source, self.encoder, self.spool, self.uploader = source, encoder, spool, uploader
        self.stop_event = stop
        self.metrics = metrics or Metrics()
        self.fps, self.once, self.once_timeout_s = fps, once, once_timeout_s
        self.frames: queue.Queue[Capture | None] = queue.Queue(maxsize=queue_size)
        self.metrics.watch(spool, self.frames.qsize)
        self._encoding_done = threading.Event()
        self._failed = self._gave_up = False
        self._stalled_since: float | None = None
        """When the current run of failed attempts began (monotonic); None after a frame was
        taken or refused."""

    def stop(self) -> None:
        """Ask every thread to finish what it holds and exit (safe from a signal handler)."""
        self.stop_event.set()

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def progress(self) -> str:
        """The progress line of the current figures."""
        return progress_text(self.metrics, self.spool.status(), self.frames.qsize())

    def run(self, tick: Callable[[], None] | None = None, tick_s: float = 0.5) -> int:
        """Run until stopped (or, with ``once``, until all is sent or the server stayed away
        too long); the exit status, one of the ``EXIT_*`` values."""
        threads = [
            threading.Thread(target=self._guarded(body), name=name, daemon=True)
            for name, body in (
                ("capture", self._capture),
                ("encode", self._encode),
                ("upload", self._upload),
            )
        ]
        for thread in threads:
            thread.start()
        while alive := [thread for thread in threads if thread.is_alive()]:
            alive[0].join(tick_s)
            if tick is not None:
                tick()
            if self.once and not self.stopping and self._stalled_too_long():
                log.error(
                    "the server takes no frames; giving up (--once); frames stay spooled",
                    extra={"waited_s": self.once_timeout_s, "spooled": self.spool.depth},
                )
                self._gave_up = True
                self.stop()
        if self._failed:
            return EXIT_FAILED
        if self._gave_up:
            return EXIT_GAVE_UP
        if self.once and current(self.metrics.rejected):
            return EXIT_REJECTED
        return EXIT_OK

    def _stalled_too_long(self) -> bool:
        since = self._stalled_since
        return since is not None and time.monotonic() - since >= self.once_timeout_s

    def _guarded(self, body: Callable[[], None]) -> Callable[[], None]:
        """A thread's body; an unexpected error stops the whole agent (exit status 1)."""

        def run() -> None:
            try:
                body()
            except Exception:
                log.exception("%s thread failed; stopping", threading.current_thread().name)
                self._failed = True
                self.stop()

        return run

    def _capture(self) -> None:
        pacer = Pacer(self.fps)
        try:
            for capture in self.source.frames(self.spool.seen, self.stop_event):
                self.metrics.captured.inc()
                if not self._hand_over(capture):
                    return
                pacer.wait(self.stop_event)
            if not self.stopping:
                log.info("source exhausted", extra={"source": str(self.source)})
        finally:
            self._hand_over(None)

    def _hand_over(self, item: Capture | None) -> bool:
        """Queue ``item`` (None: the end), waiting while the queue is full; False if stopped."""
        while not self.stopping:
            try:
                self.frames.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _encode(self) -> None:
        try:
            while True:
                try:
                    capture = self.frames.get(timeout=POLL_S)
                except queue.Empty:
                    if self.stopping:
                        return
                    continue
                if capture is None:
                    return
                self._encode_one(capture)
                if self.stopping:
                    return
        finally:
            self._encoding_done.set()

    def _encode_one(self, capture: Capture) -> None:
        try:
            frame = self.encoder.encode(capture)
        except ValueError as error:
            log.warning(
                "frame not encodable; skipped",
                extra={"frame": capture.frame_id, "error": str(error)},
            )
            return
        self.spool.put(frame.frame_id, frame.data, remember=self.source.replayable)
        self.metrics.encoded.inc()
        self.metrics.encode_ms.observe(frame.encode_ms)
        self.metrics.compression_factor.observe(frame.compression_factor)
        log.info(
            "frame encoded",
            extra={
                "frame": frame.frame_id,
                "cf": round(frame.compression_factor, 1),
                "encode_ms": round(frame.encode_ms, 1),
                "bytes": len(frame.data),
                "queue": self.frames.qsize(),
                "spool": self.spool.depth,
            },
        )

    def _upload(self) -> None:
        while not self.stopping:
            taken = self.spool.take(timeout=POLL_S)
            if taken is None:
                if self.once and self._encoding_done.is_set() and self.spool.depth == 0:
                    log.info("source exhausted and spool drained; exiting (--once)")
                    return
                continue
            entry, data = taken
            result = self.uploader.send(entry.frame_id, data, on_retry=self._note_retry)
            if result.outcome is Outcome.STOPPED:
                self.spool.release(entry)
                return
            self._stalled_since = None
            fields = {
                "frame": entry.frame_id,
                "status": result.status,
                "attempts": result.attempts,
                "upload_ms": round(result.elapsed_ms, 1),
            }
            if result.outcome is Outcome.ACKNOWLEDGED:
                self.spool.acknowledge(entry, result.status)
                self.metrics.acknowledged.inc()
                self.metrics.bytes_sent.inc(len(data))
                self.metrics.upload_ms.observe(result.elapsed_ms)
                log.info("frame uploaded", extra={**fields, "spool": self.spool.depth})
            else:
                self.spool.reject(entry, result.status, result.reason)
                self.metrics.rejected.inc()
                log.error(
                    "frame rejected by the server; moved to rejected/",
                    extra={**fields, "reason": result.reason},
                )

    def _note_retry(self, problem: str) -> None:
        if self._stalled_since is None:
            self._stalled_since = time.monotonic()
        self.metrics.retries.inc()
        self.spool.note_error(problem)
