"""The console's state-changing forms: start and cancel fine-tuning jobs, promote, roll back,
segment frames again.

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
from cloud_service.api.routes import frames as api_frames
from cloud_service.api.routes import jobs as api_jobs
from cloud_service.api.routes import models as api_models
from cloud_service.console.auth import OperatorFormDep
from cloud_service.console.forms import PostedForm, codec, moment
from cloud_service.console.session import ConsoleSession
from cloud_service.finetune.spec import Hyperparameters, JobRequest
from cloud_service.resegment import Selection

router = APIRouter(prefix="/ui", include_in_schema=False)
MODELS_PAGE = "/ui/models"
PAGES = {"fleet": "/ui", "models": MODELS_PAGE}
"""Where a form may ask to be sent back to (its ``back`` field); anything else goes to Models."""
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
        return _back(request, form.session, f"The job was not started: {_problems(error)}")
    try:
        job = await run_in_threadpool(api_jobs.submit_finetune, job_request, runtime, None)
    except HTTPException as refused:
        return _back(request, form.session, f"The job was not started: {_why(refused)}")
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
    """Promote through the Dice gate, or past it when the form's ``force`` box was ticked;
    then segment recent frames again if its ``resegment`` box was."""
    force = form.fields.get("force") == "on"
    try:
        since = _resegment_since(form)
        decision = await api_models.promote(runtime, None, version=version, force=force,
                                            resegment_since=since)
    except (HTTPException, ValueError) as refused:
        return _back(request, form.session, f"Version {version} not promoted: {_why(refused)}")
    return _back(request, form.session, f"Version {version} serves now ({decision.reason})."
                                        f"{_queued(decision.resegmented)}")


@router.post("/models/rollback")
async def rollback(request: Request, form: OperatorFormDep, runtime: RuntimeDep) -> Response:
    try:
        since = _resegment_since(form)
        decision = await api_models.rollback(runtime, None, resegment_since=since)
    except (HTTPException, ValueError) as refused:
        return _back(request, form.session, f"Not rolled back: {_why(refused)}")
    serving = "the configured model" if decision.version is None else \
        f"version {decision.version}"
    return _back(request, form.session,
                 f"Rolled back: {serving} serves now.{_queued(decision.resegmented)}")


@router.post("/frames/resegment")
async def resegment(request: Request, form: OperatorFormDep, runtime: RuntimeDep) -> Response:
    """Segment the selected frames again (``POST /frames/resegment``); blank fields select
    any. The form's ``back`` field names the page to return to."""
    given = {key: value for key, value in form.fields.items() if value.strip()}
    page = PAGES.get(given.pop("back", ""), MODELS_PAGE)
    try:
        selection = Selection.model_validate(given)
        requeued = await run_in_threadpool(api_frames.resegment, selection, runtime, None)
    except ValidationError as error:
        return _back(request, form.session, f"Nothing was queued: {_problems(error)}", page)
    except HTTPException as refused:
        return _back(request, form.session, f"Nothing was queued: {refused.detail}", page)
    return _back(request, form.session, _queued(requeued.queued).strip(), page)


def _resegment_since(form: PostedForm) -> float | None:
    """The promote and roll-back forms' option: None unless its box is ticked, then the time
    from which to segment frames again (``ValueError`` when that is blank or unreadable)."""
    if form.fields.get("resegment") != "on":
        return None
    try:
        since = moment(form.fields.get("resegment_since", ""))
    except ValueError as error:
        raise ValueError("the time to segment again from must look like 2026-11-27T15:30 "
                         "(UTC)") from error
    if since is None:
        raise ValueError("give the time to segment frames again from")
    return since


def _queued(count: int | None) -> str:
    """The notice's sentence about frames sent back to segmentation ('' when none was asked)."""
    if count is None:
        return ""
    return f" {count} frame{'' if count == 1 else 's'} queued for segmentation."


def _problems(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}"
                     for e in error.errors())


def _why(refused: HTTPException | ValueError) -> str:
    return str(refused.detail if isinstance(refused, HTTPException) else refused)


def _back(request: Request, session: ConsoleSession, notice: str, page: str = MODELS_PAGE
          ) -> Response:
    """Post/redirect/get: back to ``page`` (the Models page), which shows ``notice`` once."""
    response = RedirectResponse(page, status.HTTP_303_SEE_OTHER)
    codec(request).store(response, request, session.with_notice(notice[:MAX_NOTICE]))
    return response
