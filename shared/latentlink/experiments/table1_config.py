"""The knobs of Table I (``latentlink table1``).

Torch-free, apart from :mod:`latentlink.experiments.table1`, so that the command line is
generated from these fields without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from latentlink.data.config import DataConfig
from latentlink.knobs import knob


def parse_depths(text: str) -> tuple[int, ...]:
    """``"3,1"`` → ``(1, 3)``: the distinct depths of a comma-separated list, each 1, 2 or 3."""
    try:
        depths = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as error:
        raise ValueError(f"expected comma-separated depths like 1,2,3, got {text!r}") from error
    if not depths or not all(1 <= d <= 3 for d in depths):
        raise ValueError(f"depths must be among 1, 2, 3, got {text!r}")
    return depths


@dataclass
class Table1Config(DataConfig):
    """What to build the table on; ``train`` overrides :class:`SegTrainConfig`'s recipe.

    ``codec_weights`` and ``cache_dir`` mean what they mean to the segmenter trainings, which
    receive them, so their flags are the ones of :class:`SegTrainConfig`.
    """

    train_split: str = knob("train")
    test_split: str = knob("val", "Split the table is measured on (CamVid's SegNet layout has no "
                           "labelled test split beside val in ../shared; Cityscapes: 'test' is "
                           "the official val).")
    preset: str = knob("lite", "Segmenter size: lite (CPU) or paper (ResNet-50 widths, GPU).",
                       choices=("lite", "paper"))
    codec_weights: str = "default"
    depths: tuple[int, ...] = knob((1, 2, 3), "Depths d of the proposed rows.", parse=parse_depths)
    reference_depth: int = knob(2, "The d whose codec BL 2–4 use (the paper's CF 66 operating "
                                "point).", low=1, high=3)
    out_dir: str = knob("runs/table1", "Segmenters (OUT_DIR/<row>/segmenter.pt), cached "
                        "evaluations and the report.", folder=True)
    cache_dir: str = "runs/latent_cache"
    test_limit: int = knob(0, "Measure on the first N test frames only (0 = all).", low=0)
    figure_frames: int = knob(3, "Frames (rows) in the Fig. 7-style panel.", low=1)
    train: dict = field(default_factory=dict)
