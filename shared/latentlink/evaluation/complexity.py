"""Parameters and multiply-accumulates of every network part, as in the paper's Table I.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix
products; it counts 2 FLOPs per MAC, so MACs = FLOPs / 2) while the model runs on the ``meta``
device: shapes only, no memory and no arithmetic, so even ResNet-50 at 1024×2048 is counted in
a second. Element-wise work (BatchNorm, ReLU, softmax, bilinear upsampling) is not counted, as
is usual for such tables. The segmenters run in eval mode: the auxiliary head is training-only.

Parts, named as in the paper (Fig. 1):

- ``net_C``, ``net_D``: the codec (:mod:`latentlink.models.compressor`) on the frame padded to a
  multiple of 2^(d+1).
- ``net_seg,E``: the image segmenter's stem (deep stem + max-pool), the part the proposed
  pipeline replaces with net_C; ``net_seg,D``: the rest of the image segmenter (residual stages
  and DGCNet head).
- ``net_seg,D'``: the whole latent segmenter (ResNet-sm and DGCNet head).

Each segmenter is also split into ``backbone`` and ``head`` rows. Pipelines sum their parts:
proposed = net_C + net_seg,D′; BL 1 = net_seg,E + net_seg,D; BL 2/3 = net_C + net_D +
net_seg,E + net_seg,D.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from latentlink.models.compressor import LATENT_CHANNELS, Codec, CodecConfig, count_parameters
from latentlink.models.segmenter import SegmenterConfig, build_segmenter


@dataclass(frozen=True)
class PartCost:
    part: str
    params: int
    macs: int


def module_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """MACs of one forward pass, per submodule path ("" is the whole model)."""
    with FlopCounterMode(display=False, depth=None) as counter:
        model(x)
    prefix = type(model).__name__
    macs = {"": counter.get_total_flops() // 2}
    for name, counts in counter.get_flop_counts().items():
        if name.startswith(prefix + "."):
            macs[name.removeprefix(prefix + ".")] = sum(counts.values()) // 2
    return macs


def _part(name: str, model: nn.Module, macs: dict[str, int], path: str = "") -> PartCost:
    module = model.get_submodule(path) if path else model
    return PartCost(name, count_parameters(module), macs.get(path, 0))


def network_costs(height: int, width: int, depth: int = 2, preset: str = "lite",
                  num_classes: int = 11, stem: str = "paper",
                  arch: str = "factorized", synthesis_blocks: int = 0) -> list[PartCost]:
    """Per-part parameters and MACs for one frame of ``height``×``width`` (see module docstring)."""
    factor = 2 ** (depth + 1)
    padded = (math.ceil(height / factor) * factor, math.ceil(width / factor) * factor)
    latent = (padded[0] // factor, padded[1] // factor)
    with torch.device("meta"):
        codec = Codec(CodecConfig(depth=depth, stem=stem, arch=arch,
                                  synthesis_blocks=synthesis_blocks)).eval()
        compressor, decompressor = codec.compressor, codec.decompressor
        latent_seg = build_segmenter(SegmenterConfig(preset, "latent", depth, num_classes)).eval()
        image_seg = build_segmenter(SegmenterConfig(preset, "image", depth, num_classes)).eval()
        frame = torch.empty(1, 3, *padded)
        code = torch.empty(1, LATENT_CHANNELS, *latent)
        image = torch.empty(1, 3, height, width)
    c_macs, d_macs = module_macs(compressor, frame), module_macs(decompressor, code)
    latent_macs, image_macs = module_macs(latent_seg, code), module_macs(image_seg, image)
    stem_cost = _part("net_seg,E", image_seg, image_macs, "backbone.stem")
    image_total = _part("", image_seg, image_macs)
    return [
        _part("net_C", compressor, c_macs),
        _part("net_D", decompressor, d_macs),
        stem_cost,
        PartCost("net_seg,D", image_total.params - stem_cost.params,
                 image_total.macs - stem_cost.macs),
        _part("net_seg backbone", image_seg, image_macs, "backbone"),
        _part("net_seg head", image_seg, image_macs, "head"),
        _part("net_seg,D'", latent_seg, latent_macs),
        _part("net_seg,D' backbone", latent_seg, latent_macs, "backbone"),
        _part("net_seg,D' head", latent_seg, latent_macs, "head"),
    ]


PIPELINES = {
    "proposed (latent)": ("net_C", "net_seg,D'"),
    "BL 1 (image)": ("net_seg,E", "net_seg,D"),
    "BL 2/3 (decoded)": ("net_C", "net_D", "net_seg,E", "net_seg,D"),
}


def pipeline_costs(parts: list[PartCost]) -> list[PartCost]:
    """Totals of the paper's pipelines from :func:`network_costs`' parts."""
    by_name = {p.part: p for p in parts}
    return [PartCost(name, sum(by_name[p].params for p in members),
                     sum(by_name[p].macs for p in members))
            for name, members in PIPELINES.items()]


def costs_report(height: int, width: int, depth: int = 2, preset: str = "lite",
                 num_classes: int = 11, stem: str = "paper", arch: str = "factorized",
                 synthesis_blocks: int = 0) -> dict:
    """Parts and pipelines as a JSON-ready dict."""
    parts = network_costs(height, width, depth, preset, num_classes, stem, arch, synthesis_blocks)
    return {"height": height, "width": width, "depth": depth, "preset": preset, "stem": stem,
            "arch": arch, "synthesis_blocks": synthesis_blocks,
            "parts": [asdict(p) for p in parts],
            "pipelines": [asdict(p) for p in pipeline_costs(parts)]}
