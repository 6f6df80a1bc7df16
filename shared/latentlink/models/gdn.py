"""Generalized divisive normalization (Ballé et al., 2016), the nonlinearity of learned codecs.

GDN computes ``y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)`` per pixel; IGDN multiplies instead. It
Gaussianises the responses of a conv layer far better than ReLU at the same width, which is why
the factorized-prior codecs use it, and it is a 1×1 convolution plus a square root: cheap next to
the 5×5 convolutions around it and exported to ONNX as plain operators.

β and γ must stay positive. They are parametrised as squares of free parameters with a small
floor (``β = b² + ε``, ``γ = |g|²``), which keeps them positive without the hard lower-bound
operator of CompressAI's implementation (written from the paper, not copied).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_BETA_FLOOR = 1e-6


class GDN(nn.Module):
    """GDN over ``channels`` (``inverse=True``: IGDN, the decoder's approximate inverse)."""

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_root = nn.Parameter(torch.ones(channels))
        self.gamma_root = nn.Parameter(torch.eye(channels) * gamma_init**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        beta = self.beta_root.float() ** 2 + _BETA_FLOOR
        gamma = (self.gamma_root.float() ** 2).view(channels, channels, 1, 1)
        norm = F.conv2d(x.float() ** 2, gamma, beta).sqrt()
        out = x.float() * norm if self.inverse else x.float() / norm
        return out.to(x.dtype)
