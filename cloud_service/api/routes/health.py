"""Liveness, readiness and Prometheus metrics: what orchestrators and scrapers poll."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from cloud_service.api.deps import RuntimeDep
from cloud_service.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(runtime: RuntimeDep) -> Response:
    """200 while the process can serve; 503 once model loading has failed (restart it)."""
    if runtime.load_error is not None:
        return JSONResponse(Health(status=runtime.load_error).model_dump(),
                            status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse(Health().model_dump())


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(runtime: RuntimeDep) -> Response:
    """200 once the models are loaded and frames are accepted; 503 before (or if loading failed).

    ``segmenter`` is ``untrained`` when no trained segmenter weights were configured.
    """
    models = runtime.models
    if models is None:
        body = Readiness(ready=False, reason=runtime.load_error or "models are loading")
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    body = Readiness(ready=True, device=str(models.device), codecs=sorted(models.codecs),
                     segmenter=models.segmenter.name, segmentation=runtime.worker is not None,
                     segmentation_lag_s=round(runtime.segmentation_lag_s(), 3))
    return JSONResponse(body.model_dump())


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                             "description": "Prometheus text format."}})
def metrics(runtime: RuntimeDep) -> Response:
    """Frames and bytes in, compression factors, decode/segment latencies, queue depth, device."""
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
