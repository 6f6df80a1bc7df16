"""Segmentation scores from one confusion matrix accumulated over a whole split.

Scores are *dataset-level*: every pixel of every frame lands in one K×K confusion matrix
(rows = ground truth, columns = prediction) and the per-class scores come from its totals, as in
the Cityscapes and CamVid benchmarks, so a class seen in a handful of pixels of one frame does
not weigh as much as a frame-wide one. Pixels whose ground truth is the ignore (void) index are
left out entirely.

    Dice_c = 2·TP / (2·TP + FP + FN)        IoU_c = TP / (TP + FP + FN)

Absent classes: a class with no ground-truth pixel in the split has no defined score (NaN per
class, ``null`` in JSON) and is left out of mean Dice and mIoU, which average over the classes
*present in the ground truth*. Its false positives still count, as false negatives of the
classes those pixels truly belong to. This is numpy-only so the cloud service can use it
without torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


class ConfusionMatrix:
    """A K×K pixel count (ground truth × prediction), accumulated frame by frame."""

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, prediction: np.ndarray, target: np.ndarray) -> None:
        """Add one frame (or a batch): integer arrays of the same shape."""
        prediction, target = np.asarray(prediction), np.asarray(target)
        if prediction.shape != target.shape:
            raise ValueError(f"prediction shape {prediction.shape} differs from the label's "
                             f"{target.shape}")
        keep = target != self.ignore_index if self.ignore_index is not None else slice(None)
        truth = target[keep].astype(np.int64)
        predicted = prediction[keep].astype(np.int64)
        k = self.num_classes
        for name, values in (("label", truth), ("prediction", predicted)):
            if values.size and (values.min() < 0 or values.max() >= k):
                raise ValueError(f"{name} holds class ids outside 0..{k - 1} "
                                 f"(and not the ignore index {self.ignore_index})")
        self.matrix += np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``dice``, ``iou`` (NaN where the class has no ground truth) and ``pixels``."""
    matrix = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(matrix).astype(np.float64)
    fn = matrix.sum(axis=1) - tp
    fp = matrix.sum(axis=0) - tp
    present = matrix.sum(axis=1) > 0   # then tp + fn > 0: no division by zero below
    with np.errstate(divide="ignore", invalid="ignore"):
        dice = np.where(present, 2 * tp / (2 * tp + fp + fn), np.nan)
        iou = np.where(present, tp / (tp + fp + fn), np.nan)
    return {"dice": dice, "iou": iou, "pixels": matrix.sum(axis=1)}


def summarize(matrix: np.ndarray, class_names: Sequence[str]) -> dict:
    """Mean Dice, mIoU (over present classes), pixel accuracy and a per-class table."""
    scores = per_class_scores(matrix)
    if len(class_names) != len(scores["dice"]):
        raise ValueError(f"{len(class_names)} class names for a {len(scores['dice'])}-class matrix")
    present = scores["pixels"] > 0
    total = int(np.asarray(matrix).sum())

    def clean(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    return {
        "dice": float(np.mean(scores["dice"][present])) if present.any() else None,
        "miou": float(np.mean(scores["iou"][present])) if present.any() else None,
        "pixel_accuracy": float(np.trace(matrix)) / total if total else None,
        "per_class": {
            name: {"dice": clean(dice), "iou": clean(iou), "pixels": int(pixels)}
            for name, dice, iou, pixels in zip(class_names, scores["dice"], scores["iou"],
                                               scores["pixels"], strict=True)
        },
    }
