"""Class colours for label maps: one palette for the service's mask PNGs and the figures.

CamVid's classes get the colours CamVid's own label images use, so people see the familiar
picture; any other class (Cityscapes, a custom set) gets a stable hue derived from its name, so a
class keeps its colour across runs, figures and service responses.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np

CAMVID_COLOURS = {
    "sky": (128, 128, 128), "building": (128, 0, 0), "pole": (192, 192, 128),
    "road": (128, 64, 128), "pavement": (60, 40, 222), "tree": (128, 128, 0),
    "sign_symbol": (192, 128, 128), "fence": (64, 64, 128), "car": (64, 0, 128),
    "pedestrian": (64, 64, 0), "bicyclist": (0, 128, 192),
}
GOLDEN_RATIO = 0.618033988749895
VOID_COLOUR = (0, 0, 0)


def colour(name: str) -> tuple[int, int, int]:
    """CamVid's colour for its classes; any other class a stable hue derived from its name."""
    if name in CAMVID_COLOURS:
        return CAMVID_COLOURS[name]
    hue = (sum(name.encode()) * GOLDEN_RATIO) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.9)
    return round(255 * red), round(255 * green), round(255 * blue)


def colour_table(class_names: Sequence[str]) -> np.ndarray:
    """(classes + 256)×3 uint8 RGB: row i is class i's colour, every row after them void black.

    Its first 256 rows are a PNG palette for uint8 class indices; :func:`colourise` looks labels
    up in it directly.
    """
    return np.array([colour(name) for name in class_names] + [VOID_COLOUR] * 256, dtype=np.uint8)


def colourise(labels: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """H×W class indices → H×W×3 uint8 RGB; indices outside the classes (void) are black."""
    return colour_table(class_names)[np.minimum(labels, len(class_names)).astype(np.intp)]
