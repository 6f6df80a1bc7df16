"""Shapes of ``/healthz`` and ``/readyz``: what orchestrators poll."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Health(BaseModel):
    """Liveness: the process serves requests."""

    status: str = "ok"


class Readiness(BaseModel):
    """Whether the models are loaded and the service takes frames."""

    ready: bool
    reason: str | None = None
    device: str | None = None
    codecs: list[str] = Field(default_factory=list, description="Codec ids the server decodes.")
    segmenter: str | None = Field(None, description="'untrained' or the segmenter weights' id.")
    segmentation: bool = False
    segmentation_lag_s: float | None = Field(
        None, description="Age in seconds of the oldest frame not yet segmented (0 when none "
                          "waits): how far segmentation is behind ingest.")
