"""API shapes of annotations, jobs and the model registry (apart from their tables)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cloud_service.db.models import Annotation, FinetuneJob, ModelVersion


class AnnotationOut(BaseModel):
    frame_id: int
    source: str
    created_at: float

    @classmethod
    def from_record(cls, row: Annotation) -> AnnotationOut:
        return cls(frame_id=row.frame_id, source=row.source, created_at=row.created_at)


class JobOut(BaseModel):
    """A fine-tuning job: its state, progress (0–1) and, once done, metrics and version."""

    id: int
    state: str
    progress: float
    request: dict
    metrics: dict | None = Field(None, description="Held-out mean Dice/mIoU of the new "
                                                   "version and of its base, and the promotion.")
    error: str | None = None
    version: int | None = Field(None, description="The registry version it produced.")
    cancel_requested: bool
    created_at: float
    started_at: float | None = None
    heartbeat_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def from_record(cls, job: FinetuneJob) -> JobOut:
        return cls(id=job.id, state=job.state, progress=job.progress, request=job.request,
                   metrics=job.metrics, error=job.error, version=job.version,
                   cancel_requested=job.cancel_requested, created_at=job.created_at,
                   started_at=job.started_at, heartbeat_at=job.heartbeat_at,
                   finished_at=job.finished_at)


class ModelOut(BaseModel):
    version: int
    name: str = Field(description="First 16 hex digits of the weights' SHA-256.")
    codec_id: str
    metrics: dict
    lineage: dict
    created_at: float
    serving: bool

    @classmethod
    def from_record(cls, row: ModelVersion, serving: int | None) -> ModelOut:
        return cls(version=row.version, name=row.name, codec_id=row.codec_id,
                   metrics=row.metrics, lineage=row.lineage, created_at=row.created_at,
                   serving=row.version == serving)


class ModelList(BaseModel):
    serving: int | None = Field(description="The serving version; null: the configured model.")
    serving_name: str = Field(description="The serving segmenter's name.")
    items: list[ModelOut]


class DecisionOut(BaseModel):
    version: int | None
    promoted: bool
    reason: str
    candidate_dice: float | None = None
    serving_dice: float | None = None
