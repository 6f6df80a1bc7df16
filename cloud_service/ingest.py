"""Ingest of one uploaded container: validate, Huffman-decode, store durably, hand to the worker.

Order matters. Everything cheap and untrusted is checked on the header first (shape, sizes,
CRC, vehicle, codec) so a hostile body costs no decoding; a retry of a stored frame is answered
before decoding too. The blob is fsynced before the row that points to it is committed, and
the row is committed (fsynced) before the caller hears ``201``: after that answer, nothing is
lost to a crash. Segmentation happens later, off the request path.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from cloud_service import crud
from cloud_service.db.models import FrameRecord, SegStatus
from cloud_service.ml import Models
from cloud_service.runtime import Runtime
from cloud_service.storage import latent_key
from cloud_service.worker import Job
from latentlink.codec import container


class IngestError(Exception):
    """The upload is refused; ``status`` is the HTTP status and ``detail`` says why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Ingested:
    """The stored frame, whether this upload created it, and its latent for the worker."""

    record: FrameRecord
    created: bool
    job: Job | None = None


def ingest_frame(runtime: Runtime, models: Models, body: bytes, vehicle: str) -> Ingested:
    """Store the frame in ``body`` uploaded by ``vehicle``, or find it stored already."""
    settings, limits = runtime.settings, runtime.settings.container_limits
    try:
        header, _ = container.read_header(body, limits)
    except container.ContainerError as error:
        raise IngestError(400, f"invalid frame container: {error}") from error
    height, width = header.size
    if height * width > settings.max_frame_pixels:
        raise IngestError(422, f"a {height}×{width} frame ({height * width} pixels) exceeds this "
                               f"server's limit of {settings.max_frame_pixels} pixels per frame")
    latent_bytes = header.latent_bytes
    if latent_bytes > settings.max_latent_bytes:
        raise IngestError(400, f"invalid frame container: a latent of {latent_bytes} bytes "
                               f"exceeds the limit of {settings.max_latent_bytes}")
    if header.meta.vehicle != vehicle:
        raise IngestError(403, f"the container is from vehicle {header.meta.vehicle!r} but the "
                               f"token is vehicle {vehicle!r}'s; a vehicle uploads only its own")
    codec = models.codecs.get(header.codec)
    if codec is None:
        raise IngestError(422, f"unknown codec {header.codec}; this server decodes codecs "
                               f"{', '.join(sorted(models.codecs))}")
    if (header.d, header.n) != (codec.config.depth, codec.config.bits):
        raise IngestError(422, f"the container says d={header.d}, n={header.n} but codec "
                               f"{header.codec} is d={codec.config.depth}, n={codec.config.bits}")

    digest = hashlib.sha256(body).hexdigest()
    with runtime.sessions() as session:
        stored = crud.frames.by_key(session, vehicle, header.meta.frame)
    if stored is not None:
        return _retry(stored, digest)

    started = time.perf_counter()
    try:
        frame = container.unpack(body, limits)
    except container.ContainerError as error:
        raise IngestError(400, f"invalid frame container: {error}") from error
    runtime.metrics.decode_seconds.observe(time.perf_counter() - started)

    key = latent_key(digest)
    runtime.blobs.put(key, body)
    values = dict(
        vehicle=vehicle, frame=header.meta.frame, camera=header.meta.camera, ts=header.meta.ts,
        received_at=time.time(), codec=header.codec, depth=header.d, bits=header.n,
        height=height, width=width, bytes=len(body), sha256=digest, blob_key=key,
        seg_status=SegStatus.PENDING if settings.segmentation else SegStatus.DISABLED,
    )
    frame_id = runtime.writer.run(lambda session: crud.frames.insert(session, values))
    if frame_id is None:  # a concurrent upload of the same frame committed first
        with runtime.sessions() as session:
            stored = crud.frames.by_key(session, vehicle, header.meta.frame)
        return _retry(stored, digest)
    runtime.metrics.bytes_received.inc(len(body))
    runtime.metrics.compression_factor.observe(frame.compression_factor)
    return Ingested(FrameRecord(id=frame_id, **values), created=True, job=Job(frame_id, frame))


def _retry(stored: FrameRecord, digest: str) -> Ingested:
    """A second upload of a stored frame: fine if it is the same bytes, a conflict if not."""
    if stored.sha256 != digest:
        raise IngestError(409, f"frame {stored.frame!r} of vehicle {stored.vehicle!r} is already "
                               f"stored (id {stored.id}) with different content; frame ids must "
                               "be unique per vehicle")
    return Ingested(stored, created=False)
