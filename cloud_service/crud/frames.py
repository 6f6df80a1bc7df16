"""Queries on ``frames``: ingest's insert, the API's reads, the segmentation worker's claims and
results, and the selections of the fine-tuning commands."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

from sqlalchemy import (
    ColumnElement,
    Insert,
    Row,
    ScalarResult,
    and_,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud_service.db.models import FrameRecord, SegStatus

_UPSERT_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def by_id(session: Session, frame_id: int) -> FrameRecord | None:
    return session.get(FrameRecord, frame_id)


def by_key(session: Session, vehicle: str, frame: str) -> FrameRecord | None:
    return session.scalar(
        select(FrameRecord).where(FrameRecord.vehicle == vehicle, FrameRecord.frame == frame))


def insert(session: Session, values: dict) -> int | None:
    """Insert a frame row; its id, or None when (vehicle, frame) is already stored.

    ``ON CONFLICT DO NOTHING`` against the unique constraint settles concurrent uploads of one
    frame inside the database: exactly one insert wins, the others see None, none raises.
    """
    statement = _insert_statement(session.get_bind().dialect.name)
    return session.execute(statement, values).scalar()


@functools.cache
def _insert_statement(dialect: str) -> Insert:
    """The insert, built once: this runs per frame on the single writer thread, where building
    and cache-keying a statement each time cost 8× its execution."""
    table = FrameRecord.__table__
    return (_UPSERT_DIALECTS[dialect](table)
            .on_conflict_do_nothing(index_elements=["vehicle", "frame"])
            .returning(table.c.id))


def page(session: Session, *, vehicle: str | None, since: float | None, until: float | None,
         after: tuple[float, int] | None, limit: int, status: SegStatus | None = None
         ) -> tuple[list[FrameRecord], int, bool]:
    """A page of frames in (ts, id) order after ``after``; (page, total matching, more follow).
    ``status`` (segmentation status) narrows it as the console's filter does."""
    filters = _selection(vehicle, since, until)
    if status is not None:
        filters.append(FrameRecord.seg_status == status)
    total = session.scalar(select(func.count()).select_from(FrameRecord).where(*filters)) or 0
    query = select(FrameRecord).where(*filters)
    if after is not None:
        after_ts, after_id = after
        query = query.where(or_(FrameRecord.ts > after_ts,
                                and_(FrameRecord.ts == after_ts, FrameRecord.id > after_id)))
    rows = list(session.scalars(query.order_by(FrameRecord.ts, FrameRecord.id).limit(limit + 1)))
    return rows[:limit], total, len(rows) > limit


def _selection(vehicle: str | None, since: float | None,
               until: float | None) -> list[ColumnElement[bool]]:
    """The conditions of a vehicle and capture-time window (``since`` ≤ ts < ``until``)."""
    filters = []
    if vehicle is not None:
        filters.append(FrameRecord.vehicle == vehicle)
    if since is not None:
        filters.append(FrameRecord.ts >= since)
    if until is not None:
        filters.append(FrameRecord.ts < until)
    return filters


def named(session: Session, name: str, vehicle: str | None) -> list[FrameRecord]:
    """Frames whose id is ``name`` or starts with ``name.`` (of ``vehicle`` only, if given)."""
    query = select(FrameRecord).where(or_(
        FrameRecord.frame == name, FrameRecord.frame.startswith(f"{name}.", autoescape=True)))
    if vehicle is not None:
        query = query.where(FrameRecord.vehicle == vehicle)
    return list(session.scalars(query))


def in_id_order(session: Session, vehicle: str | None) -> ScalarResult[FrameRecord]:
    """Every frame (of ``vehicle`` only, if given), oldest id first."""
    query = select(FrameRecord).order_by(FrameRecord.id)
    if vehicle is not None:
        query = query.where(FrameRecord.vehicle == vehicle)
    return session.scalars(query)


