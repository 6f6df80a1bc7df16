"""Synthetic street scenes with exact labels, for tests and demos (no third-party images).

The scenes are crude on purpose but have what a codec and a segmenter need to be exercised:
smooth gradients (sky), flat regions (road), edges and texture (buildings with windows), and
small objects (cars, poles). Labels use the CamVid class indices.
"""

from __future__ import annotations

import numpy as np

from latentlink.data.datasets import CAMVID_CLASSES

SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE = 0, 1, 2, 3, 4, 5
CAR = CAMVID_CLASSES.index("car")


def synthetic_scene(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic scene: (uint8 H×W×3 image, uint8 H×W CamVid label map)."""
    if height < 8 or width < 8:
        raise ValueError(f"synthetic scenes need at least 8×8 pixels, got {height}×{width}")
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.float32)
    label = np.zeros((height, width), dtype=np.uint8)
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]

    horizon = int(height * rng.uniform(0.35, 0.55))
    sky_top, sky_bottom = rng.uniform([60, 110, 170], [110, 160, 230]), rng.uniform(180, 235, 3)
    t = (rows / max(horizon, 1)).clip(0, 1)[..., None]
    image[:] = (1 - t) * sky_top + t * sky_bottom

    x = 0
    while x < width:
        w = int(rng.integers(max(4, width // 10), max(5, width // 4)))
        top = int(rng.integers(max(1, horizon // 4), max(2, horizon)))
        colour = rng.uniform(70, 200, 3)
        image[top:horizon, x : x + w] = colour
        label[top:horizon, x : x + w] = BUILDING
        for wy in range(top + 3, horizon - 3, 8):
            for wx in range(x + 2, min(x + w, width) - 2, 7):
                image[wy : wy + 3, wx : wx + 3] = colour * 0.45
        x += w

    ground = rows >= horizon
    depth = ((rows - horizon) / max(height - horizon, 1)).clip(0, 1)
    road_half = 0.15 * width + depth * 0.5 * width
    centre = width / 2 + rng.uniform(-0.1, 0.1) * width
    is_road = ground & (np.abs(cols - centre) <= road_half)
    is_pavement = ground & ~is_road
    noise = rng.normal(0, 4, (height, width, 1)).astype(np.float32)
    image[is_road] = (np.array([90, 90, 95]) + noise[is_road]).clip(0, 255)
    image[is_pavement] = (np.array([150, 140, 130]) + noise[is_pavement]).clip(0, 255)
    label[is_road], label[is_pavement] = ROAD, PAVEMENT
    stripe = is_road & (np.abs(cols - centre) < 1 + depth * 3) & ((rows // 6) % 2 == 0)
    image[stripe] = 240

    for _ in range(int(rng.integers(1, 4))):
        ch = int(rng.integers(max(3, height // 12), max(4, height // 6)))
        cw = int(ch * rng.uniform(1.4, 2.2))
        cy = int(rng.integers(horizon, max(horizon + 1, height - ch)))
        cx = int(rng.integers(0, max(1, width - cw)))
        image[cy : cy + ch, cx : cx + cw] = rng.uniform(20, 240, 3)
        image[cy + ch * 2 // 3 : cy + ch, cx : cx + cw] *= 0.3
        label[cy : cy + ch, cx : cx + cw] = CAR

    px = int(rng.integers(0, width - 2))
    image[horizon // 2 : horizon + height // 8, px : px + 2] = 60
    label[horizon // 2 : horizon + height // 8, px : px + 2] = POLE
    return image.round().clip(0, 255).astype(np.uint8), label


def synthetic_frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` scenes (images only) from consecutive seeds."""
    return [synthetic_scene(height, width, seed + i)[0] for i in range(count)]
