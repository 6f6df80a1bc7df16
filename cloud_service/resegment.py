"""Segment stored frames again: after an untrained or a replaced segmenter, masks can be redone.

Frames go back to ``pending`` and the segmentation workers' sweep takes them, as if they had
just arrived, with whichever model serves then; nothing is deleted on the way (the old mask
stays until the new one replaces it). The API (``POST /frames/resegment``, the promotion's
``resegment_since``), the CLI (``cloud-service resegment``) and the console all call
:func:`requeue`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cloud_service import crud
from cloud_service.schemas.moments import UtcDatetime, timestamp
from cloud_service.schemas.numbers import bounded_json_int
from latentlink.codec.container import VEHICLE_PATTERN


class UnknownVersion(LookupError):
    """The selection names a registry version that does not exist."""


class Selection(BaseModel):
    """Which stored frames to segment again; every criterion given must hold (so a selection
    whose criteria cannot hold together, e.g. ``since`` after ``until``, selects nothing)."""

    model_config = {"extra": "forbid"}

    since: UtcDatetime | None = Field(None, description="Captured at or after.")
    until: UtcDatetime | None = Field(None, description="Captured before.")
    vehicle: str | None = Field(None, pattern=VEHICLE_PATTERN,
                                description="Only this vehicle's frames.")
    segmenter: str | None = Field(
        None, min_length=1, max_length=64,
        description="Only frames this segmenter handled: its name (a frame's `segmenter`, "
                    "/models' `name`), or `untrained`.")
    version: bounded_json_int(1, 2**31 - 1) | None = Field(None,
                                description="Only frames this registry version handled.")


def requeue(session: Session, selection: Selection, *, other_than: str | None = None) -> int:
    """Send the selected frames back to the segmentation queue; returns how many were sent.

    ``other_than`` skips frames that segmenter (by name) already handled, e.g. the one that
    serves. Works inside the caller's transaction, like the queries it runs.
    """
    segmenter = selection.segmenter
    if selection.version is not None:
        row = crud.models.by_number(session, selection.version)
        if row is None:
            raise UnknownVersion(f"no model version {selection.version}")
        if segmenter is not None and segmenter != row.name:
            return 0  # no frame was handled by two segmenters
        segmenter = row.name
    return crud.frames.requeue(session, since=timestamp(selection.since),
                               until=timestamp(selection.until), vehicle=selection.vehicle,
                               segmenter=segmenter, other_than=other_than)
