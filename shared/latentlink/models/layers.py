"""Small building blocks shared by the codec's architectures."""

from __future__ import annotations

from torch import nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution with 'same' padding (halving the size when ``stride`` is 2)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1)
