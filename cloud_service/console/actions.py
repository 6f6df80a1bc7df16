"""The console's state-changing forms: start and cancel fine-tuning jobs, promote, roll back.

Each form is CSRF-checked (:func:`cloud_service.console.auth.operator_form`), then calls the
API's own handler, so the console and the API cannot disagree on what an action does; the
outcome (or the API's refusal) becomes the notice on the page the browser returns to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from cloud_service.api.deps import MAX_ID, RuntimeDep
from cloud_service.api.routes import jobs as api_jobs
from cloud_service.api.routes import models as api_models
from cloud_service.console.auth import OperatorFormDep
from cloud_service.console.forms import codec
from cloud_service.console.session import ConsoleSession
from cloud_service.finetune.spec import Hyperparameters, JobRequest

router = APIRouter(prefix="/ui", include_in_schema=False)
MODELS_PAGE = "/ui/models"
MAX_NOTICE = 400
"""Characters of a notice kept: it travels in the cookie, which browsers cap at 4 kB."""
HYPERPARAMETERS = tuple(Hyperparameters.model_fields)


@router.post("/jobs")
async def start_job(request: Request, form: OperatorFormDep, runtime: RuntimeDep) -> Response:
    """Queue a fine-tuning job from the form; blank fields take the API's defaults."""
    given = {key: value for key, value in form.fields.items() if value.strip()}
    hyperparameters = {key: given.pop(key) for key in HYPERPARAMETERS if key in given}
    try:
        job_request = JobRequest.model_validate({**given, "hyperparameters": hyperparameters})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in error.errors())
        return _back(request, form.session, f"The job was not started: {problems}")
    job = await run_in_threadpool(api_jobs.submit_finetune, job_request, runtime, None)
    return _back(request, form.session, f"Fine-tuning job {job.id} queued.")


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, form: OperatorFormDep, runtime: RuntimeDep,
                     job_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    try:
        job = await run_in_threadpool(api_jobs.cancel_job, runtime, None, job_id)
    except HTTPException as refused:
        return _back(request, form.session, f"Job {job_id} not cancelled: {refused.detail}")
    done = "cancelled" if job.state == "cancelled" else "will stop at its next progress check"
    return _back(request, form.session, f"Job {job_id} {done}.")


@router.post("/models/{version}/promote")
async def promote(request: Request, form: OperatorFormDep, runtime: RuntimeDep,
                  version: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """Promote through the Dice gate, or past it when the form's ``force`` box was ticked."""
    force = form.fields.get("force") == "on"
    try:
        decision = await api_models.promote(runtime, None, version=version, force=force)
    except HTTPException as refused:
        return _back(request, form.session, f"Version {version} not promoted: {refused.detail}")
    return _back(request, form.session, f"Version {version} serves now ({decision.reason}).")


@router.post("/models/rollback")
async def rollback(request: Request, form: OperatorFormDep, runtime: RuntimeDep) -> Response:
    try:
        decision = await api_models.rollback(runtime, None)
    except HTTPException as refused:
        return _back(request, form.session, f"Not rolled back: {refused.detail}")
    serving = "the configured model" if decision.version is None else \
        f"version {decision.version}"
    return _back(request, form.session, f"Rolled back: {serving} serves now.")


def _back(request: Request, session: ConsoleSession, notice: str) -> Response:
    """Post/redirect/get: back to the Models page, which shows ``notice`` once."""
    response = RedirectResponse(MODELS_PAGE, status.HTTP_303_SEE_OTHER)
    codec(request).store(response, request, session.with_notice(notice[:MAX_NOTICE]))
    return response
