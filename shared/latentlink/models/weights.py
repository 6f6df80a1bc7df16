"""Saving, loading and identifying codec weights.

A weights file is a ``torch.save`` dict ``{"format", "config", "compressor", "decompressor",
"provenance"}``; ``--weights default`` resolves to the files shipped in ``latentlink/weights/``.
The *codec id* names the exact net_C a container was made with: the first 16 hex digits of the
SHA-256 of the configuration and net_C's float32 parameters. Edge and cloud compare ids, never file
names, so a retrained net_C can never be decoded or segmented with the wrong model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from latentlink.models.compressor import Codec, CodecConfig

WEIGHTS_FORMAT = "latentlink-codec/1"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"


class WeightsError(ValueError):
    """A weights file is missing, unreadable or of another format."""


def codec_id(codec: Codec) -> str:
    """Stable identifier of net_C's weights and the bitstream-relevant configuration."""
    digest = hashlib.sha256()
    config = codec.config
    identity = {
        "depth": config.depth,
        "bits": config.bits,
        "stem": config.stem,
        "latent_clamp": config.latent_clamp,
    }
    if config.arch != "paper":  # paper-architecture ids stay what shipped containers carry
        identity["arch"] = config.arch
    digest.update(json.dumps(identity, sort_keys=True).encode())
    for name, tensor in sorted(codec.compressor.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def decoder_id(codec: Codec) -> str:
    """Identifier of net_D's weights. The codec id covers net_C only (it names the latents), and
    net_D can be retrained or grown on the cloud side under the same id (``train-codec
    --freeze-compressor``), which changes every picture and every result measured on them."""
    digest = hashlib.sha256()
    for name, tensor in sorted(codec.decompressor.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def shipped_weights_path(depth: int, bits: int = 8, variant: str = "default") -> Path:
    """Path of a shipped weights file, e.g. ``codec_d2_n8.pt`` or ``codec_d2_n8_paper.pt``."""
    suffix = "" if variant == "default" else f"_{variant}"
    return SHIPPED_DIR / f"codec_d{depth}_n{bits}{suffix}.pt"


def resolve_weights(weights: str | Path, depth: int = 2, bits: int = 8) -> Path:
    """``default`` (or ``default:VARIANT``) → a shipped file; anything else is a path."""
    text = str(weights)
    if text == "default" or text.startswith("default:"):
        variant = text.partition(":")[2] or "default"
        path = shipped_weights_path(depth, bits, variant)
        if not path.is_file():
            shipped = sorted(p.name for p in SHIPPED_DIR.glob("codec_*.pt"))
            raise WeightsError(
                f"no shipped weights for d={depth}, n={bits}, variant {variant!r} "
                f"(shipped: {', '.join(shipped) or 'none'})"
            )
        return path
    path = Path(text)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    return path


def save_codec(codec: Codec, path: Path | str, provenance: dict | None = None) -> None:
    """Write weights (CPU) with their configuration and provenance.

    net_C and the rate model stay float32: net_C's exact values define the codec id and the
    vehicle's ONNX parity. net_D is stored as float16 and loaded back into float32: it only draws
    pictures for people, the rounding moves PSNR by under 0.002 dB (default codec, 10 val
    frames), and it halves the file (the grown default's net_D alone is 8.3 MB in float32).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": WEIGHTS_FORMAT,
            "config": codec.config.to_dict(),
            "compressor": _cpu_state(codec.compressor),
            "decompressor": _cpu_state(codec.decompressor, torch.float16),
            "density": _cpu_state(codec.density) if codec.density is not None else {},
            "provenance": provenance or {},
        },
        path,
    )


def _cpu_state(module: torch.nn.Module,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    return {k: v.detach().to(dtype).cpu() for k, v in module.state_dict().items()}


def read_weights_file(path: Path | str, kind: str, map_location="cpu") -> dict:
    """``torch.load`` (weights only) of a LatentLink weights file, as a dict.

    The weights-only unpickler raises a wide variety of exceptions on a damaged or foreign file
    (IndexError, UnpicklingError, RuntimeError, ...), so any failure to parse becomes one
    ``WeightsError`` naming the file; weights-only loading means no code from the file runs.
    """
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise WeightsError(f"cannot read {kind} weights {path}: {error}") from error
    if not isinstance(blob, dict):
        raise WeightsError(f"{path} is not a LatentLink {kind} weights file")
    return blob


def load_codec(path: Path | str, map_location: str | torch.device = "cpu") -> tuple[Codec, dict]:
    """Rebuild a :class:`Codec` in eval mode from a weights file; returns (codec, provenance)."""
    blob = read_weights_file(path, "codec", map_location)
    if blob.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{path} is not a LatentLink codec weights file ({WEIGHTS_FORMAT})")
    codec = Codec(CodecConfig(**blob["config"]))
    codec.compressor.load_state_dict(blob["compressor"])
    codec.decompressor.load_state_dict(blob["decompressor"])
    if codec.density is not None:
        codec.density.load_state_dict(blob["density"])
    return codec.eval(), dict(blob.get("provenance", {}))
