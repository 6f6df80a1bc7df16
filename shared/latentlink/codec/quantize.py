"""float2int and int2float of the paper (eqs. 2 and 4), bit-exact on edge and cloud.

    float2int(x, n) = (2^n - 1) · (x - δ) / (Δ - δ),   δ = min(x), Δ = max(x) over the frame
    int2float(q, n) = q / (2^n - 1) · (Δ - δ) + δ

The paper leaves the rounding implicit; here the integer is ``floor(v + 0.5)`` (round half up),
which is the same on every platform and matches the training-time simulation. δ and Δ travel in
the frame header as float32. A constant latent (Δ = δ) quantises to all zeros and dequantises to δ
instead of dividing by zero.

The factorized codec (issue 10) uses the ``unit`` quantiser instead: δ = 0 and Δ = 1 fixed, with
values outside clipped. Its net_C applies learned per-channel gains, so the per-channel step is
part of the trained model; the header still carries δ and Δ (0 and 1), so the same int2float —
and every reader of schema-1 containers — decodes both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BITS = 16


@dataclass(frozen=True)
class Quantized:
    """Integer latent plus what is needed to map it back to floats."""

    codes: np.ndarray
    """uint8 for n ≤ 8, uint16 for n ≤ 16; same shape as the float latent."""
    low: float
    high: float
    bits: int


def code_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype that holds n-bit codes."""
    check_bits(bits)
    return np.dtype(np.uint8 if bits <= 8 else np.uint16)


def check_bits(bits: int) -> None:
    if not isinstance(bits, int | np.integer) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bit length n must be an integer in 1..{MAX_BITS}, got {bits!r}")


QUANTIZERS = ("frame", "unit")


def float2int(latent: np.ndarray, bits: int, quantizer: str = "frame") -> Quantized:
    """Quantise a float latent to n-bit integers.

    ``quantizer="frame"``: over the latent's own min and max (the paper); ``"unit"``: over the
    fixed range [0, 1], clipping what lies outside (the factorized codec).
    """
    check_bits(bits)
    if quantizer not in QUANTIZERS:
        raise ValueError(f"quantizer must be one of {QUANTIZERS}, got {quantizer!r}")
    values = np.asarray(latent, dtype=np.float32)
    if values.size == 0:
        raise ValueError("cannot quantise an empty latent")
    if not np.isfinite(values).all():
        raise ValueError("latent contains NaN or infinity")
    if quantizer == "unit":
        low, high = np.float32(0.0), np.float32(1.0)
    else:
        low, high = np.float32(values.min()), np.float32(values.max())
    levels = np.float32(2**bits - 1)
    if high > low:
        scaled = (values - low) * (levels / (high - low))
        codes = np.floor(scaled + np.float32(0.5))
        np.clip(codes, 0, levels, out=codes)
    else:
        codes = np.zeros_like(values)
    return Quantized(codes.astype(code_dtype(bits)), float(low), float(high), bits)


def int2float(quantized: Quantized) -> np.ndarray:
    """Map n-bit integers back to float32 latents."""
    check_bits(quantized.bits)
    levels = np.float32(2**quantized.bits - 1)
    low, high = np.float32(quantized.low), np.float32(quantized.high)
    return quantized.codes.astype(np.float32) * ((high - low) / levels) + low
