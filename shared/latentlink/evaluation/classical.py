"""Classical image codecs (JPEG, WebP, AVIF via Pillow) encoded at a target compression factor.

LatentLink's quality is reported against classical codecs *at the same compression factor*
(CF = 3·H·W / bytes), so the baselines need a quality knob turned to hit a byte budget rather
than a fixed quality setting. :func:`encode_at_cf` does that by bisection over each codec's
quality scale.

Encoder settings, and why:

* ``jpeg``: Pillow/libjpeg with ``optimize=True`` (per-image Huffman tables: 1–13 % smaller
  on CamVid, most at low quality, at no quality cost — the stronger JPEG, so the baseline is
  not a straw man) and the default 4:2:0 chroma subsampling. Quality is an integer 1..95
  (Pillow discourages > 95).
* ``webp``: lossy libwebp with ``method=4`` (Pillow's and cwebp's default, what a deployed
  WebP encoder typically runs). ``method=6`` would add only 0.14–0.19 dB PSNR at CF 16–66 on
  20 CamVid frames for 2–2.5× the CPU, and the bisection encodes each frame ~11 times.
  Quality is fractional (libwebp takes a float), searched in 0.1 steps over 0..100.
* ``avif``: libavif/aom with ``speed=AVIF_SPEED`` (6, libavif's default: the standard RD
  trade-off) and ``max_threads=1``: aom's output differs between one and several threads, so
  a fixed thread count keeps results identical across machines, and timings are per core.
  A search costs ~0.6 CPU-s per 480×360 frame; callers in a hurry can pass
  ``avif_speed=8``, about 3× cheaper for 0.15–0.45 dB lower PSNR at CF 16–66 on CamVid.
  Quality is an integer 0..100; default 4:2:0 subsampling.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from latentlink.evaluation.metrics import compression_factor, psnr

CLASSICAL_CODECS = ("jpeg", "webp", "avif")

WEBP_METHOD = 4
AVIF_SPEED = 6

# The quality values encode_at_cf may choose from, in increasing order, per codec.
_QUALITY_GRIDS: dict[str, tuple[float, ...]] = {
    "jpeg": tuple(float(q) for q in range(1, 96)),
    "webp": tuple(i / 10 for i in range(1001)),
    "avif": tuple(float(q) for q in range(101)),
}


@dataclass(frozen=True, eq=False)
class ClassicalResult:
    """One classical encode of one frame.

    ``eq=False`` because ``decoded`` is an array: a generated ``__eq__``/``__hash__`` would
    raise on it rather than compare.
    """

    codec: str
    quality: float
    num_bytes: int
    cf: float
    reached: bool
    decoded: np.ndarray


def _check_codec(codec: str) -> None:
    if codec not in CLASSICAL_CODECS:
        raise ValueError(f"unknown codec {codec!r}; valid codecs are {', '.join(CLASSICAL_CODECS)}")


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"image must be a uint8 RGB array of shape (H, W, 3), "
            f"got dtype {image.dtype} and shape {image.shape}"
        )


def _integer_quality(quality: float, codec: str) -> int:
    """JPEG and AVIF take integer qualities; refuse to round silently."""
    if not float(quality).is_integer():
        raise ValueError(f"{codec} quality must be an integer, got {quality}")
    return int(quality)


def _save_options(codec: str, quality: float, avif_speed: int) -> dict[str, object]:
    """Pillow ``save`` keyword arguments for one codec at one quality (see module docstring)."""
    if codec == "jpeg":
        return {"format": "JPEG", "quality": _integer_quality(quality, codec), "optimize": True}
    if codec == "webp":
        return {"format": "WEBP", "quality": float(quality), "method": WEBP_METHOD}
    return {
        "format": "AVIF",
        "quality": _integer_quality(quality, codec),
        "speed": avif_speed,
        "max_threads": 1,
    }


def encode(
    image: np.ndarray, codec: str, quality: float, *, avif_speed: int = AVIF_SPEED
) -> bytes:
    """Compress a uint8 RGB frame with a classical codec at the given quality (0..100)."""
    _check_codec(codec)
    _check_image(image)
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must lie in [0, 100], got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, **_save_options(codec, quality, avif_speed))
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Decode any of the classical bitstreams (Pillow sniffs the format) to uint8 RGB."""
    with Image.open(io.BytesIO(data)) as decoded:
        return np.array(decoded.convert("RGB"))


