"""The DGCNet segmentation head: a dual graph convolution over coordinate and feature space.

Zhang, Li, Arnab, Yang, Tong, Torr, "Dual Graph Convolutional Network for Semantic
Segmentation", BMVC 2019 (https://arxiv.org/abs/1909.06121); the official code is
lxtGH/GALD-DGCNet (``DualGCNHead``, ``DualGCN``, ``SpatialGCN``). Kakaiya et al. use it as the
segmenter on images and on learned latents alike. Written anew here with the same structure:

- :class:`CoordinateGCN` reasons over *pixels*: the feature map is shrunk 8× by three depthwise
  stride-2 convs (so the graph has few nodes), a graph convolution with a softmax-normalised
  data-dependent adjacency (every pixel a node) updates it, and the result, upsampled, reweights
  the input (``x · local + x``). The official code builds a channel×channel affinity at this
  step; we follow the paper's text (nodes are spatial positions), which costs (hw/64)² — small.
- :class:`FeatureGCN` reasons over a few *projected* nodes (GloRe-style): pixels are projected
  onto ``C/ratio`` nodes, a graph convolution with the Laplacian-smoothed adjacency
  ``(I − A_g) Z`` and a state update ``W_g`` mixes them, and they are re-projected to pixels.
- :class:`DualGCN` fuses both by concatenation and a 1×1 conv; :class:`DualGCNHead` wraps it
  between 3×3 convs, concatenates the head's input, and classifies.
- :class:`AuxHead` is the deep-supervision classifier on the previous stage (weight 0.4 in
  DGCNet's training), used in training only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentlink.models.resnet import conv1x1, conv_bn_relu


class CoordinateGCN(nn.Module):
    """Graph convolution over the pixels of an 8× downsampled map; returns a reweighted input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inter = channels // 2
        self.down = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(channels, channels, 3, stride=2, padding=1, groups=channels,
                                    bias=False), nn.BatchNorm2d(channels))
            for _ in range(3)
        ))
        self.query = nn.Conv2d(channels, inter, 1)
        self.key = nn.Conv2d(channels, inter, 1)
        self.value = nn.Conv2d(channels, inter, 1)
        self.weight = nn.Sequential(nn.Conv1d(inter, inter, 1, bias=False), nn.BatchNorm1d(inter))
        self.out = nn.Sequential(conv1x1(inter, channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = self.down(x)
        batch, _, height, width = small.shape
        query = self.query(small).flatten(2)                     # B×C'×N
        key = self.key(small).flatten(2)                         # B×C'×N
        value = self.value(small).flatten(2)                     # B×C'×N
        adjacency = torch.softmax(query.transpose(1, 2) @ key, dim=-1)   # B×N×N, rows sum to 1
        nodes = self.weight(value @ adjacency.transpose(1, 2))   # A·V, then W: B×C'×N
        local = F.relu(self.out(nodes.view(batch, -1, height, width)) + small)
        local = F.interpolate(local, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * local + x


class FeatureGCN(nn.Module):
    """Graph convolution over ``channels / ratio`` nodes projected from all pixels."""

    def __init__(self, channels: int, ratio: int = 4) -> None:
        super().__init__()
        nodes, state = channels // ratio, channels // ratio * 2
        self.state = nn.Sequential(conv1x1(channels, state), nn.BatchNorm2d(state))
        self.projection = nn.Sequential(conv1x1(channels, nodes), nn.BatchNorm2d(nodes))
        self.adjacency = nn.Sequential(nn.Conv1d(nodes, nodes, 1, bias=False),
                                       nn.BatchNorm1d(nodes))
        self.update = nn.Sequential(nn.Conv1d(state, state, 1, bias=False), nn.BatchNorm1d(state))
        self.out = nn.Sequential(conv1x1(state, channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        state = self.state(x).flatten(2)                         # B×S×L
        projection = self.projection(x).flatten(2)               # B×N×L
        z = state @ projection.transpose(1, 2)                   # B×S×N: node features
        # Laplacian smoothing (I − A_g)Z, with −A_g learnt as a 1×1 conv across the nodes.
        z = z + self.adjacency(z.transpose(1, 2)).transpose(1, 2)
        z = self.update(z)                                       # state update W_g
        y = (z @ projection).view(batch, -1, height, width)      # re-project onto the pixels
        return F.relu(x + self.out(y))


class DualGCN(nn.Module):
    """Both graph reasonings on the same features, fused by concatenation and a 1×1 conv."""

    def __init__(self, channels: int, ratio: int = 4) -> None:
        super().__init__()
        self.coordinate = CoordinateGCN(channels)
        self.feature = FeatureGCN(channels, ratio)
        self.fuse = nn.Sequential(conv1x1(2 * channels, channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.coordinate(x), self.feature(x)], dim=1))


class DualGCNHead(nn.Module):
    """conv → DualGCN → conv, concatenated with the head's input, → conv → classifier."""

    def __init__(self, in_channels: int, width: int, num_classes: int,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.reduce = conv_bn_relu(in_channels, width)
        self.dualgcn = DualGCN(width)
        self.post = conv_bn_relu(width, width)
        self.bottleneck = conv_bn_relu(in_channels + width, width)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.post(self.dualgcn(self.reduce(x)))
        return self.classifier(self.dropout(self.bottleneck(torch.cat([x, context], dim=1))))


class AuxHead(nn.Module):
    """Deep-supervision classifier on an earlier stage (DGCNet's ``dsn``); training only."""

    def __init__(self, in_channels: int, width: int, num_classes: int,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.block = nn.Sequential(*conv_bn_relu(in_channels, width), nn.Dropout2d(dropout))
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block(x))
