"""Label maps for stored frames: validated against the frame and the serving model's classes.

A label is a single-channel PNG at the frame's size whose pixels are class ids of the serving
segmenter, or its ignore index. Human and pseudo labels (from a stronger model) are stored under
different keys and rows, so a job trained on human labels never sees a pseudo label.
"""

from __future__ import annotations

import io
from enum import StrEnum

import numpy as np
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from cloud_service import crud, images
from cloud_service.db.models import Annotation, FrameRecord
from cloud_service.storage import BlobStore
from latentlink.data.datasets import LABEL_SPECS

DEFAULT_IGNORE = 255
"""The ignore index of a class list that is neither CamVid's nor Cityscapes'."""
SINGLE_CHANNEL_MODES = ("L", "P")


class Source(StrEnum):
    """Who made a label."""

    human = "human"
    pseudo = "pseudo"


class AnnotationError(ValueError):
    """A label map that does not fit its frame or the model's classes; the message says why."""


def ignore_index(class_names: tuple[str, ...]) -> int:
    """The index that losses and metrics skip for a model with these classes."""
    for spec in LABEL_SPECS.values():
        if spec.classes == class_names:
            return spec.ignore_index
    return DEFAULT_IGNORE


def annotation_key(frame_id: int, source: Source) -> str:
    """Blob key of a frame's label from ``source``."""
    return f"annotations/{source.value}/{frame_id // 1000:06d}/{frame_id}.png"


def decode_label(data: bytes) -> np.ndarray:
    """PNG bytes → uint8 H×W; single-channel images only (an RGB colour map is ambiguous)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise AnnotationError(f"a label must be a PNG, got {image.format}")
            if image.mode not in SINGLE_CHANNEL_MODES:
                raise AnnotationError(f"a label must be single-channel (8-bit greyscale or "
                                      f"palette indices), got mode {image.mode}")
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise AnnotationError(f"not a readable PNG: {error}") from error


def validate_label(label: np.ndarray, frame: FrameRecord, class_names: tuple[str, ...]) -> None:
    """Refuse a label of another size or with ids outside the classes and the ignore index."""
    if label.shape != (frame.height, frame.width):
        raise AnnotationError(f"the label is {label.shape[0]}×{label.shape[1]}, the frame is "
                              f"{frame.height}×{frame.width}")
    void = ignore_index(class_names)
    ids = np.unique(label)
    bad = [int(i) for i in ids if i >= len(class_names) and i != void]
    if bad:
        raise AnnotationError(f"class ids {bad[:10]} are not among the model's "
                              f"{len(class_names)} classes (0-{len(class_names) - 1}) or the "
                              f"ignore index {void}")


def store_annotation(session: Session, blobs: BlobStore, frame: FrameRecord, label: np.ndarray,
                     source: Source) -> Annotation:
    """Write the label blob, then insert or replace the (frame, source) row."""
    key = annotation_key(frame.id, source)
    blobs.put(key, images.encode_png(label))
    return crud.annotations.upsert(session, frame.id, source.value, key)
