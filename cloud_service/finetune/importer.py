"""Bulk import of CamVid or Cityscapes label files for stored frames, matched by frame name.

A vehicle names each frame (the container's ``meta.frame``); a label file labels every stored
frame named after it (CamVid: ``NAME.png``; Cityscapes: ``NAME_gtFine_labelTrainIds.png`` or
``NAME_gtFine_labelIds.png``, mapped to train ids): frames whose id is ``NAME``, or starts with
``NAME.`` — the edge agent names a frame from an image folder ``FILE.EXT-HASH`` (the hash keeps
ids from different folders apart), so ``NAME.png-1a2b3c4d`` matches ``NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from cloud_service import crud
from cloud_service.finetune.annotations import (
    AnnotationError,
    Source,
    store_annotation,
    validate_label,
)
from cloud_service.storage import BlobStore
from latentlink.data.datasets import LABEL_SPECS, load_label

CITYSCAPES_SUFFIXES = ("_gtFine_labelTrainIds.png", "_gtFine_labelIds.png")
"""In order of preference: train ids need no mapping."""


@dataclass
class ImportReport:
    """What an import did; ``invalid`` maps a file to why it was refused."""

    matched: int = 0
    unmatched: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)


def label_files(folder: Path, dataset: str) -> dict[str, Path]:
    """Frame name → label file, for every label file under ``folder``."""
    if dataset == "camvid":
        return {path.stem: path for path in sorted(folder.rglob("*.png"))}
    found: dict[str, Path] = {}
    for suffix in reversed(CITYSCAPES_SUFFIXES):  # the preferred suffix overwrites
        for path in sorted(folder.rglob(f"*{suffix}")):
            found[path.name.removesuffix(suffix)] = path
    return found


def import_annotations(session: Session, blobs: BlobStore, folder: Path, dataset: str,
                       source: Source, vehicle: str | None = None) -> ImportReport:
    """Validate and store every label file that names a stored frame."""
    classes = LABEL_SPECS[dataset].classes
    report = ImportReport()
    for name, path in label_files(folder, dataset).items():
        frames = crud.frames.named(session, name, vehicle)
        if not frames:
            report.unmatched.append(name)
            continue
        label = load_label(path, dataset)
        for frame in frames:
            try:
                validate_label(label, frame, classes)
            except AnnotationError as error:
                report.invalid[str(path)] = str(error)
                continue
            store_annotation(session, blobs, frame, label, source)
            report.matched += 1
    return report
