"""Random training patches from frames held in memory.

CamVid's train split is 367 frames of 480×360 (≈190 MB as uint8), so the whole split is kept in
memory and every epoch draws fresh random patches: no disk I/O in the training loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from latentlink.codec.frames import pad_to_multiple


def random_patch(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size×size crop at a random position with a random horizontal flip."""
    if image.shape[0] < size or image.shape[1] < size:
        image = pad_to_multiple(image, size)
    top = int(rng.integers(0, image.shape[0] - size + 1))
    left = int(rng.integers(0, image.shape[1] - size + 1))
    patch = image[top : top + size, left : left + size]
    return patch[:, ::-1] if rng.random() < 0.5 else patch


def to_tensor(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 (N×)H×W×3 → float32 N×3×H×W in [0, 1]."""
    batch = np.array(np.stack(images) if isinstance(images, list) else images, copy=True)
    if batch.ndim == 3:
        batch = batch[None]
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float N×3×H×W in [0, 1] → uint8 N×H×W×3, rounded as an image file would be."""
    return frames.detach().float().clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).numpy()


def epoch_batches(
    images: Sequence[np.ndarray],
    patch_size: int,
    batch_size: int,
    patches_per_image: int,
    rng: np.random.Generator,
) -> Iterator[torch.Tensor]:
    """One epoch: ``patches_per_image`` random patches of every frame, shuffled, in batches."""
    order = rng.permutation(np.repeat(np.arange(len(images)), patches_per_image))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        yield to_tensor([random_patch(images[i], patch_size, rng) for i in chunk])
