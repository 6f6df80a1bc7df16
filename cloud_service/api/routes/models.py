"""``/models``: the segmenter registry, promotion (gated on held-out mean Dice) and rollback.

Promotion and rollback swap the serving model in place (between the worker's micro-batches);
see :mod:`cloud_service.finetune.registry` for the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.concurrency import run_in_threadpool

from cloud_service.api.deps import AdminDep, ModelsDep, RuntimeDep
from cloud_service.api.routes.frames import ERROR
from cloud_service.finetune.registry import Decision, ModelRegistry, RegistryError, UnknownVersion
from cloud_service.resegment import Selection, requeue
from cloud_service.runtime import Runtime
from cloud_service.schemas.models import DecisionOut, ModelList, ModelOut
from cloud_service.schemas.moments import clamped_moment

router = APIRouter(prefix="/models", tags=["models"])

ResegmentSince = Annotated[datetime | float | None, Query(
    description="Then segment again, with the model now serving, the frames captured since "
                "this time that it did not segment (Unix seconds or ISO 8601).")]


def _registry(runtime: RuntimeDep) -> ModelRegistry:
    if runtime.registry is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "models are loading",
                            headers={"Retry-After": "5"})
    return runtime.registry


@router.get("", response_model=ModelList, responses={401: ERROR, 403: ERROR, 503: ERROR})
def list_models(runtime: RuntimeDep, models: ModelsDep, _: AdminDep) -> ModelList:
    """Every registered version with its metrics and lineage, and which one serves."""
    registry = _registry(runtime)
    return ModelList(serving=registry.serving, serving_name=models.segmenter.name,
                     items=[ModelOut.from_record(row, registry.serving)
                            for row in registry.versions()])


@router.post("/rollback", response_model=DecisionOut,
             responses={401: ERROR, 403: ERROR, 409: ERROR, 503: ERROR})
async def rollback(runtime: RuntimeDep, _: AdminDep,
                   resegment_since: ResegmentSince = None) -> DecisionOut:
    """Serve again the model that served before the current one."""
    decision = await _decide(runtime, lambda registry: registry.rollback())
    return await _out(runtime, decision, resegment_since)


@router.post("/{version}/promote", response_model=DecisionOut,
             responses={401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 503: ERROR})
async def promote(runtime: RuntimeDep, _: AdminDep,
                  version: int = Path(ge=1, le=2**31 - 1),
                  force: bool = Query(False, description="Skip the held-out Dice gate."),
                  resegment_since: ResegmentSince = None) -> DecisionOut:
    """Serve ``version`` if it beats the serving model's mean Dice on its held-out frames
    (``409`` with both numbers if not), or unconditionally with ``force=true``."""
    decision = await _decide(runtime, lambda registry: registry.promote(version, force))
    if not decision.promoted:
        raise HTTPException(status.HTTP_409_CONFLICT, decision.reason)
    return await _out(runtime, decision, resegment_since)


async def _decide(runtime: RuntimeDep, action: Callable[[ModelRegistry], Decision]) -> Decision:
    registry = _registry(runtime)
    try:
        return await run_in_threadpool(action, registry)
    except RegistryError as error:
        code = (status.HTTP_404_NOT_FOUND if isinstance(error, UnknownVersion)
                else status.HTTP_409_CONFLICT)
        raise HTTPException(code, str(error)) from error


async def _out(runtime: Runtime, decision: Decision, resegment_since: datetime | float | None
               ) -> DecisionOut:
    """The decision, after queuing the frames to segment again with the new model, if asked."""
    resegmented = None
    if resegment_since is not None:
        try:
            since = clamped_moment(resegment_since)
        except ValueError as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"resegment_since: {error}") from error
        resegmented = await run_in_threadpool(_resegment, runtime, since)
    return DecisionOut(**asdict(decision), resegmented=resegmented)


def _resegment(runtime: Runtime, since: datetime) -> int:
    serving = _registry(runtime).segmenter.name
    with runtime.sessions.begin() as session:
        return requeue(session, Selection(since=since), other_than=serving)
