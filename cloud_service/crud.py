"""Queries on the service's tables; the only module that writes SQL for the routes."""

from __future__ import annotations

import functools
import time

from sqlalchemy import Insert, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud_service.db.models import FrameRecord, Vehicle

_UPSERT_DIALECTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def vehicle_by_token_hash(session: Session, token_hash: str) -> Vehicle | None:
    return session.scalar(select(Vehicle).where(Vehicle.token_hash == token_hash))


def vehicle_by_name(session: Session, name: str) -> Vehicle | None:
    return session.scalar(select(Vehicle).where(Vehicle.name == name))


def add_vehicle(session: Session, name: str, token_hash: str) -> None:
    session.add(Vehicle(name=name, token_hash=token_hash, created_at=time.time()))


def frame_by_id(session: Session, frame_id: int) -> FrameRecord | None:
    return session.get(FrameRecord, frame_id)


def frame_by_key(session: Session, vehicle: str, frame: str) -> FrameRecord | None:
    return session.scalar(
        select(FrameRecord).where(FrameRecord.vehicle == vehicle, FrameRecord.frame == frame))


def insert_frame(session: Session, values: dict) -> int | None:
    """Insert a frame row; its id, or None when (vehicle, frame) is already stored.

    ``ON CONFLICT DO NOTHING`` against the unique constraint settles concurrent uploads of one
    frame inside the database: exactly one insert wins, the others see None, none raises.
    """
    statement = _frame_insert(session.get_bind().dialect.name)
    return session.execute(statement, values).scalar()


@functools.cache
def _frame_insert(dialect: str) -> Insert:
    """The insert, built once: this runs per frame on the single writer thread, where building
    and cache-keying a statement each time cost 8× its execution."""
    table = FrameRecord.__table__
    return (_UPSERT_DIALECTS[dialect](table)
            .on_conflict_do_nothing(index_elements=["vehicle", "frame"])
            .returning(table.c.id))


def list_frames(session: Session, *, vehicle: str | None, since: float | None,
                until: float | None, after: tuple[float, int] | None,
                limit: int) -> tuple[list[FrameRecord], int, bool]:
    """A page of frames in (ts, id) order after ``after``; (page, total matching, more follow)."""
    filters = []
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
