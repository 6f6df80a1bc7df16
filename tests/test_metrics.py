"""Metrics: PSNR by hand, SSIM as Wang et al. (2004) via skimage, the CF definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from latentlink.data.synthetic import synthetic_scene
from latentlink.evaluation.metrics import compression_factor, psnr, ssim


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return synthetic_scene(48, 64, seed=3)[0]


def add_noise(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return (image + noise).round().clip(0, 255).astype(np.uint8)


def test_psnr_matches_hand_computation() -> None:
    reference = np.zeros((2, 2, 3), dtype=np.uint8)
    test = reference.copy()
    test[0, 0, 0] = 12  # one error of 12 among 12 samples → MSE = 144 / 12 = 12
    assert psnr(reference, test) == pytest.approx(10 * math.log10(255**2 / 12))


def test_psnr_does_not_wrap_around_in_uint8() -> None:
    reference = np.full((2, 2, 3), 0, dtype=np.uint8)
    test = np.full((2, 2, 3), 255, dtype=np.uint8)
    assert psnr(reference, test) == pytest.approx(0.0)


def test_psnr_of_identical_frames_is_infinite(frame: np.ndarray) -> None:
    assert psnr(frame, frame.copy()) == math.inf


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_shape_mismatch_is_rejected(frame: np.ndarray, metric) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metric(frame, frame[:-1])


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_non_rgb_uint8_is_rejected(frame: np.ndarray, metric) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        metric(frame, frame.astype(np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        metric(frame[..., 0], frame[..., 0])


def test_ssim_of_identical_frames_is_one(frame: np.ndarray) -> None:
    assert ssim(frame, frame.copy()) == pytest.approx(1.0)


def test_ssim_decreases_with_noise(frame: np.ndarray) -> None:
    scores = [ssim(frame, add_noise(frame, sigma)) for sigma in (2, 8, 32)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_ssim_is_the_mean_of_wang_ssim_per_channel(frame: np.ndarray) -> None:
    noisy = add_noise(frame, 10)
    per_channel = [
        structural_similarity(
            frame[..., c],
            noisy[..., c],
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
        )
        for c in range(3)
    ]
    assert ssim(frame, noisy) == pytest.approx(np.mean(per_channel), abs=1e-12)


def test_ssim_differs_from_skimage_defaults(frame: np.ndarray) -> None:
    """Guards the flags: skimage's default 7×7 box window gives a different number."""
    noisy = add_noise(frame, 10)
    default = structural_similarity(frame, noisy, data_range=255, channel_axis=-1)
    assert abs(ssim(frame, noisy) - default) > 1e-4


def test_compression_factor() -> None:
    assert compression_factor(360, 480, 32_400) == pytest.approx(16.0)
    assert compression_factor(2, 2, 1) == pytest.approx(12.0)


@pytest.mark.parametrize("num_bytes", [0, -5])
def test_compression_factor_rejects_non_positive_bytes(num_bytes: int) -> None:
    with pytest.raises(ValueError, match="num_bytes"):
        compression_factor(360, 480, num_bytes)
