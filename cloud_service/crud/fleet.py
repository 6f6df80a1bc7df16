"""Aggregates over ``vehicles`` and ``frames`` for the console's Fleet page.

Each is one grouped query, so the page costs a handful of index or table scans however many
frames there are; only the compression-factor histogram reads values, and only the latest
``limit`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from cloud_service.db.models import FrameRecord, Vehicle


@dataclass(frozen=True)
class VehicleFigures:
    """What one vehicle has sent: frames, container bytes, mean CF and its latest arrival."""

    name: str
    frames: int
    bytes: int
    mean_cf: float | None
    last_received: float | None


def compression_factor() -> ColumnElement[float]:
    """3·H·W / bytes, as :class:`~cloud_service.schemas.frames.FrameOut` reports it."""
    return 3.0 * FrameRecord.height * FrameRecord.width / FrameRecord.bytes


def vehicles(session: Session) -> list[VehicleFigures]:
    """Every registered vehicle (those without frames too), by name."""
    query = (select(Vehicle.name, func.count(FrameRecord.id), func.sum(FrameRecord.bytes),
                    func.avg(compression_factor()), func.max(FrameRecord.received_at))
             .outerjoin(FrameRecord, FrameRecord.vehicle == Vehicle.name)
             .group_by(Vehicle.name).order_by(Vehicle.name))
    return [VehicleFigures(name, count, int(size or 0), mean_cf, last)
            for name, count, size, mean_cf, last in session.execute(query)]


def status_counts(session: Session) -> dict[str, int]:
    """Frames per segmentation status (statuses without frames are absent)."""
    query = select(FrameRecord.seg_status, func.count()).group_by(FrameRecord.seg_status)
    return {status: count for status, count in session.execute(query)}


def handled_by(session: Session, segmenter: str) -> int:
    """Frames that ``segmenter`` (by name) segmented last, e.g. how many masks the untrained
    one made, which the Fleet page offers to redo."""
    query = select(func.count()).select_from(FrameRecord).where(FrameRecord.segmenter == segmenter)
    return session.scalar(query) or 0


def received_since(session: Session, moment: float) -> int:
    """Frames the server stored at or after ``moment`` (Unix seconds)."""
    query = select(func.count()).select_from(FrameRecord).where(FrameRecord.received_at >= moment)
    return session.scalar(query) or 0


def recent_compression_factors(session: Session, limit: int) -> list[float]:
    """The compression factors of the ``limit`` frames received last."""
    query = select(compression_factor()).order_by(FrameRecord.id.desc()).limit(limit)
    return [float(cf) for cf in session.scalars(query)]
