"""The learned compression engine: compressor net_C and decompressor net_D.

Two architectures share the system's contract (16 latent channels at 1/2^(d+1) resolution,
n-bit integer codes, Huffman): ``paper``, the authors' engine described below, kept for the
paper's experiments; and ``factorized`` (:mod:`latentlink.models.factorized`), the default since
issue 10, which beats JPEG at the same compression factor.

Architecture from the high-density compression engines of Raj et al., "Designing deep neural
high-density compression engines for radiology images", Circuits, Systems, and Signal Processing,
2022, as used for driving frames by Kakaiya et al., "Exploiting Richness of Learned Compressed
Representation of Images for Semantic Segmentation" (the paper this project implements).
The authors' code (openvinotoolkit/training_extensions, radiology_compression) works on one grey
channel; here the input and output are RGB.

net_C turns a 3×H×W frame in [0, 1] into 16 latent channels at H/2^(d+1) × W/2^(d+1), where d is
the number of "digest units". net_D mirrors it with sub-pixel (PixelShuffle) upsampling.

Two stems are offered for net_C:

- ``paper``: conv3x3 3→64 at full resolution, then a stride-2 conv3x3 64→64. Faithful, but the
  full-resolution 64-channel activation makes it the costliest part on a vehicle CPU.
- ``edge``: a single stride-2 conv3x3 3→64. Same latent shape, same digest units, roughly half the
  MACs and far less memory traffic (see BENCHMARKS.md for the side-by-side measurement).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from latentlink.codec.frames import LATENT_CHANNELS
from latentlink.models.entropy_model import ChannelDensity, quantize_codes
from latentlink.models.factorized import FactorizedCompressor, FactorizedDecompressor
from latentlink.models.layers import conv3x3
from latentlink.models.quantization import simulate_quantization

WIDTH = 64

Stem = Literal["paper", "edge"]
Arch = Literal["paper", "factorized"]
Quantizer = Literal["frame", "unit"]


def digest_unit(width: int = WIDTH) -> nn.Sequential:
    """One digest unit: a feature conv, then a stride-2 conv that halves the resolution."""
    return nn.Sequential(
        conv3x3(width, width),
        nn.ReLU(inplace=True),
        conv3x3(width, width, stride=2),
        nn.ReLU(inplace=True),
    )


def upsample_unit(width: int = WIDTH) -> nn.Sequential:
    """One net_D unit: expand channels ×4, then PixelShuffle(2) trades them for resolution."""
    return nn.Sequential(
        conv3x3(width, 4 * width),
        nn.ReLU(inplace=True),
        nn.PixelShuffle(2),
    )


@dataclass(frozen=True)
class CodecConfig:
    """Everything that fixes the shape of a codec's weights and its bitstream."""

    depth: int = 2
    """Number of digest units d; the latent is at 1/2^(d+1) of the frame's resolution."""
    bits: int = 8
    """Quantisation bit length n used by float2int."""
    stem: Stem = "paper"
    """Which net_C stem (see the module docstring)."""
    latent_clamp: bool = True
    """Clamp net_C's output to [0, 1] as the authors' code does (``paper`` architecture)."""
    arch: Arch = "paper"
    """``paper`` (the authors' net_C/net_D) or ``factorized`` (GDN, learned per-channel rate)."""
    synthesis_blocks: int = 0
    """Extra residual blocks at each of the factorized net_D's two coarsest scales (cloud-side
    capacity; net_C and the codec id do not depend on it)."""

    def __post_init__(self) -> None:
        if self.depth not in (1, 2, 3):
            raise ValueError(f"depth must be 1, 2 or 3, got {self.depth}")
        if not 1 <= self.bits <= 16:
            raise ValueError(f"bits must be in 1..16, got {self.bits}")
        if self.stem not in ("paper", "edge"):
            raise ValueError(f"stem must be 'paper' or 'edge', got {self.stem!r}")
        if self.arch not in ("paper", "factorized"):
            raise ValueError(f"arch must be 'paper' or 'factorized', got {self.arch!r}")
        if self.synthesis_blocks < 0 or (self.synthesis_blocks and self.arch != "factorized"):
            raise ValueError("synthesis_blocks must be ≥ 0, and 0 for the paper architecture; "
                             f"got {self.synthesis_blocks} for arch {self.arch!r}")

    @property
    def quantizer(self) -> Quantizer:
        """How float2int picks its range: ``frame`` = the frame's own min and max (the paper's
        eq. 2), ``unit`` = the fixed range [0, 1] (net_C already applies learned per-channel
        gains, so the step is part of the trained model and needs no header fields)."""
        return "unit" if self.arch == "factorized" else "frame"

    @property
    def downsampling(self) -> int:
        """Factor by which each spatial side shrinks from frame to latent: 2^(d+1)."""
        return 2 ** (self.depth + 1)

    def to_dict(self) -> dict:
        return asdict(self)


