"""The segmenters: net_seg on RGB frames and net_seg,D′ on net_C's latents (no decompression).

Kakaiya et al., "Exploiting Richness of Learned Compressed Representation of Images for Semantic
Segmentation" (Sec. II-B, Fig. 4): both are DGCNet (Zhang et al., BMVC 2019; see
:mod:`latentlink.models.dgcnet`) on a ResNet backbone (:mod:`latentlink.models.resnet`).

- ``input_kind="image"`` (net_seg, also for decoded and JPEG frames): DGCNet's dilated ResNet
  (deep stem, output stride 8).
- ``input_kind="latent"`` (net_seg,D′): "ResNet-sm", one conv taking the 16 latent channels and
  two residual stages. The latent already sits at 1/2^(d+1) of the frame, so ResNet-sm adds no
  stride at d = 2 (output 1/8, the image model's output stride) and d = 3 (output 1/16: striding
  never goes backwards, and a 1/16 head is 4× cheaper); at d = 1 (latent at 1/4) its first conv
  has stride 2 to reach 1/8. This departs from the paper's Table I, whose d = 1 FLOPs (4× those
  at d = 2) imply the head ran at 1/4: stride 8 makes d = 1 as cheap as d = 2 and keeps the
  head's receptive field, in frame pixels, the same as the image model's.

Two presets, factory functions over :class:`Segmenter` as torchvision does for ResNets:

- ``paper``: the paper's scale. Image: ResNet-50 (Bottleneck [3, 4, 6, 3], deep stem 64-64-128,
  layer3/4 dilated 2/4 with multi-grid (1, 2, 4)). Latent: a 3×3 conv 16→512, then ResNet-50's
  layer3 and layer4 (the stages that run at 1/8 in the dilated image model). Head width 512.
  GPU-scale: 53.5 M parameters (image) and 52.0 M (latent); the paper reports 53.4 M.
- ``lite``: 1.4 M parameters, sized to train on two CPU cores in under an hour on CamVid.
  BasicBlocks, widths 64/128 at 1/8, head width 128; the image variant adds a 16-16-32 deep stem
  and a 32-wide stage at 1/4 before the same two stages (so both see the same 1/8 network).

Neither backbone is ImageNet-pretrained (DGCNet's is): no pretrained weights of these shapes
exist for latents, and the image baselines must be trained the same way to be comparable.

Forward returns a dict, as torchvision's segmentation models do: ``"out"`` holds logits at the
backbone's resolution (1/``output_stride`` of the frame), and in training mode ``"aux"`` holds the
auxiliary head's logits. Upsampling to the label size happens in the loss and in
:func:`predict_labels`, where it is cheapest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latentlink.models.compressor import LATENT_CHANNELS
from latentlink.models.dgcnet import AuxHead, DualGCNHead
from latentlink.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNetBackbone,
    StageSpec,
    conv_bn_relu,
    deep_stem,
)

PRESETS = ("lite", "paper")
INPUT_KINDS = ("latent", "image")


@dataclass(frozen=True)
class SegmenterConfig:
    """Everything that fixes the shape of a segmenter's weights."""

    preset: str = "lite"
    """``lite`` (CPU-scale) or ``paper`` (ResNet-50 widths, GPU-scale)."""
    input_kind: str = "latent"
    """``latent``: 16-channel net_C latents after int2float; ``image``: RGB in [0, 1]."""
    depth: int = 2
    """Codec digest units d (latent input only): the latent is at 1/2^(d+1) of the frame."""
    num_classes: int = 11
    input_offset: float = 0.0
    input_scale: float = 1.0
    """``(x − input_offset) · input_scale`` in float32 before the first convolution. The factorized
    codec's int2float values sit near 0.5 with a spread of a few 1/255 steps, which bf16
    convolutions would round away; its segmenters centre them on integer-sized values
    (:func:`latentlink.models.factorized.segmenter_input_affine`). Identity for other inputs."""

    input_norm: bool = False
    """Latent input only: a BatchNorm over the 16 latent channels before the first conv. The
    default codec's channels differ 26× in spread (standard deviation 0.2–5.2 code steps on
    CamVid train) and their means sit up to 4 steps off the centre, so after one scalar affine the
    first conv sees mostly constant offsets and one loud channel, and the quiet channels start
    with gradients ~26× smaller; per-channel statistics put every channel on the same footing."""

    extra_blocks: int = 0
    """Latent input only: residual blocks added to ResNet-sm's first stage (0 = the paper's
    shape). The latent model skips the image model's full-resolution stem and 1/4 stage; two
    extra lite blocks spend that budget at 1/8 instead (≈4.0 GMAC per 480×360 frame at d = 2,
    as the image model)."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {', '.join(INPUT_KINDS)}, "
                             f"got {self.input_kind!r}")
        if self.depth not in (1, 2, 3):
            raise ValueError(f"depth must be 1, 2 or 3, got {self.depth}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.extra_blocks < 0 or (self.extra_blocks and self.input_kind != "latent"):
            raise ValueError("extra_blocks must be ≥ 0, and 0 for image input, got "
                             f"{self.extra_blocks} for {self.input_kind} input")

    @property
    def input_stride(self) -> int:
        """Frame pixels per input pixel: 2^(d+1) for latents, 1 for images."""
        return 2 ** (self.depth + 1) if self.input_kind == "latent" else 1

    def to_dict(self) -> dict:
        return asdict(self)


class Segmenter(nn.Module):
    """Backbone → DGCNet head, plus the auxiliary head used for deep supervision in training."""

    def __init__(self, backbone: ResNetBackbone, head_width: int, aux_width: int, num_classes: int,
                 input_stride: int) -> None:
        super().__init__()
        self.input_offset, self.input_scale = 0.0, 1.0
        self.backbone = backbone
        self.head = DualGCNHead(backbone.out_channels, head_width, num_classes)
        self.aux_head = AuxHead(backbone.aux_channels, aux_width, num_classes)
        self.input_stride = input_stride
        """Frame pixels per input pixel (2^(d+1) for latents, 1 for images)."""

    @property
    def output_stride(self) -> int:
        """Frame pixels per logit pixel."""
        return self.input_stride * self.backbone.stride

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if (self.input_offset, self.input_scale) != (0.0, 1.0):
            x = (x.float() - self.input_offset) * self.input_scale
        aux_features, features = self.backbone(x)
        out = {"out": self.head(features)}
        if self.training:
            out["aux"] = self.aux_head(aux_features)
        return out


def latent_stem_stride(depth: int) -> int:
    """Stride of ResNet-sm's first conv: 2 at d = 1 (1/4 → 1/8), else 1 (see module docstring)."""
    return 2 if depth == 1 else 1


