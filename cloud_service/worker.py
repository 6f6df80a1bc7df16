"""The segmentation worker: compressed-domain segmentation off the request path, micro-batched.

Ingest commits a frame as ``pending`` and offers its decoded latent to this worker's bounded
in-memory queue. The worker's thread takes up to B frames, or whatever arrived within T ms of
the first, claims them in the database (``pending``, or ``running`` past the lease, becomes
``running``: two replicas never both segment a frame unless one's lease ran out), runs the
segmenter on int2float(latent) batched by shape, and stores masks and per-class shares.

Frames that never reached a queue (it was full, or the process died) stay ``pending`` in the
database; an idle worker sweeps them up, from any replica, so no frame waits forever. Once the
queue has overflowed the worker is *behind*: new frames wait in the database too, and the worker
takes them in the configured order (``LATENTLINK_SEGMENTATION_ORDER``: oldest, newest, or every
k-th per vehicle first) until a sweep finds no more than the queue holds.

Memory per forward pass is bounded: frames over ``LATENTLINK_MAX_FRAME_PIXELS`` are skipped, and
a micro-batch is split so that one pass covers at most that many pixels (one frame at least).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from sqlalchemy.orm import Session, sessionmaker

from cloud_service import crud, images
from cloud_service.core.config import Settings
from cloud_service.core.metrics import Metrics
from cloud_service.db.models import SegStatus
from cloud_service.db.writer import GroupWriter
from cloud_service.ml import Segmenter
from cloud_service.storage import BlobStore, mask_key
from latentlink.codec import container
from latentlink.codec.quantize import int2float
from latentlink.models.segmenter import predict_labels

log = logging.getLogger(__name__)

BEHIND_RECHECK_S = 0.1
"""While behind, how soon an empty queue triggers a sweep for the frames waiting in the database."""


@dataclass(frozen=True)
class Job:
    """A stored frame and its decoded latent."""

    frame_id: int
    frame: container.Frame


@dataclass(frozen=True)
class Outcome:
    """What segmenting one frame produced, ready to be written to its row."""

    frame_id: int
    status: SegStatus
    error: str | None = None
    shares: dict[str, float] | None = None
    mask: str | None = None


class SegmentationWorker:
    """One thread that segments micro-batches of frames on the model's device."""

    def __init__(self, segmenter: Segmenter, settings: Settings, sessions: sessionmaker[Session],
                 writer: GroupWriter, blobs: BlobStore, metrics: Metrics) -> None:
        self.segmenter = segmenter
        self.settings = settings
        self._sessions = sessions
        self._writer = writer
        self._blobs = blobs
        self._metrics = metrics
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=settings.queue_size)
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._behind = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segmenter", daemon=True)
        metrics.watch_queue(self._queue.qsize)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop after the current batch; queued frames stay ``pending`` for the next sweep."""
        self._stop.set()
        with contextlib.suppress(queue.Full):  # a full queue means the thread is not waiting
            self._queue.put_nowait(None)
        self._thread.join()

    def swap(self, segmenter: Segmenter) -> None:
        """Serve ``segmenter`` from the next micro-batch on: the batch in flight finishes with
        the model it started with, queued frames wait, none is dropped or mixed."""
        with self._model_lock:
            self.segmenter = segmenter

    def offer(self, job: Job) -> bool:
        """Queue a freshly stored frame; False when the worker is behind or the queue is full
        (the frame waits in the database and a sweep takes it, in the configured order)."""
        if self._behind.is_set():
            return False
        return self._enqueue(job)

    def _enqueue(self, job: Job) -> bool:
        with self._lock:
            if job.frame_id in self._queued:
                return True
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self._behind.set()
                return False
            self._queued.add(job.frame_id)
        return True

    def _run(self) -> None:
        self._sweep()
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                with self._model_lock:
                    self._process(batch)
            elif not self._stop.is_set():
                self._sweep()

    def _collect(self) -> list[Job]:
        """Up to B jobs, waiting at most T after the first; empty when idle or stopping."""
        behind = self._behind.is_set()
        timeout = BEHIND_RECHECK_S if behind else self.settings.sweep_interval_s
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        batch = [] if first is None else [first]
        deadline = time.monotonic() + self.settings.batch_timeout_ms / 1000
        while batch and len(batch) < self.settings.batch_size:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 \
                    else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                break
            batch.append(job)
        return batch

    def _sweep(self) -> None:
        """Queue frames left pending (or abandoned mid-run) by this or any other replica, in the
        configured order; the worker has caught up once they all fit in the queue."""
        settings = self.settings
        room = self._queue.maxsize - self._queue.qsize()
        with self._sessions() as session:
            rows = crud.frames.claimable(session, settings.segmentation_lease_s, room,
                                         settings.segmentation_order,
                                         settings.segmentation_stride)
        if len(rows) < room:
            self._behind.clear()
        for frame_id, blob_key in rows:
            if self._stop.is_set():
                return
            try:
                frame = container.unpack(self._blobs.get(blob_key), self.settings.container_limits)
            except (KeyError, container.ContainerError) as error:
                self._write([Outcome(frame_id, SegStatus.FAILED, f"stored container: {error}")])
                continue
            if not self._enqueue(Job(frame_id, frame)):
                return

    def _claim(self, ids: list[int]) -> set[int]:
        """Mark ``ids`` running, atomically; returns those this worker now owns."""
        lease_s = self.settings.segmentation_lease_s
        return self._writer.run(lambda session: crud.frames.claim(session, ids, lease_s))

    def _process(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        with self._lock:
            self._queued.difference_update(job.frame_id for job in batch)
        owned = self._claim(sorted({job.frame_id for job in batch}))
        groups: dict[tuple, list[Job]] = defaultdict(list)
        outcomes: list[Outcome] = []
        for job in batch:
            if job.frame_id not in owned:
                continue
            owned.discard(job.frame_id)
            reason = self.segmenter.refusal(job.frame.header)
            if reason is not None:
                outcomes.append(Outcome(job.frame_id, SegStatus.SKIPPED, reason))
                continue
            header = job.frame.header
            height, width = header.size
            if height * width > self.settings.max_frame_pixels:
                outcomes.append(Outcome(job.frame_id, SegStatus.SKIPPED,
                                        f"a {height}×{width} frame exceeds the limit of "
                                        f"{self.settings.max_frame_pixels} pixels"))
                continue
            groups[(header.shape, header.size)].append(job)
        for (_, (height, width)), jobs in groups.items():
            per_pass = max(1, self.settings.max_frame_pixels // (height * width))
            for start in range(0, len(jobs), per_pass):
                outcomes.extend(self._segment(jobs[start:start + per_pass]))
        self._write(outcomes)
        self._metrics.segment_seconds.observe(time.perf_counter() - started)
        self._metrics.segment_batch_frames.observe(len(batch))

    def _segment(self, jobs: list[Job]) -> list[Outcome]:
        """Run the segmenter on frames of one shape; store each mask."""
        model, names = self.segmenter.model, self.segmenter.class_names
        try:
            latents = np.stack([int2float(job.frame.quantized) for job in jobs])
            x = torch.from_numpy(latents).to(next(model.parameters()).device)
            labels = predict_labels(model, x, jobs[0].frame.header.size)
            labels = labels.to(torch.uint8).cpu().numpy()
            outcomes = []
            for job, mask in zip(jobs, labels, strict=True):
                key = mask_key(job.frame_id)
                self._blobs.put(key, images.encode_png(mask))
                outcomes.append(Outcome(job.frame_id, SegStatus.DONE,
                                        shares=images.class_shares(mask, names), mask=key))
        except Exception as error:  # a failed batch must not stop the worker; recorded per frame
            log.exception("segmenting %d frames failed", len(jobs))
            reason = f"{type(error).__name__}: {error}"[:500]
            return [Outcome(job.frame_id, SegStatus.FAILED, reason) for job in jobs]
        return outcomes

    def _write(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        name = self.segmenter.name

        def store(session: Session) -> None:
            for outcome in outcomes:
                crud.frames.record_segmentation(
                    session, outcome.frame_id, status=outcome.status, error=outcome.error,
                    shares=outcome.shares, mask=outcome.mask, segmenter=name)
        self._writer.run(store)
        for outcome in outcomes:
            self._metrics.frames_segmented.labels(outcome.status.value).inc()
