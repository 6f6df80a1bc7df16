"""The console's pages and the images on them, all behind the operator's session.

Pictures, masks and containers come from the API's own handlers
(:mod:`cloud_service.api.routes.frames`), called with a frame the session may read: the console
shows exactly what the API serves, through the cookie instead of a bearer header.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from cloud_service import crud
from cloud_service.api.deps import MAX_ID, ModelsDep, RuntimeDep, SessionDep
from cloud_service.api.routes import frames as api_frames
from cloud_service.api.routes.jobs import get_job
from cloud_service.console import figures
from cloud_service.console.auth import OperatorDep
from cloud_service.console.forms import moment, moment_field
from cloud_service.console.render import render
from cloud_service.db.models import FrameRecord, JobState, SegStatus
from cloud_service.finetune.spec import Hyperparameters
from cloud_service.pagination import (
    CursorError,
    decode_cursor,
    decode_id_cursor,
    encode_cursor,
    encode_id_cursor,
)
from cloud_service.schemas.frames import FrameOut
from cloud_service.schemas.jobs import JobOut
from cloud_service.schemas.models import ModelOut
from latentlink.training.seg_config import CLASS_WEIGHTINGS

router = APIRouter(prefix="/ui", include_in_schema=False)
FRAMES_PER_PAGE = 24
JOBS_PER_PAGE = 10
RESEGMENT_WINDOW_S = 24 * 3600
"""How far back the promote and roll-back forms offer, by default, to segment frames again."""
FrameId = Annotated[int, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("")
def fleet_page(request: Request, operator: OperatorDep, runtime: RuntimeDep,
               session: SessionDep) -> Response:
    return render(request, "fleet.html", operator, page="fleet",
                  **figures.fleet(runtime, session))


@router.get("/frames")
def frames_page(request: Request, operator: OperatorDep, session: SessionDep,
                vehicle: str = "", since: str = "", until: str = "", status: str = "",
                cursor: Cursor = None) -> Response:
    filters = {"vehicle": vehicle, "since": since, "until": until, "status": status}
    problems = []
    try:
        start, end = moment(since), moment(until)
    except ValueError:
        start = end = None
        problems.append("Times must look like 2026-11-27T15:30 (UTC); the range was ignored.")
    try:
        after = decode_cursor(cursor) if cursor else None
    except CursorError as error:
        after = None
        problems.append(str(error))
    wanted = SegStatus(status) if status in set(SegStatus) else None
    rows, total, more = crud.frames.page(session, vehicle=vehicle or None, since=start,
                                         until=end, after=after, limit=FRAMES_PER_PAGE,
                                         status=wanted)
    following = ({**filters, "cursor": encode_cursor(rows[-1].ts, rows[-1].id)}
                 if more else None)
    return render(request, "frames.html", operator, page="frames",
                  frames=[FrameOut.from_record(row) for row in rows], total=total,
                  filters=filters, following=following, first_page=cursor is not None,
                  vehicles=[v.name for v in crud.fleet.vehicles(session)],
                  statuses=[s.value for s in SegStatus], problems=problems)


@router.get("/frames/{frame_id}")
def frame_page(request: Request, operator: OperatorDep, runtime: RuntimeDep,
               session: SessionDep, frame_id: FrameId) -> Response:
    record = _frame(runtime, frame_id)
    return render(request, "frame.html", operator, page="frames",
                  frame=FrameOut.from_record(record),
                  legend=figures.class_shares(record.class_shares),
                  annotations=crud.annotations.of_frame(session, frame_id))


@router.get("/frames/{frame_id}/image.png")
async def frame_image(_: OperatorDep, runtime: RuntimeDep, models: ModelsDep,
                      frame_id: FrameId) -> Response:
    """The API's own bounded renderer (so the console cannot bypass its limits)."""
    record = await asyncio.to_thread(_frame, runtime, frame_id)
    return await api_frames.get_image(record, runtime, models)


@router.get("/frames/{frame_id}/mask.png")
def frame_mask(_: OperatorDep, runtime: RuntimeDep, frame_id: FrameId) -> Response:
    return api_frames.get_segmentation(_frame(runtime, frame_id), runtime)


@router.get("/frames/{frame_id}/container.msgpack")
def frame_container(_: OperatorDep, runtime: RuntimeDep, frame_id: FrameId) -> Response:
    record = _frame(runtime, frame_id)
    response = api_frames.get_latent(record, runtime)
    response.headers["Content-Disposition"] = f'attachment; filename="frame-{record.id}.msgpack"'
    return response


@router.get("/models")
async def models_page(request: Request, operator: OperatorDep, runtime: RuntimeDep,
                      session: SessionDep, cursor: Cursor = None,
                      state: Annotated[JobState | None, Query()] = None) -> Response:
    registry = runtime.registry
    versions = [] if registry is None else [
        ModelOut.from_record(row, registry.serving)
        for row in await run_in_threadpool(registry.versions)]
    try:
        before = decode_id_cursor(cursor) if cursor else None
    except CursorError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from error
    rows, total, more = crud.jobs.page(session, state=state, before=before, limit=JOBS_PER_PAGE)
    return render(request, "models.html", operator, page="models", registry=registry,
                  models=runtime.models, versions=list(reversed(versions)),
                  jobs=[JobOut.from_record(row) for row in rows], jobs_total=total,
                  jobs_next=encode_id_cursor(rows[-1].id) if more else None,
                  jobs_state=state, defaults=Hyperparameters(), class_weightings=CLASS_WEIGHTINGS,
                  vehicles=[v.name for v in crud.fleet.vehicles(session)],
                  resegment_since=moment_field(time.time() - RESEGMENT_WINDOW_S))


@router.get("/jobs/{job_id}", response_model=JobOut)
def job_status(_: OperatorDep, session: SessionDep,
               job_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> JobOut:
    """A job's state as JSON, for the Models page's progress bars to poll."""
    return get_job(session, None, job_id)


def _frame(runtime: RuntimeDep, frame_id: int) -> FrameRecord:
    """The frame's row, read in a session closed at once: the image handlers run net_D after
    this, and a connection held meanwhile would be one fewer for ingest."""
    with runtime.sessions() as session:
        record = crud.frames.by_id(session, frame_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no frame with id {frame_id}")
    return record