def latent_stem(out_channels: int, depth: int, input_norm: bool) -> nn.Sequential:
    """ResNet-sm's first conv over the latent channels, optionally after a per-channel BatchNorm."""
    stem = conv_bn_relu(LATENT_CHANNELS, out_channels, latent_stem_stride(depth))
    return nn.Sequential(nn.BatchNorm2d(LATENT_CHANNELS), *stem) if input_norm else stem


def segmenter_lite(input_kind: str = "latent", depth: int = 2, num_classes: int = 11,
                   input_norm: bool = False, extra_blocks: int = 0) -> Segmenter:
    """The CPU-scale preset: 1.4 M parameters, ≈3.6 GMACs per 480×360 frame at d = 2."""
    tail = [StageSpec(64, 2 + extra_blocks), StageSpec(128, 2, dilation=2)]
    if input_kind == "latent":
        backbone = ResNetBackbone(BasicBlock, latent_stem(64, depth, input_norm), 64,
                                  latent_stem_stride(depth), tail)
        input_stride = 2 ** (depth + 1)
    else:
        stages = [StageSpec(32, 1), StageSpec(64, 2, stride=2), tail[1]]
        backbone = ResNetBackbone(BasicBlock, deep_stem(3, 32), 32, 4, stages)
        input_stride = 1
    return Segmenter(backbone, head_width=128, aux_width=64, num_classes=num_classes,
                     input_stride=input_stride)


def segmenter_paper(input_kind: str = "latent", depth: int = 2, num_classes: int = 11,
                    input_norm: bool = False, extra_blocks: int = 0) -> Segmenter:
    """The paper's scale: ResNet-50 widths and DGCNet's 512-wide head."""
    layer3 = StageSpec(256, 6 + extra_blocks, dilation=2)
    layer4 = StageSpec(512, 3, dilation=4, multi_grid=(1, 2, 4))
    if input_kind == "latent":
        backbone = ResNetBackbone(Bottleneck, latent_stem(512, depth, input_norm), 512,
                                  latent_stem_stride(depth), [layer3, layer4])
        input_stride = 2 ** (depth + 1)
    else:
        stages = [StageSpec(64, 3), StageSpec(128, 4, stride=2), layer3, layer4]
        backbone = ResNetBackbone(Bottleneck, deep_stem(3, 128), 128, 4, stages)
        input_stride = 1
    return Segmenter(backbone, head_width=512, aux_width=512, num_classes=num_classes,
                     input_stride=input_stride)


_FACTORIES = {"lite": segmenter_lite, "paper": segmenter_paper}


def build_segmenter(config: SegmenterConfig) -> nn.Module:
    """A freshly initialised :class:`Segmenter` for ``config``, in training mode."""
    model = _FACTORIES[config.preset](config.input_kind, config.depth, config.num_classes,
                                      config.input_norm, config.extra_blocks)
    model.input_offset, model.input_scale = config.input_offset, config.input_scale
    return model


@torch.no_grad()
def predict_labels(model: nn.Module, x: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Class ids (int64 B×H×W) for a batch of latents (B×16×h×w) or images (B×3×H×W).

    The logits are bilinearly upsampled (``align_corners=False``) to the *padded* frame the
    input covers, (h·s, w·s) with s = ``model.input_stride`` (2^(d+1) for latents, 1 for images),
    then cropped top-left to ``out_size``: :func:`latentlink.codec.frames.pad_to_multiple` pads
    at the bottom/right, so the original frame is the top-left of the padded one and every
    output pixel is sampled at its true position. The model runs in eval mode; its previous
    mode is restored afterwards.
    """
    stride = model.input_stride
    padded = (x.shape[-2] * stride, x.shape[-1] * stride)
    height, width = out_size
    if not (0 < height <= padded[0] and 0 < width <= padded[1]):
        raise ValueError(f"output size {height}×{width} does not fit in the "
                         f"{padded[0]}×{padded[1]} frame that a {x.shape[-2]}×{x.shape[-1]} "
                         "input covers")
    was_training = model.training
    model.eval()
    try:
        logits = model(x)["out"]
    finally:
        model.train(was_training)
    logits = F.interpolate(logits.float(), size=padded, mode="bilinear", align_corners=False)
    return logits[..., :height, :width].argmax(dim=1)
