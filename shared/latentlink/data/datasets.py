"""Finding frames and labels on disk: CamVid (SegNet layout), Cityscapes, plain image folders.

Everything here is numpy + Pillow so the edge agent can read frames without torch.

Choices where the paper is silent (also in docs/codec.md):
- CamVid: ``<root>/<split>/NAME.png`` with labels at ``<root>/<split>annot/NAME.png``; any split
  name works. 11 classes, index 11 (void) is ignored.
- Cityscapes: the paper's split. Official ``val`` is our ``test``; the official ``train`` split is
  divided 80:20 into ``train``/``val`` by a stable hash of the frame name, so the division does not
  depend on file-system order and a frame never changes sides when files are added. Labels come
  from ``*_gtFine_labelTrainIds.png`` when present, else ``*_gtFine_labelIds.png`` mapped to the 19
  train ids (everything else → 255, ignored).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm")

CAMVID_CLASSES = (
    "sky",
    "building",
    "pole",
    "road",
    "pavement",
    "tree",
    "sign_symbol",
    "fence",
    "car",
    "pedestrian",
    "bicyclist",
)
CAMVID_IGNORE = 11

CITYSCAPES_CLASSES = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic_light",
    "traffic_sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
CITYSCAPES_IGNORE = 255
# Cityscapes labelIds → trainIds for the 19 evaluated classes (cityscapesScripts' labels.py).
_CITYSCAPES_ID_TO_TRAIN = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}
CITYSCAPES_TRAIN_FRACTION = 0.8

DATASETS = ("camvid", "cityscapes", "folder")


class DatasetError(ValueError):
    """A data set folder is missing, empty, or not in the expected layout."""


@dataclass(frozen=True)
class Sample:
    """One frame on disk and, where the data set has one, its label map."""

    image: Path
    label: Path | None = None

    @property
    def name(self) -> str:
        return self.image.stem


@dataclass(frozen=True)
class LabelSpec:
    """Class names and the index that metrics and losses ignore."""

    classes: tuple[str, ...]
    ignore_index: int


LABEL_SPECS = {
    "camvid": LabelSpec(CAMVID_CLASSES, CAMVID_IGNORE),
    "cityscapes": LabelSpec(CITYSCAPES_CLASSES, CITYSCAPES_IGNORE),
}


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def camvid_samples(root: Path, split: str) -> list[Sample]:
    image_dir, label_dir = root / split, root / f"{split}annot"
    if not image_dir.is_dir():
        raise DatasetError(f"CamVid split folder {image_dir} does not exist")
    return [Sample(image, _camvid_label(label_dir, image)) for image in _images_in(image_dir)]


def _camvid_label(label_dir: Path, image: Path) -> Path | None:
    """The label of ``image``: same file name, else the same stem as PNG. Labels must stay
    lossless, so a lossy copy of the frames (``NAME.jpg``, e.g. to fit a transfer budget) keeps
    the original ``NAME.png`` labels."""
    for label in (label_dir / image.name, label_dir / f"{image.stem}.png"):
        if label.is_file():
            return label
    return None


def _in_train_part(name: str) -> bool:
    digest = hashlib.sha1(name.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < CITYSCAPES_TRAIN_FRACTION


def cityscapes_samples(root: Path, split: str) -> list[Sample]:
    if split not in ("train", "val", "test"):
        raise DatasetError(f"Cityscapes split must be train, val or test, got {split!r}")
    official = "val" if split == "test" else "train"
    image_dir = root / "leftImg8bit" / official
    if not image_dir.is_dir():
        raise DatasetError(f"Cityscapes folder {image_dir} does not exist")
    samples = []
    for image in sorted(image_dir.glob("*/*_leftImg8bit.png")):
        stem = image.name.removesuffix("_leftImg8bit.png")
        if split != "test" and _in_train_part(stem) != (split == "train"):
            continue
        gt_dir = root / "gtFine" / official / image.parent.name
        label = gt_dir / f"{stem}_gtFine_labelTrainIds.png"
        if not label.is_file():
            label = gt_dir / f"{stem}_gtFine_labelIds.png"
        samples.append(Sample(image, label if label.is_file() else None))
    return samples


def folder_samples(root: Path) -> list[Sample]:
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist")
    return [Sample(p) for p in _images_in(root)]


def list_samples(dataset: str, root: Path | str, split: str = "train") -> list[Sample]:
    """Frames of one split; raises :class:`DatasetError` with the reason when there are none."""
    root = Path(root)
    if dataset == "camvid":
        samples = camvid_samples(root, split)
    elif dataset == "cityscapes":
        samples = cityscapes_samples(root, split)
    elif dataset == "folder":
        samples = folder_samples(root / split if (root / split).is_dir() else root)
    else:
        raise DatasetError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if not samples:
        raise DatasetError(f"no images found for dataset {dataset!r} split {split!r} in {root}")
    return samples


def load_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 H×W×3."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_label(path: Path, dataset: str) -> np.ndarray:
    """A label map as uint8 H×W of class indices, ignore index where unlabelled."""
    with Image.open(path) as image:
        label = np.asarray(image, dtype=np.uint8)
    if dataset == "cityscapes" and path.name.endswith("_gtFine_labelIds.png"):
        lut = np.full(256, CITYSCAPES_IGNORE, dtype=np.uint8)
        for label_id, train_id in _CITYSCAPES_ID_TO_TRAIN.items():
            lut[label_id] = train_id
        label = lut[label]
    return label


def load_images(samples: Sequence[Sample]) -> list[np.ndarray]:
    return [load_rgb(s.image) for s in samples]
