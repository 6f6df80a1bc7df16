"""Small building blocks shared by the codecs' and the segmenters' architectures."""

from __future__ import annotations

from torch import nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1, *, dilation: int = 1,
            bias: bool = True) -> nn.Conv2d:
    """3×3 convolution with 'same' padding at any dilation (halving the size when ``stride`` is 2).

    ``bias=False`` where a BatchNorm follows, whose shift makes a bias redundant; the choice
    decides the state-dict keys, so it is the caller's to make, per layer.
    """
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=dilation,
                     dilation=dilation, bias=bias)
