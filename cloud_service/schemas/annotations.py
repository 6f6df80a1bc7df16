"""Shape of ``PUT /frames/{id}/annotation``: the stored label's row."""

from __future__ import annotations

from pydantic import BaseModel

from cloud_service.db.models import Annotation


class AnnotationOut(BaseModel):
    frame_id: int
    source: str
    created_at: float

    @classmethod
    def from_record(cls, row: Annotation) -> AnnotationOut:
        return cls(frame_id=row.frame_id, source=row.source, created_at=row.created_at)

