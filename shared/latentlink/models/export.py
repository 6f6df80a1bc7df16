"""Export net_C to ONNX for the vehicle, with the codec's identity in the model metadata."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from latentlink.codec.onnx_compressor import METADATA_PREFIX
from latentlink.models.compressor import Codec
from latentlink.models.weights import codec_id

MIN_OPSET = 17


def export_compressor(codec: Codec, path: Path, opset: int = MIN_OPSET) -> Path:
    """Write net_C as ONNX with dynamic frame height and width.

    Uses the TorchScript-based exporter: net_C is a plain stack of convolutions, which it handles
    exactly, and it needs no extra dependency (the dynamo exporter would add onnxscript).
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be ≥ {MIN_OPSET}, got {opset}")
    compressor = codec.compressor.float().cpu().eval()
    factor = codec.config.downsampling
    dummy = torch.rand(1, 3, 4 * factor, 6 * factor)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            compressor,
            (dummy,),
            str(path),
            input_names=["frame"],
            output_names=["latent"],
            dynamic_axes={
                "frame": {2: "height", 3: "width"},
                "latent": {2: "latent_height", 3: "latent_width"},
            },
            opset_version=opset,
            dynamo=False,
        )
    model = onnx.load(str(path))
    metadata = {
        "codec_id": codec_id(codec),
        "depth": codec.config.depth,
        "bits": codec.config.bits,
        "stem": codec.config.stem,
        "arch": codec.config.arch,
        "quantizer": codec.config.quantizer,
    }
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, str(value)
    model.producer_name = "latentlink"
    onnx.save(model, str(path))
    return path
