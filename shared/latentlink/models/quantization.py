"""Differentiable stand-ins for the bitstream's quantisation and entropy coding (training only).

The real, bit-exact path is :mod:`latentlink.codec.quantize` (numpy, shared by edge and cloud).
Here the same float2int / int2float of the paper (eqs. 2 and 4, per-frame min and max) is applied
with a straight-through round, so net_D learns to decode exactly the n-bit values it will receive,
and a soft histogram turns "how many bits would Huffman spend" into a differentiable loss term.
"""

from __future__ import annotations

import math

import torch


def frame_range(latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame minimum δ and maximum Δ over (C, H, W), shaped (B, 1, 1, 1) for broadcasting."""
    flat = latent.detach().flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    high = flat.max(dim=1).values.view(-1, 1, 1, 1)
    return low, high


def simulate_quantization(
    latent: torch.Tensor, bits: int, straight_through: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """float2int followed by int2float, as the receiver will see the latent.

    Returns ``(latent_hat, codes)``: the dequantised latent, and the continuous, not yet rounded
    code values in [0, 2^n - 1] that :func:`soft_entropy_bits` measures. With
    ``straight_through`` the rounding passes gradients unchanged (training); otherwise it is a
    plain round (evaluation). A constant frame (Δ = δ) maps to code 0 and decodes to δ, as in
    the numpy codec.
    """
    levels = float(2**bits - 1)
    latent = latent.float()  # also under bf16 autocast: 255 levels need float32's precision
    low, high = frame_range(latent)
    span = torch.where(high > low, high - low, torch.ones_like(high))
    codes = (latent - low) * (levels / span)
    rounded = torch.floor(codes + 0.5)
    if straight_through:
        rounded = codes + (rounded - codes).detach()
    return rounded * (span / levels) + low, codes


def soft_entropy_bits(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Order-0 entropy, in bits per frame, of the rounded codes, via a soft histogram.

    Each code value is split between its two nearest integer bins (linear interpolation), so the
    histogram and hence the entropy are differentiable in the codes. One histogram per frame,
    pooled over channels, matches a single Huffman table per frame; the Huffman coder's real cost
    is within a few percent of this bound (see BENCHMARKS.md).
    Returns a tensor of shape (B,).
    """
    levels = 2**bits
    batch = codes.shape[0]
    flat = codes.flatten(1).clamp(0, levels - 1)
    lower = flat.detach().floor().clamp(max=levels - 2)
    frac = flat - lower
    index = lower.long()
    hist = torch.zeros(batch, levels, device=codes.device, dtype=flat.dtype)
    hist.scatter_add_(1, index, 1.0 - frac)
    hist.scatter_add_(1, index + 1, frac)
    total = flat.shape[1]
    probs = hist / total
    entropy = -(probs * torch.log2(probs.clamp_min(1e-12))).sum(dim=1)
    return entropy * total


def bits_per_pixel(bits_per_frame: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Rate in bits per original pixel, the unit of the rate term (independent of crop size)."""
    return bits_per_frame / float(height * width)


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak * peak / mse)
