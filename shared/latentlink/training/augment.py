"""Scale and colour augmentation for segmentation training, applied to frames *before* net_C.

A latent segmenter can only be augmented through the frame: a rescaled or re-coloured latent is
not a latent net_C would send (the same reason flips come from net_C on the flipped frame). So
each augmented *view* of the training split is drawn once per frame — zoom, flip, brightness,
contrast, saturation — the frame is re-encoded by net_C (or JPEG for BL 4, net_D for BL 3), and
the result is cached like the plain latents. Training then samples uniformly among the plain,
mirrored and augmented views; every input kind gets the same views, so Table I's rows share the
recipe.

Zoom is ≥ 1 (the frame grows, then is cropped): evaluation runs on whole frames at scale 1, and a
zoomed-out view smaller than the crop would need padding that no real frame has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

AUGMENT_VERSION = 1
"""Part of the cache key of augmented latents: bump it when the draws below change."""
SCALE_RANGE = (1.0, 1.5)
JITTER = 0.25
"""Brightness, contrast and saturation factors are drawn from [1 − JITTER, 1 + JITTER]."""
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class FrameAugmentation:
    scale: float
    flip: bool
    brightness: float
    contrast: float
    saturation: float


def draw_augmentation(rng: np.random.Generator) -> FrameAugmentation:
    low, high = 1 - JITTER, 1 + JITTER
    return FrameAugmentation(
        scale=float(rng.uniform(*SCALE_RANGE)),
        flip=bool(rng.random() < 0.5),
        brightness=float(rng.uniform(low, high)),
        contrast=float(rng.uniform(low, high)),
        saturation=float(rng.uniform(low, high)),
    )


def augment_pair(image: np.ndarray, label: np.ndarray, aug: FrameAugmentation
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``aug`` to a uint8 H×W×3 frame and its uint8 label map (nearest-neighbour)."""
    height, width = image.shape[:2]
    size = (round(width * aug.scale), round(height * aug.scale))
    if size != (width, height):
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        label = np.asarray(Image.fromarray(label).resize(size, Image.Resampling.NEAREST))
    pixels = image.astype(np.float32) * aug.brightness
    grey_mean = float((pixels @ _LUMA).mean())
    pixels = (pixels - grey_mean) * aug.contrast + grey_mean
    grey = (pixels @ _LUMA)[..., None]
    pixels = grey + (pixels - grey) * aug.saturation
    image = np.clip(pixels + 0.5, 0, 255).astype(np.uint8)
    if aug.flip:
        image, label = image[:, ::-1], label[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def augmented_view(images: list[np.ndarray], labels: list[np.ndarray], view: int, seed: int
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """View number ``view`` (1, 2, …) of a split: one fixed augmentation per frame, reproducible
    from (seed, view), so a cached view always matches its frames."""
    rng = np.random.default_rng([seed, view])
    return [augment_pair(image, label, draw_augmentation(rng))
            for image, label in zip(images, labels, strict=True)]
