"""``/frames``: upload containers, list and read frames, their masks, reconstructions and bytes.

The upload handler reads the body under the size limit and hands it to
:func:`cloud_service.ingest.ingest_frame`, which validates and Huffman-decodes it
(``container.unpack``). Masks come from the compressed-domain segmenter; ``/image`` is the only
place net_D runs, for people to look at, never for segmentation.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from cloud_service import crud, images
from cloud_service.api.body import MSGPACK, read_capped_body
from cloud_service.api.deps import (
    AdminDep,
    FrameDep,
    ModelsDep,
    PrincipalDep,
    RuntimeDep,
    SessionDep,
    VehicleDep,
)
from cloud_service.api.json_body import admin_json_body, json_request_body
from cloud_service.db.models import SegStatus
from cloud_service.ingest import IngestError, ingest_frame
from cloud_service.pagination import CURSOR_PATTERN, decode_cursor, encode_cursor
from cloud_service.render import RendererBusy
from cloud_service.resegment import Selection, UnknownVersion, requeue
from cloud_service.schemas.frames import FrameOut, FramePage, Requeued
from cloud_service.storage import BlobNotFound
from latentlink.codec import container
from latentlink.codec.container import VEHICLE_PATTERN

router = APIRouter(prefix="/frames", tags=["frames"])
SelectionDep = Annotated[Selection, Depends(admin_json_body(Selection, "a frame selection"))]

PNG = "image/png"
ERROR = {"description": "The reason is in `detail`.",
         "content": {"application/json": {"example": {"detail": "why"}}}}
UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {MSGPACK: {
    "schema": {"type": "string", "format": "binary"},
    "description": "A frame container (msgpack, see latentlink.codec.container)."}}}}


class MaskFormat(StrEnum):
    palette = "palette"
    raw = "raw"


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=FrameOut, openapi_extra=UPLOAD_BODY,
    responses={200: {"model": FrameOut, "description": "Already stored (a retry): the record."},
               400: ERROR, 401: ERROR, 403: ERROR, 409: ERROR, 413: ERROR, 415: ERROR,
               422: ERROR, 503: ERROR},
)
async def upload_frame(request: Request, response: Response, runtime: RuntimeDep,
                       models: ModelsDep, vehicle: VehicleDep) -> FrameOut:
    """Store a frame container uploaded by the vehicle it names.

    ``201`` once the container and its row are on disk (a crash after the answer loses
    nothing); ``200`` with the stored record when this (vehicle, frame) is already stored with
    the same bytes; ``409`` if with other bytes. Segmentation follows off the request path.
    """
    try:
        body = await read_capped_body(request, runtime.settings.max_body_bytes)
        started = time.perf_counter()
        result = await run_in_threadpool(ingest_frame, runtime, models, body, vehicle)
    except IngestError as error:
        runtime.metrics.frames_rejected.labels(str(error.status)).inc()
        raise HTTPException(error.status, error.detail) from error
    runtime.metrics.frames_received.labels("created" if result.created else "duplicate").inc()
    if result.created:
        runtime.metrics.ingest_seconds.observe(time.perf_counter() - started)
        if runtime.worker is not None:
            runtime.worker.offer(result.job)
    else:
        response.status_code = status.HTTP_200_OK
    return FrameOut.from_record(result.record)


@router.get("", response_model=FramePage, responses={401: ERROR, 403: ERROR})
def list_frames(
    principal: PrincipalDep, session: SessionDep,
    vehicle: Annotated[str | None, Query(pattern=VEHICLE_PATTERN,
                                         description="Only this vehicle's.")] = None,
    since: Annotated[datetime | float | None, Query(
        description="Captured at or after (ISO 8601, naive means UTC; or Unix seconds).")] = None,
    until: Annotated[datetime | float | None, Query(description="Captured before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN,
                                        description="A page's `next`.")] = None,
) -> FramePage:
    """Frames in capture order (ties by id). A vehicle sees only its own frames."""
    if not principal.is_admin:
        if vehicle is not None and vehicle != principal.vehicle:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a vehicle lists only its own frames")
        vehicle = principal.vehicle
    after = decode_cursor(cursor) if cursor is not None else None
    rows, total, more = crud.frames.page(session, vehicle=vehicle, since=_unix(since),
                                         until=_unix(until), after=after, limit=limit)
    next_cursor = encode_cursor(rows[-1].ts, rows[-1].id) if more else None
    return FramePage(items=[FrameOut.from_record(row) for row in rows], total=total,
                     next=next_cursor)


@router.post("/resegment", response_model=Requeued, openapi_extra=json_request_body(Selection),
             responses={400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 413: ERROR, 415: ERROR,
                        422: ERROR})
def resegment(selection: SelectionDep, runtime: RuntimeDep, _: AdminDep) -> Requeued:
    """Segment the selected frames again (operators only), e.g. those an untrained or a
    replaced segmenter handled: they go back to `pending` and the workers segment them with
    the serving model. Running frames are left to finish; no mask is removed before its
    replacement is stored. `404` if `version` is not in the registry."""
    try:
        with runtime.sessions.begin() as session:
            return Requeued(queued=requeue(session, selection))
    except UnknownVersion as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error


@router.get("/{frame_id}", response_model=FrameOut, responses={401: ERROR, 403: ERROR, 404: ERROR})
def get_frame(record: FrameDep) -> FrameOut:
    """A frame's metadata: sizes, compression factor, codec, segmentation and class shares."""
    return FrameOut.from_record(record)


