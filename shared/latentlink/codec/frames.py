"""Frame ↔ network input: the numpy steps both sides share.

net_C halves the resolution d + 1 times, so a frame is padded (reflect, bottom/right) to a
multiple of 2^(d+1) before compression; the original size travels in the container and the
reconstruction is cropped back to it.
"""

from __future__ import annotations

import math

import numpy as np

LATENT_CHANNELS = 16


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad an H×W(×C) array on the bottom/right so both sides are multiples of ``multiple``.

    Reflection needs the pad to be smaller than the side; tiny frames fall back to edge padding.
    """
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return image
    mode = "reflect" if pad_h < height and pad_w < width else "edge"
    pad = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode=mode)


def check_rgb(image: np.ndarray) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        shape = getattr(image, "shape", None)
        raise ValueError(
            f"expected a uint8 H×W×3 RGB frame, got {getattr(image, 'dtype', type(image))} {shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"empty frame of shape {image.shape}")


def frame_to_input(image: np.ndarray, depth: int) -> np.ndarray:
    """uint8 H×W×3 → float32 1×3×H'×W' in [0, 1], padded to a multiple of 2^(d+1)."""
    check_rgb(image)
    padded = pad_to_multiple(image, 2 ** (depth + 1))
    return np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255)


def latent_shape(height: int, width: int, depth: int) -> tuple[int, int, int]:
    factor = 2 ** (depth + 1)
    return LATENT_CHANNELS, math.ceil(height / factor), math.ceil(width / factor)


def output_to_image(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """float 1×3×H'×W' in [0, 1] → uint8 H×W×3, cropped back to the original size."""
    cropped = np.clip(frames[0, :, :height, :width], 0.0, 1.0)
    return np.rint(cropped * 255).astype(np.uint8).transpose(1, 2, 0)
