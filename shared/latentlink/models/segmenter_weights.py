"""Saving, loading and vetting segmenter weights.

A weights file is a ``torch.save`` dict ``{"format", "config", "state_dict", "codec_id",
"class_names", "provenance"}`` with float32 CPU tensors. A latent segmenter (net_seg,D′) is only
meaningful for the one net_C whose latents it was trained on, so its file records that codec's
id (:func:`latentlink.models.weights.codec_id`) and :func:`check_codec` refuses any other: ids
are compared, never file names. Image segmenters record no codec id (the codec of decoded
training frames, if any, goes in the provenance).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from latentlink.models.segmenter import SegmenterConfig, build_segmenter
from latentlink.models.weights import SHIPPED_DIR, WeightsError, read_weights_file
from latentlink.training.seg_config import CLASS_WEIGHTINGS

SEGMENTER_FORMAT = "latentlink-segmenter/1"
DEFAULT_SEGMENTER = "seg_lite_d2_n8.pt"
_CODEC_ID = re.compile(r"^[0-9a-f]{16}$")


class SegmenterWeightsError(ValueError):
    """A segmenter weights file is missing, unreadable, of another format or for another codec."""


def resolve_segmenter_weights(weights: str | Path) -> Path:
    """``default`` → the shipped ``seg_lite_d2_n8.pt``, ``default:VARIANT`` → the shipped
    ``seg_lite_d2_n8_VARIANT.pt`` (e.g. ``default:clamp``, for the codec shipped before issue 10);
    anything else is a path."""
    text = str(weights)
    shipped = text == "default" or text.startswith("default:")
    if shipped:
        variant = text.partition(":")[2]
        name = DEFAULT_SEGMENTER.replace(".pt", f"_{variant}.pt") if variant else DEFAULT_SEGMENTER
        path = SHIPPED_DIR / name
    else:
        path = Path(text)
    if not path.is_file():
        if shipped:
            raise SegmenterWeightsError(
                f"no shipped segmenter weights: {path} has not been trained yet; train one with "
                "`latentlink train-seg ... --export` and pass --weights PATH")
        raise SegmenterWeightsError(f"segmenter weights file {path} does not exist")
    return path


def save_segmenter(model: nn.Module, config: SegmenterConfig, path: Path, *, codec_id: str | None,
                   class_names: tuple[str, ...], provenance: dict) -> None:
    """Write weights (float32, CPU) with the configuration, the codec id and the class names."""
    if config.input_kind == "latent" and (codec_id is None or not _CODEC_ID.match(codec_id)):
        raise ValueError("a latent segmenter needs the 16-hex-digit id of its codec, "
                         f"got {codec_id!r}")
    if config.input_kind == "image" and codec_id is not None:
        raise ValueError("an image segmenter takes no codec id (record the codec in provenance)")
    if len(class_names) != config.num_classes:
        raise ValueError(f"{len(class_names)} class names for {config.num_classes} classes")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "format": SEGMENTER_FORMAT,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().float().cpu() for k, v in model.state_dict().items()},
        "codec_id": codec_id,
        "class_names": list(class_names),
        "provenance": provenance,
    }, path)


def load_segmenter(path: Path | str, map_location: str | torch.device = "cpu"
                   ) -> tuple[nn.Module, SegmenterConfig, dict]:
    """Rebuild a segmenter in eval mode; returns ``(model, config, meta)``.

    ``meta`` holds ``codec_id`` (None for image segmenters), ``class_names`` and ``provenance``.
    """
    path = Path(path)
    if not path.is_file():
        raise SegmenterWeightsError(f"segmenter weights file {path} does not exist")
    try:
        blob = read_weights_file(path, "segmenter", map_location)
    except WeightsError as error:
        raise SegmenterWeightsError(str(error)) from error
    if blob.get("format") != SEGMENTER_FORMAT:
        raise SegmenterWeightsError(
            f"{path} is not a LatentLink segmenter weights file ({SEGMENTER_FORMAT})")
    try:
        config = SegmenterConfig(**blob["config"])
        model = build_segmenter(config)
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise SegmenterWeightsError(
            f"{path} holds inconsistent segmenter weights: {error}") from error
    meta = {"codec_id": blob.get("codec_id"), "class_names": tuple(blob.get("class_names", ())),
            "provenance": dict(blob.get("provenance", {}))}
    return model.to(map_location).eval(), config, meta


def trained_class_weighting(provenance: dict) -> str:
    """The loss weighting by class a segmenter file was trained with, from its provenance.

    ``train-seg --export`` records its knobs under ``trained_with`` and a fine-tuning job its
    hyperparameters under ``hyperparameters``; a file with neither (or a name this version does
    not know) was trained unweighted as far as anyone can tell, so ``"none"``. Fine-tuning
    continues a model's own weighting by default: the shipped segmenter, trained with
    sqrt-median-frequency weights, loses held-out Dice when fine-tuned unweighted.
    """
    for section in ("trained_with", "hyperparameters"):
        recorded = provenance.get(section)
        if isinstance(recorded, dict) and recorded.get("class_weights") in CLASS_WEIGHTINGS:
            return recorded["class_weights"]
    return "none"


def check_codec(meta: dict, codec_id: str) -> None:
    """Refuse latents of ``codec_id`` for a segmenter trained on another codec's latents."""
    trained_for = meta.get("codec_id")
    if trained_for is not None and trained_for != codec_id:
        raise SegmenterWeightsError(
            f"this segmenter was trained on latents of codec {trained_for}, but the frames come "
            f"from codec {codec_id}; use the segmenter trained for {codec_id}")
