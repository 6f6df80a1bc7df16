"""Queries on ``annotations``: one label row per (frame, source), and the labelled frames a
fine-tuning job selects."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from cloud_service.db.models import Annotation, FrameRecord


def upsert(session: Session, frame_id: int, source: str, label_key: str) -> Annotation:
    """Insert or replace the (frame, source) row; flushed, so the row is complete."""
    row = session.scalar(select(Annotation).where(Annotation.frame_id == frame_id,
                                                  Annotation.source == source))
    if row is None:
        row = Annotation(frame_id=frame_id, source=source, label_key=label_key,
                         created_at=time.time())
        session.add(row)
    else:
        row.label_key, row.created_at = label_key, time.time()
    session.flush()
    return row


def of_frame(session: Session, frame_id: int) -> list[Annotation]:
    """The frame's label rows (one per source), oldest first."""
    return list(session.scalars(select(Annotation).where(Annotation.frame_id == frame_id)
                                .order_by(Annotation.created_at)))


def labelled_frames(session: Session, *, source: str, depth: int, codec: str | None,
                    vehicle: str | None, since: float | None, until: float | None
                    ) -> Sequence[Row[tuple[int, str, str, str]]]:
    """Frames of ``depth`` with a ``source`` label, in id order: (id, blob_key, label_key,
    codec) rows; ``codec``, ``vehicle``, ``since`` and ``until`` narrow it when given."""
    query = (select(FrameRecord.id, FrameRecord.blob_key, Annotation.label_key, FrameRecord.codec)
             .join(Annotation, Annotation.frame_id == FrameRecord.id)
             .where(Annotation.source == source, FrameRecord.depth == depth))
    if codec is not None:
        query = query.where(FrameRecord.codec == codec)
    if vehicle is not None:
        query = query.where(FrameRecord.vehicle == vehicle)
    if since is not None:
        query = query.where(FrameRecord.ts >= since)
    if until is not None:
        query = query.where(FrameRecord.ts < until)
    return session.execute(query.order_by(FrameRecord.id)).all()
