"""The factorized codec's net_C and net_D (issue 10): GDN transforms with learned channel gains.

Why this shape, from the measurements in issue 10 and docs/codec.md:

- net_C is three 5×5 stride-2 convolutions (d + 1 in general) with GDN between them, after
  Ballé et al. (2018). GDN makes narrow layers expressive, so net_C fits the vehicle's budget
  (≈3.4 GMAC at 480×360 for d = 2 against the paper stem's 4.4) with no full-resolution stage.
- Its output passes a learned per-channel gain and is centred in the n-bit alphabet:
  ``u = (2^(n−1) + g_c · y_c) / (2^n − 1)``, so float2int over the fixed range [0, 1] (the
  ``unit`` quantiser) gives codes with a trained, per-channel step. Nothing clamps during
  training: the rate model charges values outside the alphabet instead.
- net_D runs on the cloud only (pictures for people), so it gets the capacity: residual blocks
  at the two coarsest scales, IGDN after each sub-pixel upsampling, and a learned inverse gain
  per channel at its input.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from latentlink.codec.frames import LATENT_CHANNELS
from latentlink.models.gdn import GDN
from latentlink.models.layers import conv3x3

ANALYSIS_WIDTH = 96
SYNTHESIS_WIDTHS = (128, 96, 64, 48)
"""net_D's channels at 1/2^(d+1), then after each upsampling (coarse to fine)."""
INITIAL_GAIN = 8.0
"""Initial code units per unit of net_C's raw output: spreads a fresh model over ~±10 codes."""


def conv5x5_down(in_ch: int, out_ch: int) -> nn.Conv2d:
    """5×5 stride-2 convolution ('same' padding): the analysis transform's only downsampling."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=5, stride=2, padding=2)


def code_centre(bits: int) -> int:
    """The integer code that a zero latent maps to (the middle of the n-bit alphabet)."""
    return 2 ** (bits - 1)


SEGMENTER_CODE_UNITS = 16
"""Codes per unit of segmenter input: ±a few tens of codes become ±a few units."""


def segmenter_input_affine(arch: str, bits: int) -> tuple[float, float]:
    """(offset, scale) that turn int2float values into centred code units for a segmenter.

    Factorized latents are ``u = code / (2^n − 1)`` with codes a few steps around 2^(n−1):
    centred and scaled, they are small multiples of 1/16, exact in bf16. The paper
    architecture's latents span [0, 1] and need nothing.
    """
    if arch != "factorized":
        return 0.0, 1.0
    levels = 2**bits - 1
    return code_centre(bits) / levels, levels / SEGMENTER_CODE_UNITS


class FactorizedCompressor(nn.Module):
    """net_C: RGB in [0, 1] → 16 channels u in nominal [0, 1] at 1/2^(d+1) resolution."""

    def __init__(self, depth: int, bits: int, width: int = ANALYSIS_WIDTH) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv5x5_down(3, width), GDN(width)]
        for _ in range(depth - 1):
            layers += [conv5x5_down(width, width), GDN(width)]
        layers.append(conv5x5_down(width, LATENT_CHANNELS))
        self.analysis = nn.Sequential(*layers)
        self.log_gain = nn.Parameter(torch.full((LATENT_CHANNELS,), math.log(INITIAL_GAIN)))
        self.levels = 2**bits
        self.centre = code_centre(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.analysis(x).float()
        codes = self.centre + y * self.log_gain.exp().view(1, -1, 1, 1)
        return codes / (self.levels - 1)


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))): depth for net_D at the coarse scales, where it is cheap.

    ``identity_init`` zeroes the second conv, so the block starts as the identity: a trained
    net_D grown by such blocks decodes exactly as before and training only adds to it.
    """

    def __init__(self, channels: int, identity_init: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(channels, channels), nn.ReLU(inplace=True), conv3x3(channels, channels)
        )
        if identity_init:
            nn.init.zeros_(self.body[2].weight)
            nn.init.zeros_(self.body[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def upsample(in_ch: int, out_ch: int) -> nn.Sequential:
    """Sub-pixel ×2 upsampling: conv to 4·out channels, then PixelShuffle(2)."""
    return nn.Sequential(conv3x3(in_ch, 4 * out_ch), nn.PixelShuffle(2))


class FactorizedDecompressor(nn.Module):
    """net_D: int2float codes u (16 channels) → RGB at 2^(d+1) times the latent's resolution.

    ``extra_blocks`` more residual blocks follow the block at each of the two coarsest scales.
    They live in ``self.extra`` (keyed by the index of the layer they follow), not inside
    ``self.synthesis``, so the weights of a codec trained without them load unchanged and the
    codec can grow on the cloud side (``train-codec --freeze-compressor --synthesis-blocks``)
    while net_C, its codec id and every stored latent stay as they are.

    As in the paper-recipe net_D, the output is clamped to [0, 1] only in eval mode.
    """

    def __init__(self, depth: int, bits: int, extra_blocks: int = 0) -> None:
        super().__init__()
        self.levels = 2**bits
        self.centre = code_centre(bits)
        self.log_inverse_gain = nn.Parameter(
            torch.full((LATENT_CHANNELS,), -math.log(INITIAL_GAIN))
        )
        widths = SYNTHESIS_WIDTHS[: depth + 1]
        layers: list[nn.Module] = [
            conv3x3(LATENT_CHANNELS, widths[0]),
            nn.ReLU(inplace=True),
            ResidualBlock(widths[0]),
        ]
        for index, (in_ch, out_ch) in enumerate(itertools.pairwise(widths)):
            layers += [upsample(in_ch, out_ch), GDN(out_ch, inverse=True)]
            if index == 0:  # one more block at the second-coarsest scale; finer ones cost more
                layers.append(ResidualBlock(out_ch))
        layers.append(upsample(widths[-1], 3))
        self.synthesis = nn.Sequential(*layers)
        coarse_blocks = [i for i, layer in enumerate(layers) if isinstance(layer, ResidualBlock)]
        self.extra = nn.ModuleDict({
            str(i): nn.Sequential(*(ResidualBlock(layers[i].body[0].in_channels, identity_init=True)
                                    for _ in range(extra_blocks)))
            for i in coarse_blocks if extra_blocks
        })

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        y = (u.float() * (self.levels - 1) - self.centre) * self.log_inverse_gain.exp().view(
            1, -1, 1, 1
        )
        x = y.to(u.dtype)
        for index, layer in enumerate(self.synthesis):
            x = layer(x)
            if str(index) in self.extra:
                x = self.extra[str(index)](x)
        return x if self.training else x.clamp(0.0, 1.0)

