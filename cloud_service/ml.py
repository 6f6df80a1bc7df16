"""The models the service runs, loaded once at start-up: the codecs (net_D for people) and the
compressed-domain segmenter (for the worker).

A frame names its codec by id; the server knows the codecs whose weights it was given and no
others. The segmenter was trained on one codec's latents (its weights say which) and is only
applied to frames of that codec and depth. Without trained weights the service runs the same
model class freshly initialised (seeded, so every replica computes the same masks) and says so
everywhere a mask is shown ("segmenter": "untrained"), rather than inventing output.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cloud_service.core.config import NO_SEGMENTER, UNTRAINED_SEGMENTER, Settings
from latentlink.codec.container import FrameHeader
from latentlink.data.datasets import CAMVID_CLASSES
from latentlink.models.inference import TorchCodec
from latentlink.models.segmenter import SegmenterConfig, build_segmenter
from latentlink.models.segmenter_weights import (
    SegmenterWeightsError,
    check_codec,
    load_segmenter,
    resolve_segmenter_weights,
    trained_class_weighting,
)
from latentlink.models.weights import WeightsError, load_codec, resolve_weights

UNTRAINED_SEED = 0


class ModelConfigError(ValueError):
    """The configured weights or device cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Segmenter:
    """A latent segmenter with what is needed to decide which frames it may segment."""

    model: nn.Module
    config: SegmenterConfig
    class_names: tuple[str, ...]
    codec_id: str | None
    """The codec whose latents it was trained on; None when untrained."""
    name: str
    """``untrained``, or the first 16 hex digits of the weights file's SHA-256."""
    class_weighting: str = "none"
    """The loss weighting it was trained with; fine-tuning jobs continue it unless asked not to."""

    @classmethod
    def from_weights(cls, model: nn.Module, config: SegmenterConfig, meta: dict,
                     name: str) -> Segmenter:
        """A segmenter from :func:`load_segmenter`'s ``(model, config, meta)`` of a file named
        ``name``: its classes, codec and training loss weighting come from the file."""
        return cls(model, config, tuple(meta["class_names"]), meta["codec_id"], name,
                   trained_class_weighting(meta["provenance"]))

    @property
    def trained(self) -> bool:
        return self.codec_id is not None

    def describe(self) -> str:
        """What this segmenter is, in words for a start-up log line."""
        if not self.trained:
            return f"{self.name} (seeded, never trained: its masks mean nothing)"
        return f"{self.name} (trained on codec {self.codec_id}, d={self.config.depth})"

    def refusal(self, header: FrameHeader) -> str | None:
        """Why this segmenter must not segment a frame with ``header``; None if it may."""
        if header.d != self.config.depth:
            return f"the segmenter takes d={self.config.depth} latents, this frame is d={header.d}"
        try:
            check_codec({"codec_id": self.codec_id}, header.codec)
        except SegmenterWeightsError as error:
            return str(error)
        return None


@dataclass(frozen=True)
class Models:
    """Everything loaded at start-up, shared read-only by requests and the worker."""

    device: torch.device
    codecs: dict[str, TorchCodec]
    segmenter: Segmenter


def pick_device(setting: str) -> torch.device:
    """``auto`` → the GPU when there is one, else the CPU; an explicit CUDA must exist."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelConfigError(f"device {setting!r} requested but no CUDA device is available")
    return torch.device(setting)


def codec_paths(settings: Settings) -> list[Path]:
    """The codec weight files named by the settings; raises :class:`ModelConfigError`."""
    try:
        return [resolve_weights(spec, depth=settings.codec_depth)
                for spec in settings.codec_weights]
    except WeightsError as error:
        raise ModelConfigError(f"codec weights: {error}") from error


def segmenter_path(settings: Settings) -> Path | None:
    """The segmenter weights file, or None for an untrained model (``untrained``, or ``none``:
    with segmentation off, the registry still needs a base model to fine-tune and roll back to)."""
    if settings.segmenter_weights in (UNTRAINED_SEGMENTER, NO_SEGMENTER):
        return None
    try:
        return resolve_segmenter_weights(settings.segmenter_weights)
    except SegmenterWeightsError as error:
        raise ModelConfigError(f"segmenter weights: {error}") from error


def load_models(settings: Settings) -> Models:
    """Load every configured model onto the configured device."""
    device = pick_device(settings.device)
    codecs: dict[str, TorchCodec] = {}
    for path in codec_paths(settings):
        try:
            codec, _ = load_codec(path)
        except WeightsError as error:
            raise ModelConfigError(f"codec weights: {error}") from error
        runner = TorchCodec(codec, device)
        codecs[runner.codec_id] = runner
    segmenter = _load_segmenter(settings, device, next(iter(codecs.values())).config.depth)
    if segmenter.codec_id is not None and segmenter.codec_id not in codecs:
        raise ModelConfigError(
            f"the segmenter was trained on latents of codec {segmenter.codec_id}, which is not "
            f"among the loaded codecs ({', '.join(codecs)}); add its weights to "
            "LATENTLINK_CODEC_WEIGHTS, or set LATENTLINK_SEGMENTER_WEIGHTS to a segmenter of "
            f"one of them (or '{NO_SEGMENTER}')")
    return Models(device, codecs, segmenter)


def _load_segmenter(settings: Settings, device: torch.device, default_depth: int) -> Segmenter:
    path = segmenter_path(settings)
    if path is None:
        config = SegmenterConfig(depth=default_depth)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            model = build_segmenter(config)
        return Segmenter(model.to(device).eval(), config, CAMVID_CLASSES[: config.num_classes],
                         None, UNTRAINED_SEGMENTER)
    try:
        model, config, meta = load_segmenter(path, map_location=device)
    except SegmenterWeightsError as error:
        raise ModelConfigError(f"segmenter weights: {error}") from error
    if config.input_kind != "latent":
        raise ModelConfigError(f"{path} is an {config.input_kind} segmenter; the service segments "
                               "latents only (it never decompresses for segmentation)")
    name = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return Segmenter.from_weights(model, config, meta, name)
