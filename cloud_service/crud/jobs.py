"""Queries on ``finetune_jobs``: submit, claim, and settle jobs abandoned by a dead process."""

from __future__ import annotations

import time

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from cloud_service.db.models import FinetuneJob, JobState


def add(session: Session, request: dict) -> FinetuneJob:
    """Insert a queued job; flushed, so it has its id."""
    job = FinetuneJob(state=JobState.queued, request=request, progress=0.0,
                      cancel_requested=False, created_at=time.time())
    session.add(job)
    session.flush()
    return job


def by_id(session: Session, job_id: int) -> FinetuneJob | None:
    return session.get(FinetuneJob, job_id)


def page(session: Session, *, state: JobState | None, before: int | None, limit: int
         ) -> tuple[list[FinetuneJob], int, bool]:
    """A page of jobs, newest first, with ids below ``before``; (page, total matching, more
    follow). Newest first: an operator looks for the job just submitted."""
    filters = [] if state is None else [FinetuneJob.state == state]
    total = session.scalar(select(func.count()).select_from(FinetuneJob).where(*filters)) or 0
    query = select(FinetuneJob).where(*filters)
    if before is not None:
        query = query.where(FinetuneJob.id < before)
    rows = list(session.scalars(query.order_by(FinetuneJob.id.desc()).limit(limit + 1)))
    return rows[:limit], total, len(rows) > limit


def claim_oldest_queued(session: Session) -> int | None:
    """Mark the oldest queued job running; its id, or None if there is none or another replica
    took it between the two statements (the update only changes a job still queued)."""
    job_id = session.scalar(select(FinetuneJob.id).where(
        FinetuneJob.state == JobState.queued).order_by(FinetuneJob.id).limit(1))
    if job_id is None:
        return None
    taken = session.execute(
        update(FinetuneJob).where(FinetuneJob.id == job_id,
                                  FinetuneJob.state == JobState.queued)
        .values(state=JobState.running, started_at=time.time(),
                heartbeat_at=time.time())).rowcount
    return job_id if taken else None


def fail_abandoned(session: Session, lease_s: float, error: str) -> int:
    """Mark running jobs without a heartbeat in ``lease_s`` failed with ``error``; how many."""
    now = time.time()
    abandoned = or_(FinetuneJob.heartbeat_at.is_(None),
                    FinetuneJob.heartbeat_at < now - lease_s)
    result = session.execute(
        update(FinetuneJob).where(FinetuneJob.state == JobState.running, abandoned)
        .values(state=JobState.failed, error=error, finished_at=now))
    return result.rowcount
