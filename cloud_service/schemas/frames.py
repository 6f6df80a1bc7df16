"""Shapes of ``/frames``: a stored frame's metadata and a page of them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from cloud_service.db.models import FrameRecord, SegStatus
from latentlink.codec.frames import latent_shape


class Segmentation(BaseModel):
    """Where a frame's compressed-domain segmentation stands, and what it found."""

    status: SegStatus
    error: str | None = Field(None, description="Why the frame was skipped or failed.")
    class_shares: dict[str, float] | None = Field(
        None, description="Fraction of the frame's pixels in each class, once done.")


class FrameOut(BaseModel):
    """A stored frame's metadata."""

    id: int = Field(description="The server's id of the frame (use it in /frames/{id}).")
    vehicle: str
    frame: str = Field(description="The vehicle's own id of the frame; unique per vehicle.")
    camera: str
    ts: float = Field(description="Capture time, Unix seconds.")
    received_at: float = Field(description="When the server stored it, Unix seconds.")
    codec: str = Field(description="Id of the net_C that made the latent.")
    depth: int = Field(description="Digest units d.")
    bits: int = Field(description="Quantisation bit length n.")
    size: tuple[int, int] = Field(description="Frame height and width.")
    latent_shape: tuple[int, int, int] = Field(description="Channels, height, width.")
    bytes: int = Field(description="Container bytes as received (everything counted).")
    compression_factor: float = Field(description="3·H·W / bytes.")
    sha256: str = Field(description="SHA-256 of the container bytes.")
    segmenter: str | None = Field(
        None, description="Segmenter that handled the frame: 'untrained' (no trained weights "
                          "were configured) or its weights' id.")
    segmentation: Segmentation

    @classmethod
    def from_record(cls, record: FrameRecord) -> FrameOut:
        return cls(
            id=record.id, vehicle=record.vehicle, frame=record.frame, camera=record.camera,
            ts=record.ts, received_at=record.received_at, codec=record.codec, depth=record.depth,
            bits=record.bits, size=(record.height, record.width),
            latent_shape=latent_shape(record.height, record.width, record.depth),
            bytes=record.bytes,
            compression_factor=round(3 * record.height * record.width / record.bytes, 3),
            sha256=record.sha256, segmenter=record.segmenter,
            segmentation=Segmentation(status=SegStatus(record.seg_status), error=record.seg_error,
                                      class_shares=record.class_shares),
        )


class FramePage(BaseModel):
    """One page of frames, oldest capture first."""

    items: list[FrameOut]
    total: int = Field(description="Frames matching the filters, over all pages.")
    next: str | None = Field(description="Cursor of the next page; null on the last page.")



class Requeued(BaseModel):
    """What ``POST /frames/resegment`` did."""

    queued: int = Field(description="Frames sent back to the segmentation queue (`pending`); "
                                    "the workers' sweep segments them with the serving model.")
