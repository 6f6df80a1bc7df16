"""Database tables (SQLAlchemy 2 declarative); the API's shapes live apart in ``schemas``.

A frame row holds the container's header fields, where its bytes are (a content-addressed blob
key and the SHA-256), and the segmentation's progress. ``(vehicle, frame)`` is unique: that
constraint, not a check in Python, is what keeps a retried upload from becoming a duplicate.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer, "sqlite")


class SegStatus(StrEnum):
    """Where a frame's segmentation stands."""

    PENDING = "pending"
    """Stored, waiting in the database for a worker to claim it."""
    RUNNING = "running"
    """Claimed by a worker (in its queue or being segmented); reclaimable after the lease."""
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    """No loaded segmenter fits this frame's codec; the reason is in ``seg_error``."""
    DISABLED = "disabled"
    """Received while segmentation was switched off."""


class JobState(StrEnum):
    """Where a fine-tuning job stands: ``queued`` → ``running`` → one of the final three."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Base(DeclarativeBase):
    """Declarative base of the service's tables."""


class Vehicle(Base):
    """A vehicle allowed to upload, identified by the SHA-256 of its bearer token."""

    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class FrameRecord(Base):
    """One received frame: its header, its blob, and its segmentation."""

    __tablename__ = "frames"
    __table_args__ = (
        UniqueConstraint("vehicle", "frame", name="uq_frames_vehicle_frame"),
        Index("ix_frames_ts_id", "ts", "id"),
        Index("ix_frames_vehicle_ts_id", "vehicle", "ts", "id"),
        Index("ix_frames_seg_status", "seg_status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    vehicle: Mapped[str] = mapped_column(String(64), ForeignKey("vehicles.name"))
    frame: Mapped[str] = mapped_column(String(128))
    camera: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float)

    codec: Mapped[str] = mapped_column(String(16))
    depth: Mapped[int] = mapped_column(SmallInteger)
    bits: Mapped[int] = mapped_column(SmallInteger)
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(200))

    seg_status: Mapped[str] = mapped_column(String(16))
    seg_claimed_at: Mapped[float | None] = mapped_column(Float)
    segmenter: Mapped[str | None] = mapped_column(String(64))
    seg_error: Mapped[str | None] = mapped_column(String(500))
    class_shares: Mapped[dict[str, float] | None] = mapped_column(JSON)
    """Pixel share per class, keyed in class-index order (JSON, unlike JSONB, keeps the order:
    the palette of ``/segmentation`` is built from these keys)."""
    mask_key: Mapped[str | None] = mapped_column(String(200))


class Annotation(Base):
    """A label map for a stored frame; human and pseudo labels are separate rows, never merged,
    so a fine-tuning job can choose which sources it trusts."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("frame_id", "source", name="uq_annotations_frame_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    frame_id: Mapped[int] = mapped_column(BigId, ForeignKey("frames.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    label_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)


class FinetuneJob(Base):
    """A fine-tuning job; its state lives here so a restart finds (and settles) every job."""

    __tablename__ = "finetune_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    request: Mapped[dict] = mapped_column(JSON)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    metrics: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    """Last sign of life of the replica running it; a stale one means that replica died."""
    finished_at: Mapped[float | None] = mapped_column(Float)


class ModelVersion(Base):
    """A fine-tuned segmenter in the registry: where its weights are, its metrics and lineage."""

    __tablename__ = "model_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    weights_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(64))
    codec_id: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[dict] = mapped_column(JSON)
    lineage: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)


class Promotion(Base):
    """One change of the serving model; the latest row serves. ``version`` None is the model the
    service was configured with, so rollback can always return to it."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version: Mapped[int | None] = mapped_column(Integer, ForeignKey("model_versions.version"))
    forced: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[float] = mapped_column(Float)