def encode_at_cf(
    image: np.ndarray, codec: str, target_cf: float, *, avif_speed: int = AVIF_SPEED
) -> ClassicalResult:
    """Encode at the highest quality whose compression factor is still ≥ ``target_cf``.

    Bisection over the codec's quality grid assumes bytes grow with quality. WebP in
    particular is not strictly monotonic (on CamVid frames sizes occasionally drop by a few
    dozen bytes from one 0.1 step to the next), so the search only ever returns a quality it
    has actually encoded within budget: the CF guarantee holds whatever the size curve does,
    and a non-monotonic bump can at worst make it settle on a slightly lower quality than the
    best feasible one — never overshoot the budget.

    If even the lowest quality is over budget the lowest-quality encode is returned with
    ``reached=False``, so callers can report how often a codec cannot go that low.
    """
    _check_codec(codec)
    _check_image(image)
    if target_cf <= 0:
        raise ValueError(f"target_cf must be positive, got {target_cf}")
    height, width = image.shape[:2]
    grid = _QUALITY_GRIDS[codec]

    def encode_index(index: int) -> bytes:
        return encode(image, codec, grid[index], avif_speed=avif_speed)

    def within_budget(data: bytes) -> bool:
        return compression_factor(height, width, len(data)) >= target_cf

    # Invariant: grid[lo] was encoded within budget (as ``best``); grid[hi] is over budget,
    # or hi is one past the grid, so the top quality is never encoded unless it is a candidate.
    lo, hi = 0, len(grid)
    best = encode_index(lo)
    if not within_budget(best):
        return _result(codec, grid[lo], best, image.shape, reached=False)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        data = encode_index(mid)
        if within_budget(data):
            lo, best = mid, data
        else:
            hi = mid
    return _result(codec, grid[lo], best, image.shape, reached=True)


def _result(
    codec: str, quality: float, data: bytes, shape: tuple[int, ...], *, reached: bool
) -> ClassicalResult:
    height, width = shape[:2]
    return ClassicalResult(
        codec=codec,
        quality=quality,
        num_bytes=len(data),
        cf=compression_factor(height, width, len(data)),
        reached=reached,
        decoded=decode(data),
    )


def psnr_at_bytes(image: np.ndarray, codec: str, num_bytes: int, *,
                  within_budget: ClassicalResult | None = None,
                  avif_speed: int = AVIF_SPEED) -> float:
    """PSNR the codec would reach with exactly ``num_bytes``, interpolated linearly in bytes
    between the highest quality within that budget and the next quality up.

    Why: :func:`encode_at_cf` never spends more bytes than the budget, and quality steps are
    coarse (a JPEG step is ~3% of the bytes near CF 50), so on average it spends fewer — at
    CF 78 on CamVid val JPEG lands at CF 80.8. That favours the codec it is compared against;
    this is the comparison at equal bytes. ``within_budget`` is :func:`encode_at_cf`'s result
    for this budget when the caller has it (saves the search). At the top of the grid, or when
    even the lowest quality is over budget, the encoded quality's own PSNR is returned.
    """
    height, width = image.shape[:2]
    below = within_budget or encode_at_cf(image, codec,
                                          compression_factor(height, width, num_bytes),
                                          avif_speed=avif_speed)
    below_psnr = psnr(image, below.decoded)
    grid = _QUALITY_GRIDS[codec]
    step = grid.index(below.quality) + 1
    if not below.reached or step == len(grid):
        return below_psnr
    above = encode(image, codec, grid[step], avif_speed=avif_speed)
    if len(above) <= below.num_bytes:  # a non-monotonic step: nothing to interpolate towards
        return below_psnr
    weight = min(max((num_bytes - below.num_bytes) / (len(above) - below.num_bytes), 0.0), 1.0)
    return below_psnr + weight * (psnr(image, decode(above)) - below_psnr)
