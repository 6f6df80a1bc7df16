"""Queries on the model registry's tables: ``model_versions`` and ``promotions``."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_service.db.models import ModelVersion, Promotion


def add_version(session: Session, *, weights_key: str, name: str, codec_id: str, metrics: dict,
                lineage: dict) -> ModelVersion:
    """Insert a version; its number is set when the caller's transaction flushes."""
    row = ModelVersion(weights_key=weights_key, name=name, codec_id=codec_id, metrics=metrics,
                       lineage=lineage, created_at=time.time())
    session.add(row)
    return row


def versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.version)))


def by_number(session: Session, number: int) -> ModelVersion | None:
    return session.get(ModelVersion, number)


def latest_promotions(session: Session, count: int) -> list[Promotion]:
    """The last ``count`` promotions, newest (the serving one) first."""
    return list(session.scalars(select(Promotion).order_by(Promotion.id.desc()).limit(count)))


def add_promotion(session: Session, version: int | None, forced: bool, reason: str) -> None:
    session.add(Promotion(version=version, forced=forced, reason=reason, at=time.time()))