def claimable(session: Session, lease_s: float, limit: int, order: str = "oldest",
              stride: int = 4) -> Sequence[Row[tuple[int, str]]]:
    """(id, blob key) of up to ``limit`` frames a segmentation worker may take, in ``order``.

    ``oldest`` and ``newest`` go by id (arrival). ``stride`` first takes every ``stride``-th
    claimable frame of each vehicle, counted from its newest, newest first, then the rest: while
    the backlog is larger than ``limit`` the worker covers every vehicle's timeline evenly at
    1/stride of its frames; the frames passed over stay pending and are taken once it catches up.
    """
    if order == "stride":
        rank = func.row_number().over(partition_by=FrameRecord.vehicle,
                                      order_by=FrameRecord.id.desc())
        ranked = (select(FrameRecord.id, FrameRecord.blob_key, rank.label("rank"))
                  .where(_claimable(lease_s)).subquery())
        passed_over = case(((ranked.c.rank - 1) % stride == 0, 0), else_=1)
        query = (select(ranked.c.id, ranked.c.blob_key)
                 .order_by(passed_over, ranked.c.id.desc()))
    else:
        newest_first = order == "newest"
        query = (select(FrameRecord.id, FrameRecord.blob_key).where(_claimable(lease_s))
                 .order_by(FrameRecord.id.desc() if newest_first else FrameRecord.id))
    return session.execute(query.limit(limit)).all()


def oldest_waiting(session: Session) -> float | None:
    """When the oldest frame not yet segmented (pending, or running) was received; None if
    every frame is segmented. Its age is how far segmentation lags behind ingest."""
    return session.scalar(select(func.min(FrameRecord.received_at)).where(
        FrameRecord.seg_status.in_((SegStatus.PENDING, SegStatus.RUNNING))))


def claim(session: Session, ids: list[int], lease_s: float) -> set[int]:
    """Mark those of ``ids`` still claimable ``running`` in one statement; the ids claimed.

    The condition and the update are one statement, so of two workers claiming a frame at
    once exactly one gets it back.
    """
    result = session.execute(
        update(FrameRecord).where(FrameRecord.id.in_(ids), _claimable(lease_s))
        .values(seg_status=SegStatus.RUNNING, seg_claimed_at=time.time())
        .returning(FrameRecord.id))
    return set(result.scalars())


def _claimable(lease_s: float) -> ColumnElement[bool]:
    """Rows a worker may take: pending, or running with a lease older than ``lease_s``."""
    stale = time.time() - lease_s
    return or_(FrameRecord.seg_status == SegStatus.PENDING,
               (FrameRecord.seg_status == SegStatus.RUNNING)
               & (FrameRecord.seg_claimed_at < stale))


def record_segmentation(session: Session, frame_id: int, *, status: SegStatus,
                        error: str | None, shares: dict[str, float] | None, mask: str | None,
                        segmenter: str) -> None:
    """Store a frame's segmentation outcome and the segmenter that produced it."""
    session.execute(
        update(FrameRecord).where(FrameRecord.id == frame_id)
        .values(seg_status=status, seg_error=error, class_shares=shares, mask_key=mask,
                segmenter=segmenter))


REQUEUEABLE = (SegStatus.DONE, SegStatus.FAILED, SegStatus.SKIPPED, SegStatus.DISABLED)
"""Statuses a frame may be sent back from: pending and running frames are already on their way."""


def requeue(session: Session, *, since: float | None, until: float | None, vehicle: str | None,
            segmenter: str | None, other_than: str | None) -> int:
    """Send matching frames back to ``pending`` for the workers' sweep; how many were sent.

    Only the status changes: the previous mask and shares stay until the new ones replace them,
    so no frame loses anything, and frames in a worker's hands (running) are left to finish.
    ``segmenter`` keeps only the frames that segmenter handled; ``other_than`` drops those it
    already did (re-segmenting with the model that serves would change nothing).
    """
    filters = [*_selection(vehicle, since, until),
               FrameRecord.seg_status.in_([status.value for status in REQUEUEABLE])]
    if segmenter is not None:
        filters.append(FrameRecord.segmenter == segmenter)
    if other_than is not None:
        filters.append(or_(FrameRecord.segmenter.is_(None), FrameRecord.segmenter != other_than))
    result = session.execute(update(FrameRecord).where(*filters)
                             .values(seg_status=SegStatus.PENDING, seg_claimed_at=None))
    return result.rowcount
