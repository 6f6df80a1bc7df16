"""Shapes of ``/models``: registry versions, which one serves, and promotion decisions."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cloud_service.db.models import ModelVersion


class ModelOut(BaseModel):
    version: int
    name: str = Field(description="First 16 hex digits of the weights' SHA-256.")
    codec_id: str
    metrics: dict
    lineage: dict
    created_at: float
    serving: bool

    @classmethod
    def from_record(cls, row: ModelVersion, serving: int | None) -> ModelOut:
        return cls(version=row.version, name=row.name, codec_id=row.codec_id,
                   metrics=row.metrics, lineage=row.lineage, created_at=row.created_at,
                   serving=row.version == serving)


class ModelList(BaseModel):
    serving: int | None = Field(description="The serving version; null: the configured model.")
    serving_name: str = Field(description="The serving segmenter's name.")
    items: list[ModelOut]


class DecisionOut(BaseModel):
    version: int | None
    promoted: bool
    reason: str
    candidate_dice: float | None = None
    serving_dice: float | None = None
    resegmented: int | None = Field(
        None, description="Frames sent back to segmentation (with `resegment_since`).")
