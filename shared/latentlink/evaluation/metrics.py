"""Image-quality and rate metrics shared by the learned codec and the classical baselines.

Everything here is numpy (plus scikit-image for SSIM) so that evaluation never needs torch:
the same functions score LatentLink reconstructions and JPEG/WebP/AVIF decodes, which is
what makes the rate-distortion comparison fair.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

PEAK = 255.0
"""Peak value of an 8-bit channel; both metrics are defined on 8-bit frames."""


def _check_pair(reference: np.ndarray, test: np.ndarray) -> None:
    """Reject anything but two equally shaped uint8 H×W×3 frames.

    uint8 is required on purpose: a float reconstruction that was never rounded to 8 bits
    would score better than the classical codecs' decodes (which are 8-bit), silently
    biasing the comparison.
    """
    for name, array in (("reference", reference), ("test", test)):
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(
                f"{name} must be a uint8 RGB array of shape (H, W, 3), "
                f"got dtype {array.dtype} and shape {array.shape}"
            )
    if reference.shape != test.shape:
        raise ValueError(
            f"reference and test shapes differ: {reference.shape} vs {test.shape}"
        )


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and all three channels (peak 255).

    The MSE is pooled over R, G and B before the logarithm (rather than averaging per-channel
    PSNRs), the usual convention for RGB codec comparisons. Identical frames give ``math.inf``
    rather than a division error, so callers can still aggregate (and notice) lossless cases.
    """
    _check_pair(reference, test)
    diff = reference.astype(np.float64) - test.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(PEAK * PEAK / mse)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Structural similarity of Wang et al. (2004), averaged over the R, G and B channels.

    We call :func:`skimage.metrics.structural_similarity` instead of writing SSIM by hand
    because its defaults differ from the paper's and hand-written variants drift; the flags
    below reproduce the original definition exactly:

    * ``gaussian_weights=True, sigma=1.5``: the 11×11 circular-symmetric Gaussian window
      (skimage truncates at 3.5σ, giving 11 taps) instead of skimage's default 7×7 box;
    * ``use_sample_covariance=False``: population (1/N) statistics, as in the paper;
    * ``data_range=255``: the constants C1 = (0.01·255)², C2 = (0.03·255)² (K1, K2 at their
      defaults), independent of the particular frame's min/max;
    * ``channel_axis=-1``: SSIM per channel, then the mean of the three.

    Frames must be at least 11×11 pixels (the window size).
    """
    _check_pair(reference, test)
    return float(
        structural_similarity(
            reference,
            test,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=PEAK,
            channel_axis=-1,
        )
    )


def compression_factor(height: int, width: int, num_bytes: int) -> float:
    """CF = 3·H·W / bytes: how many times smaller than raw 8-bit RGB the payload is.

    The paper compares codecs at equal CF rather than equal bits per pixel; the two are
    related by bpp = 24 / CF.
    """
    if num_bytes <= 0:
        raise ValueError(f"num_bytes must be positive, got {num_bytes}")
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}×{width}")
    return 3.0 * height * width / num_bytes
