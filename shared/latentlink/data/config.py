"""The data fields every training run and experiment shares: which data set, where, and the
split a run selects its best checkpoint on.

The codec and segmenter trainings and Table I inherit :class:`DataConfig`, so these knobs, their
flags and their help are declared once.
"""

from __future__ import annotations

from dataclasses import dataclass

from latentlink.data.datasets import DATASETS
from latentlink.knobs import knob

DATA_ROOT_ENV = "LATENTLINK_DATA_ROOT"


@dataclass
class DataConfig:
    """The data set of a run."""

    dataset: str = knob("camvid", "Data set layout.", choices=DATASETS)
    data_root: str = knob(
        "",
        f"Data set folder (or ${DATA_ROOT_ENV}), e.g. ../shared/datasets/camvid.",
        folder=True,
        envvar=DATA_ROOT_ENV,
        required=True,
    )
    val_split: str = knob("val", "Validation split (selects the best checkpoint).")
