"""``/jobs``: submit fine-tuning jobs, follow them, cancel them (operators only).

A job runs on the service's job thread (:mod:`cloud_service.finetune.jobs`), never in the
request; its state is read from the database, so any replica answers for any job.

The submission's body is read by a dependency that runs after the token check rather than by
FastAPI's body parameter, which parses the body before any dependency: a caller without a
token must hear 401 whatever it sent, not learn how its body was wrong.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from cloud_service import crud
from cloud_service.api.body import read_capped_body
from cloud_service.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud_service.api.routes.frames import ERROR
from cloud_service.db.models import FinetuneJob, JobState
from cloud_service.finetune import jobs
from cloud_service.finetune.spec import JobRequest
from cloud_service.ingest import IngestError
from cloud_service.pagination import ID_CURSOR_PATTERN, decode_id_cursor, encode_id_cursor
from cloud_service.schemas.jobs import JobOut, JobPage

router = APIRouter(prefix="/jobs", tags=["jobs"])
JobId = Path(ge=1, le=2**63 - 1, description="The job's id.")
JSON = "application/json"
MAX_JOB_BODY_BYTES = 64 * 1024
"""A job request is a few hundred bytes; nothing larger is read."""


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema with its ``$defs`` written in place, for a request body that
    the OpenAPI document describes by hand (no component to point a ``$ref`` at)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


async def job_request(request: Request, _: AdminDep) -> JobRequest:
    """The submitted job, read and validated once the caller is known to be the admin;
    400/413/415 for a body that cannot be read, 422 (FastAPI's shape) for one that is wrong."""
    try:
        body = await read_capped_body(request, MAX_JOB_BODY_BYTES, JSON, "a job request")
    except IngestError as error:
        raise HTTPException(error.status, error.detail) from error
    try:
        return JobRequest.model_validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(  # without the input, which may not even be text
            [{"type": problem["type"], "loc": ("body", *problem["loc"]), "msg": problem["msg"]}
             for problem in error.errors(include_url=False)]) from error


@router.post("/finetune", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             openapi_extra={"requestBody": {"required": True, "content": {JSON: {
                 "schema": inline_schema(JobRequest)}}}},
             responses={400: ERROR, 401: ERROR, 403: ERROR, 413: ERROR, 415: ERROR, 422: ERROR})
def submit_finetune(request: Annotated[JobRequest, Depends(job_request)], runtime: RuntimeDep,
                    _: AdminDep) -> JobOut:
    """Queue a fine-tuning job; ``202`` with its id. Follow it with ``GET /jobs/{id}``."""
    with runtime.sessions.begin() as session:
        job = jobs.submit(session, request)
    if runtime.jobs is not None:
        runtime.jobs.wake()
    return JobOut.from_record(job)


@router.get("", response_model=JobPage, responses={401: ERROR, 403: ERROR})
def list_jobs(
    session: SessionDep, _: AdminDep,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=ID_CURSOR_PATTERN,
                                        description="A page's `next`.")] = None,
) -> JobPage:
    """Jobs, newest first; follow ``next`` for older ones."""
    before = decode_id_cursor(cursor) if cursor is not None else None
    rows, total, more = crud.jobs.page(session, state=state, before=before, limit=limit)
    return JobPage(items=[JobOut.from_record(row) for row in rows], total=total,
                   next=encode_id_cursor(rows[-1].id) if more else None)


@router.get("/{job_id}", response_model=JobOut, responses={401: ERROR, 403: ERROR, 404: ERROR})
def get_job(session: SessionDep, _: AdminDep, job_id: int = JobId) -> JobOut:
    """State (queued/running/succeeded/failed/cancelled), progress and metrics."""
    return JobOut.from_record(_job(session, job_id))


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses={401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
def cancel_job(runtime: RuntimeDep, _: AdminDep, job_id: int = JobId) -> JobOut:
    """Cancel: a queued job at once, a running one at its next progress check."""
    with runtime.sessions.begin() as session:
        job = _job(session, job_id)
        if job.state in jobs.FINAL:
            raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} already {job.state}")
        jobs.cancel(session, job)
        return JobOut.from_record(job)


def _job(session: SessionDep, job_id: int) -> FinetuneJob:
    job = crud.jobs.by_id(session, job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id}")
    return job
