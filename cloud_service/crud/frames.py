"""Queries on ``frames``: ingest's insert, the API's reads, the segmentation worker's claims and
results, and the selections of the fine-tuning commands."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Insert, Row, ScalarResult, and_, func, or_, select, update
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
    filters = []
    if status is not None:
        filters.append(FrameRecord.seg_status == status)
    if vehicle is not None:
        filters.append(FrameRecord.vehicle == vehicle)
    if since is not None:
        filters.append(FrameRecord.ts >= since)
    if until is not None:
        filters.append(FrameRecord.ts < until)
    total = session.scalar(select(func.count()).select_from(FrameRecord).where(*filters)) or 0
    query = select(FrameRecord).where(*filters)
    if after is not None:
        after_ts, after_id = after
        query = query.where(or_(FrameRecord.ts > after_ts,
                                and_(FrameRecord.ts == after_ts, FrameRecord.id > after_id)))
    rows = list(session.scalars(query.order_by(FrameRecord.ts, FrameRecord.id).limit(limit + 1)))
    return rows[:limit], total, len(rows) > limit


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


def claimable(session: Session, lease_s: float, limit: int
              ) -> Sequence[Row[tuple[int, str]]]:
    """(id, blob key) of up to ``limit`` frames a segmentation worker may take, oldest first."""
    return session.execute(
        select(FrameRecord.id, FrameRecord.blob_key)
        .where(_claimable(lease_s))
        .order_by(FrameRecord.id).limit(limit)
    ).all()


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
