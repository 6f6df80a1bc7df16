"""Dataset-level Dice and IoU: hand-computed confusion matrices and a torchmetrics cross-check."""

import math

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassF1Score, MulticlassJaccardIndex

from latentlink.evaluation.seg_metrics import ConfusionMatrix, per_class_scores, summarize

IGNORE = 9


def test_confusion_matrix_by_hand():
    target = np.array([[0, 0, 1], [1, 2, IGNORE]])
    prediction = np.array([[0, 1, 1], [1, 0, 2]])
    matrix = ConfusionMatrix(3, IGNORE)
    matrix.update(prediction, target)
    # rows: truth, columns: prediction; the ignored pixel (predicted 2) is not counted.
    assert matrix.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    scores = per_class_scores(matrix.matrix)
    # class 0: TP 1, FN 1, FP 1 · class 1: TP 2, FN 0, FP 1 · class 2: TP 0, FN 1, FP 0
    np.testing.assert_allclose(scores["dice"], [2 / 4, 4 / 5, 0.0])
    np.testing.assert_allclose(scores["iou"], [1 / 3, 2 / 3, 0.0])
    summary = summarize(matrix.matrix, ("a", "b", "c"))
    assert summary["dice"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert summary["miou"] == pytest.approx((1 / 3 + 2 / 3 + 0.0) / 3)
    assert summary["pixel_accuracy"] == pytest.approx(3 / 5)
    assert summary["per_class"]["b"] == {"dice": pytest.approx(0.8), "iou": pytest.approx(2 / 3),
                                         "pixels": 2}


def test_counts_accumulate_over_frames():
    matrix = ConfusionMatrix(2)
    matrix.update(np.array([0, 1]), np.array([0, 0]))
    matrix.update(np.array([1, 1]), np.array([1, 1]))
    assert matrix.matrix.tolist() == [[1, 1], [0, 2]]
    # Dataset level: class 0 has Dice 2·1/(2·1+0+1) = 2/3, not the mean of per-frame scores.
    assert per_class_scores(matrix.matrix)["dice"][0] == pytest.approx(2 / 3)


def test_absent_classes_are_nan_and_left_out_of_the_means():
    matrix = ConfusionMatrix(3)
    # class 2 never occurs in the ground truth but is predicted once (a false positive).
    matrix.update(np.array([0, 0, 1, 2]), np.array([0, 0, 1, 1]))
    scores = per_class_scores(matrix.matrix)
    assert math.isnan(scores["dice"][2]) and math.isnan(scores["iou"][2])
    summary = summarize(matrix.matrix, ("a", "b", "c"))
    assert summary["per_class"]["c"] == {"dice": None, "iou": None, "pixels": 0}
    # the false positive costs class 1 (its true class) a false negative: Dice 2/3, IoU 1/2.
    assert summary["dice"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert summary["miou"] == pytest.approx((1.0 + 0.5) / 2)


def test_empty_matrix_has_no_scores():
    summary = summarize(np.zeros((2, 2), dtype=np.int64), ("a", "b"))
    assert summary["dice"] is None and summary["miou"] is None


def test_bad_inputs_are_refused():
    matrix = ConfusionMatrix(3, IGNORE)
    with pytest.raises(ValueError, match="shape"):
        matrix.update(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="label holds class ids"):
        matrix.update(np.zeros(2, dtype=int), np.array([0, 5]))
    with pytest.raises(ValueError, match="prediction holds class ids"):
        matrix.update(np.array([0, 3]), np.array([0, 1]))


def test_agrees_with_torchmetrics_on_random_frames():
    classes = 6
    rng = np.random.default_rng(0)
    ours = ConfusionMatrix(classes, IGNORE)
    jaccard = MulticlassJaccardIndex(classes, average=None, ignore_index=IGNORE)
    f1 = MulticlassF1Score(classes, average=None, ignore_index=IGNORE, multidim_average="global")
    for _ in range(4):
        target = rng.integers(0, classes - 1, (2, 24, 32))   # the last class never occurs
        target[rng.random(target.shape) < 0.1] = IGNORE
        prediction = np.where(rng.random(target.shape) < 0.6, target,
                              rng.integers(0, classes, target.shape)) % classes
        ours.update(prediction, target)
        jaccard.update(torch.from_numpy(prediction), torch.from_numpy(target))
        f1.update(torch.from_numpy(prediction), torch.from_numpy(target))
    scores = per_class_scores(ours.matrix)
    present = scores["pixels"] > 0
    assert present.tolist() == [True] * (classes - 1) + [False]
    np.testing.assert_allclose(scores["iou"][present], jaccard.compute().numpy()[present],
                               rtol=1e-6)
    np.testing.assert_allclose(scores["dice"][present], f1.compute().numpy()[present], rtol=1e-6)