@router.get("/{frame_id}/segmentation", response_class=Response,
            responses={200: {"content": {PNG: {}}, "description": "The mask as a PNG."},
                       401: ERROR, 403: ERROR, 404: ERROR})
def get_segmentation(record: FrameDep, runtime: RuntimeDep,
                     format: MaskFormat = MaskFormat.palette) -> Response:
    """The segmentation mask: a colour palette PNG, or with ``format=raw`` a greyscale PNG
    whose pixel values are the class indices (class names in ``GET /frames/{id}``)."""
    if record.seg_status != SegStatus.DONE or record.mask_key is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no mask for frame {record.id}: segmentation is {record.seg_status}"
                            + (f" ({record.seg_error})" if record.seg_error else ""))
    mask = _blob(runtime, record.mask_key)
    if format is MaskFormat.palette:
        mask = images.palette_png(mask, tuple(record.class_shares or ()))
    return Response(mask, media_type=PNG, headers={"X-Segmenter": record.segmenter or ""})


@router.get("/{frame_id}/image", response_class=Response,
            responses={200: {"content": {PNG: {}}, "description": "net_D's reconstruction."},
                       401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR,
                       503: {**ERROR, "description": "Every picture renderer is busy; retry "
                                                     "after `Retry-After` seconds."}})
async def get_image(record: FrameDep, runtime: RuntimeDep, models: ModelsDep) -> Response:
    """The frame as net_D reconstructs it, for people to look at (never used to segment).

    A bounded number are rendered at once (others wait briefly, then get 503 with
    Retry-After) and rendered pictures are cached.
    """
    codec = models.codecs.get(record.codec)
    if codec is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"codec {record.codec} is no longer loaded on this server")
    pixels, budget = record.height * record.width, runtime.settings.max_frame_pixels
    if pixels > budget:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"the frame has {pixels} pixels, over this server's limit of {budget}")

    def render() -> bytes:
        frame = container.unpack(_blob(runtime, record.blob_key),
                                 runtime.settings.container_limits)
        return images.encode_png(codec.reconstruct(frame))

    try:
        png = await runtime.renderer.png((record.codec, record.sha256), render)
    except RendererBusy as busy:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(busy),
                            headers={"Retry-After": str(busy.retry_after_s)}) from busy
    return Response(png, media_type=PNG)


@router.get("/{frame_id}/latent", response_class=Response,
            responses={200: {"content": {MSGPACK: {}}, "description": "The container as received."},
                       401: ERROR, 403: ERROR, 404: ERROR})
def get_latent(record: FrameDep, runtime: RuntimeDep) -> Response:
    """The container bytes exactly as the vehicle sent them."""
    return Response(_blob(runtime, record.blob_key), media_type=MSGPACK,
                    headers={"ETag": f'"{record.sha256}"'})


def _blob(runtime: RuntimeDep, key: str) -> bytes:
    try:
        return runtime.blobs.get(key)
    except BlobNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"stored blob {key} is missing") from error


def _unix(moment: datetime | float | None) -> float | None:
    if moment is None or isinstance(moment, float):
        return moment
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
