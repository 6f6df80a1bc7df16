"""PNG in and out: label masks (8-bit class indices, shown with a colour palette) and
reconstructions."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from latentlink.data.palette import colour_table

PNG_LEVEL = 3
"""zlib level: masks and reconstructions compress well at low levels, and the CPU time is
better spent segmenting and decoding."""


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 H×W (class indices: greyscale) or H×W×3 (RGB) → PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def decode_mask(mask_png: bytes) -> np.ndarray:
    """A stored mask PNG → uint8 H×W class indices."""
    with Image.open(io.BytesIO(mask_png)) as image:
        return np.asarray(image, dtype=np.uint8)


def palette_png(mask_png: bytes, class_names: tuple[str, ...]) -> bytes:
    """A stored mask → the same indices as a palette PNG, each class in the figures' colour.

    Indexed rather than RGB: the pixels stay the class indices (a client can read either the
    colours or the classes) and the file stays as small as the mask.
    """
    labels = decode_mask(mask_png)
    image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    image.putpalette(colour_table(class_names)[:256].tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def class_shares(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, float]:
    """Fraction of the frame's pixels in each class (every class listed; they sum to 1)."""
    counts = np.bincount(labels.reshape(-1), minlength=len(class_names))
    return {name: round(int(counts[index]) / labels.size, 6)
            for index, name in enumerate(class_names)}