class Compressor(nn.Module):
    """net_C: RGB frame in [0, 1] → 16 latent channels at 1/2^(d+1) resolution."""

    def __init__(self, depth: int = 2, stem: Stem = "paper", latent_clamp: bool = True) -> None:
        super().__init__()
        if stem == "paper":
            stem_layers: list[nn.Module] = [
                conv3x3(3, WIDTH),
                nn.ReLU(inplace=True),
                conv3x3(WIDTH, WIDTH, stride=2),
                nn.ReLU(inplace=True),
            ]
        else:
            stem_layers = [conv3x3(3, WIDTH, stride=2), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*stem_layers)
        self.digest = nn.Sequential(*(digest_unit() for _ in range(depth)))
        self.head = conv3x3(WIDTH, LATENT_CHANNELS)
        self.latent_clamp = latent_clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.digest(self.stem(x)))
        return y.clamp(0.0, 1.0) if self.latent_clamp else y


class Decompressor(nn.Module):
    """net_D: 16 latent channels → RGB frame at 2^(d+1) times the latent's resolution.

    The output is clamped to [0, 1] only in eval mode: during training a clamp (or a sigmoid)
    starves saturated pixels of gradient, which the CPU prototype saw stall or collapse training.
    """

    def __init__(self, depth: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv3x3(LATENT_CHANNELS, WIDTH), nn.ReLU(inplace=True))
        self.upsample = nn.Sequential(*(upsample_unit() for _ in range(depth)))
        self.head = nn.Sequential(conv3x3(WIDTH, 3 * 4), nn.PixelShuffle(2))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.head(self.upsample(self.stem(latent)))
        return x if self.training else x.clamp(0.0, 1.0)


class Codec(nn.Module):
    """net_C and net_D together, with the quantisation of the bitstream simulated in between.

    ``forward`` returns the float latent (net_C's output, what float2int receives), the
    continuous code values in [0, 2^n − 1], the reconstruction, and — for the factorized
    architecture — ``rate_bits``, the learned density's estimate of each frame's bits.
    """

    def __init__(self, config: CodecConfig) -> None:
        super().__init__()
        self.config = config
        self.density: ChannelDensity | None
        if config.arch == "factorized":
            self.compressor = FactorizedCompressor(config.depth, config.bits)
            self.decompressor = FactorizedDecompressor(config.depth, config.bits,
                                                       config.synthesis_blocks)
            self.density = ChannelDensity(LATENT_CHANNELS, config.bits)
        else:
            self.compressor = Compressor(config.depth, config.stem, config.latent_clamp)
            self.decompressor = Decompressor(config.depth)
            self.density = None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        latent = self.compressor(x)
        if self.density is None:
            latent_hat, codes = simulate_quantization(latent, self.config.bits, self.training)
            return {"latent": latent, "codes": codes, "x_hat": self.decompressor(latent_hat)}
        levels = 2**self.config.bits
        codes = latent.float() * (levels - 1)
        rounded = quantize_codes(codes, levels, self.training)
        # Training charges the rate of codes + uniform noise (differentiable); evaluation the
        # rate of the integers the coder really sends.
        priced = codes + torch.empty_like(codes).uniform_(-0.5, 0.5) if self.training else rounded
        rate = self.density.bits(priced)
        x_hat = self.decompressor(rounded / (levels - 1))
        return {"latent": latent, "codes": codes, "x_hat": x_hat, "rate_bits": rate}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
