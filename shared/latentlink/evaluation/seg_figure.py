"""A Fig. 7-style panel: frames, their ground truth and each method's predicted mask.

One row per frame; columns are the frame, the ground truth, then one mask per method, in the
classes' colours (:mod:`latentlink.data.palette`; void is black), with a legend of the classes
underneath. Built on an explicit Agg canvas like :mod:`latentlink.evaluation.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from latentlink.data.palette import colour, colourise

PANEL_INCHES = 1.9
DPI = 150


def plot_masks(frames: Sequence[np.ndarray], truths: Sequence[np.ndarray],
               predictions: dict[str, Sequence[np.ndarray]], class_names: Sequence[str],
               path: Path) -> Path:
    """Save the panel as a PNG and return its path.

    ``frames`` are uint8 H×W×3, ``truths`` H×W class indices (void = any index past the
    classes), ``predictions`` maps a column title to one H×W mask per frame.
    """
    if len(frames) != len(truths) or not frames:
        raise ValueError(f"need one ground truth per frame, got {len(frames)} frames and "
                         f"{len(truths)} label maps")
    for title, masks in predictions.items():
        if len(masks) != len(frames):
            raise ValueError(f"{title}: {len(masks)} masks for {len(frames)} frames")
    columns = [("frame", list(frames)), ("ground truth", list(truths)), *predictions.items()]
    aspect = frames[0].shape[0] / frames[0].shape[1]
    figure = Figure(figsize=(PANEL_INCHES * len(columns),
                             PANEL_INCHES * aspect * len(frames) + 0.9), dpi=DPI,
                    layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(frames), len(columns), squeeze=False)
    for column, (title, pictures) in enumerate(columns):
        for row, picture in enumerate(pictures):
            axes = grid[row][column]
            shown = picture if picture.ndim == 3 else colourise(picture, class_names)
            axes.imshow(shown, interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(title, fontsize=7)
    handles = [Patch(color=np.array(colour(name)) / 255, label=name) for name in class_names]
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6),
                  fontsize=6, frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path
