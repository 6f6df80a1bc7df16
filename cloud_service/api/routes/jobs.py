"""``/jobs``: submit fine-tuning jobs, follow them, cancel them (operators only).

A job runs on the service's job thread (:mod:`cloud_service.finetune.jobs`), never in the
request; its state is read from the database, so any replica answers for any job.

The submission's body is read after the token check (:mod:`cloud_service.api.json_body`): a
caller without a token must hear 401 whatever it sent, not learn how its body was wrong.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from cloud_service import crud
from cloud_service.api.deps import AdminDep, RuntimeDep, SessionDep
from cloud_service.api.json_body import admin_json_body, json_request_body
from cloud_service.api.routes.frames import ERROR
from cloud_service.db.models import FinetuneJob, JobState
from cloud_service.finetune import jobs
from cloud_service.finetune.registry import UnknownVersion
from cloud_service.finetune.spec import JobRequest
from cloud_service.pagination import ID_CURSOR_PATTERN, decode_id_cursor, encode_id_cursor
from cloud_service.schemas.jobs import JobOut, JobPage

router = APIRouter(prefix="/jobs", tags=["jobs"])
JobId = Path(ge=1, le=2**63 - 1, description="The job's id.")
JobRequestDep = Annotated[JobRequest, Depends(admin_json_body(JobRequest, "a job request"))]


@router.post("/finetune", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             openapi_extra=json_request_body(JobRequest),
             responses={400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 413: ERROR, 415: ERROR,
                        422: ERROR})
def submit_finetune(request: JobRequestDep, runtime: RuntimeDep, _: AdminDep) -> JobOut:
    """Queue a fine-tuning job; ``202`` with its id. Follow it with ``GET /jobs/{id}``."""
    try:
        with runtime.sessions.begin() as session:
            job = jobs.submit(session, request)
    except UnknownVersion as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
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
