"""``PUT /frames/{id}/annotation``: a label map for a stored frame (operators only).

The label is checked against the frame (size) and the serving model's class list before it is
stored; see :mod:`cloud_service.finetune.annotations`.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from cloud_service.api.body import read_capped_body
from cloud_service.api.deps import AdminDep, FrameDep, ModelsDep, RuntimeDep
from cloud_service.api.routes.frames import ERROR, PNG
from cloud_service.finetune.annotations import (
    AnnotationError,
    Source,
    decode_label,
    store_annotation,
    validate_label,
)
from cloud_service.ingest import IngestError
from cloud_service.schemas.annotations import AnnotationOut

router = APIRouter(prefix="/frames", tags=["annotations"])


@router.put("/{frame_id}/annotation", response_model=AnnotationOut,
            openapi_extra={"requestBody": {"required": True, "content": {PNG: {
                "schema": {"type": "string", "format": "binary"}}}}},
            responses={400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 413: ERROR, 415: ERROR,
                       422: ERROR})
async def put_annotation(request: Request, record: FrameDep, runtime: RuntimeDep,
                         models: ModelsDep, _: AdminDep,
                         source: Source = Source.human) -> AnnotationOut:
    """Store (or replace) the frame's label from ``source``: a single-channel PNG at the
    frame's size whose pixels are the serving model's class ids or its ignore index."""
    try:
        body = await read_capped_body(request, runtime.settings.max_body_bytes, PNG,
                                      "a label map")
    except IngestError as error:
        raise HTTPException(error.status, error.detail) from error
    try:
        label = decode_label(body)
        validate_label(label, record, models.segmenter.class_names)
    except AnnotationError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error

    def store() -> AnnotationOut:
        with runtime.sessions.begin() as session:
            row = store_annotation(session, runtime.blobs, record, label, source)
            return AnnotationOut.from_record(row)
    return await run_in_threadpool(store)
