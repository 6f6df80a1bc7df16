"""Queries on ``vehicles``: who may upload, found by token hash or name."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_service.db.models import Vehicle


def by_token_hash(session: Session, token_hash: str) -> Vehicle | None:
    return session.scalar(select(Vehicle).where(Vehicle.token_hash == token_hash))


def by_name(session: Session, name: str) -> Vehicle | None:
    return session.scalar(select(Vehicle).where(Vehicle.name == name))


def add(session: Session, name: str, token_hash: str) -> None:
    session.add(Vehicle(name=name, token_hash=token_hash, created_at=time.time()))
