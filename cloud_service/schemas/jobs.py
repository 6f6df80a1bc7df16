"""Shapes of ``/jobs``: a fine-tuning job as operators follow it, and a page of them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cloud_service.db.models import FinetuneJob


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



class JobPage(BaseModel):
    """One page of jobs, newest first."""

    items: list[JobOut]
    total: int = Field(description="Jobs matching the filter, over all pages.")
    next: str | None = Field(description="Cursor of the next page; null on the last page.")
