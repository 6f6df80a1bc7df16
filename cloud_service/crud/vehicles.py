"""Queries on ``vehicles``: who may upload, found by token hash or name; rotation and revocation.

A revoked vehicle keeps its row (its frames reference it) but its token hash is replaced by a
marker that no SHA-256 hex digest can equal, so every lookup by token misses it. The marker
needs no new column: tables are created, never migrated, so existing databases keep working.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_service.db.models import Vehicle

REVOKED = "revoked:"
"""Prefix of a revoked vehicle's token hash; ':' never occurs in a hex digest."""


def by_token_hash(session: Session, token_hash: str) -> Vehicle | None:
    return session.scalar(select(Vehicle).where(Vehicle.token_hash == token_hash))


def by_name(session: Session, name: str) -> Vehicle | None:
    return session.scalar(select(Vehicle).where(Vehicle.name == name))


def add(session: Session, name: str, token_hash: str) -> None:
    session.add(Vehicle(name=name, token_hash=token_hash, created_at=time.time()))


def everyone(session: Session) -> list[Vehicle]:
    """Every vehicle, revoked ones included, by name."""
    return list(session.scalars(select(Vehicle).order_by(Vehicle.name)))


def set_token_hash(vehicle: Vehicle, token_hash: str) -> None:
    """Give ``vehicle`` a new token (and with it back its access, if it was revoked)."""
    vehicle.token_hash = token_hash


def revoke(vehicle: Vehicle) -> None:
    """Refuse ``vehicle``'s token from now on; the marker stays unique as the column demands."""
    if not is_revoked(vehicle):
        vehicle.token_hash = REVOKED + secrets.token_hex(24)


def is_revoked(vehicle: Vehicle) -> bool:
    return vehicle.token_hash.startswith(REVOKED)
