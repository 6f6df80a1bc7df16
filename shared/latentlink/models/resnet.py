"""ResNet blocks and a configurable backbone for the segmenters (He et al., CVPR 2016).

Written here rather than imported from torchvision, which cannot be installed beside this torch.
The layout follows torchvision's ``resnet.py``: ``BasicBlock`` and ``Bottleneck`` (stride on the
3×3 conv, "ResNet v1.5"), one ``_make_layer`` builder, and stages described by
:class:`StageSpec`. Dilation and multi-grid follow the dilated ResNets of DeepLab and DGCNet
(Zhang et al., BMVC 2019, official code lxtGH/GALD-DGCNet): the last stages trade stride for
dilation so the output stays at 1/8 of the frame while the receptive field keeps growing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from latentlink.models.layers import conv3x3


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


def conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(conv3x3(in_ch, out_ch, stride, bias=False), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """Two 3×3 convs with an identity (or 1×1 projection) shortcut: ResNet-18/34's block."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (strided/dilated), 1×1 expand ×4: ResNet-50's block."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


Block = type[BasicBlock] | type[Bottleneck]


@dataclass(frozen=True)
class StageSpec:
    """One residual stage: ``blocks`` blocks of width ``planes`` (× the block's expansion)."""

    planes: int
    blocks: int
    stride: int = 1
    dilation: int = 1
    multi_grid: tuple[int, ...] = (1,)
    """Per-block dilation multipliers, cycled (DeepLabv3's multi-grid, used by DGCNet's layer4)."""


class ResNetBackbone(nn.Module):
    """A stem followed by residual stages; returns the last stage and the one before it.

    The second-to-last stage feeds the auxiliary (deep-supervision) head during training, as
    layer3 does in DGCNet. ``stride`` is the output's downsampling relative to the input.
    """

    def __init__(self, block: Block, stem: nn.Module, stem_channels: int, stem_stride: int,
                 stages: Sequence[StageSpec]) -> None:
        super().__init__()
        if len(stages) < 2:
            raise ValueError("a backbone needs at least two stages (the last feeds the head, the "
                             "one before it the auxiliary head)")
        self.stem = stem
        self.inplanes = stem_channels
        self.stages = nn.ModuleList(self._make_layer(block, spec) for spec in stages)
        self.stride = stem_stride
        for spec in stages:
            self.stride *= spec.stride
        self.out_channels = stages[-1].planes * block.expansion
        self.aux_channels = stages[-2].planes * block.expansion

    def _make_layer(self, block: Block, spec: StageSpec) -> nn.Sequential:
        downsample = None
        if spec.stride != 1 or self.inplanes != spec.planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, spec.planes * block.expansion,
                                               spec.stride),
                                       nn.BatchNorm2d(spec.planes * block.expansion))
        grid = spec.multi_grid
        layers = [block(self.inplanes, spec.planes, spec.stride, spec.dilation * grid[0],
                        downsample)]
        self.inplanes = spec.planes * block.expansion
        layers += [block(self.inplanes, spec.planes, dilation=spec.dilation * grid[i % len(grid)])
                   for i in range(1, spec.blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``(aux_features, features)``."""
        x = self.stem(x)
        for stage in self.stages[:-1]:
            x = stage(x)
        return x, self.stages[-1](x)


def deep_stem(in_ch: int, width: int) -> nn.Sequential:
    """The image stem of DGCNet's ResNet: three 3×3 convs (first strided) and a max-pool: 1/4."""
    return nn.Sequential(
        conv_bn_relu(in_ch, width // 2, stride=2),
        conv_bn_relu(width // 2, width // 2),
        conv_bn_relu(width // 2, width),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )
