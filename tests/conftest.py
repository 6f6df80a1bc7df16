"""Shared fixtures: small synthetic data sets written in the layouts the loaders read, and torch
on one thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentlink.data.synthetic import synthetic_scene

CAMVID_ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "camvid"


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="session")
def synthetic_camvid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CamVid-layout tree (train/, trainannot/, val/, valannot/) of synthetic 64×96 scenes."""
    root = tmp_path_factory.mktemp("camvid")
    for split, count, seed in (("train", 6, 0), ("val", 2, 100)):
        for i in range(count):
            image, label = synthetic_scene(64, 96, seed + i)
            write_png(root / split / f"frame_{i:03d}.png", image)
            write_png(root / f"{split}annot" / f"frame_{i:03d}.png", label)
    return root


@pytest.fixture
def camvid_root() -> Path:
    """The real CamVid frames; tests using it skip where ../shared/datasets is absent."""
    if not (CAMVID_ROOT / "val").is_dir():
        pytest.skip(f"CamVid not found at {CAMVID_ROOT}")
    return CAMVID_ROOT


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread for the test, then as before: the small models tests build run no
    slower on one thread, and the suite shares its cores with whatever else the machine runs.

    torch is imported here, not at the top: the edge tests share this conftest and need no torch.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
