"""Pieces the ``latentlink`` command modules share: errors, JSON output, common options.

Torch-free at import time (``load_runner`` imports it when called), so listing the commands
stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from latentlink.cli.options import config_option
from latentlink.data.config import DataConfig
from latentlink.data.datasets import DatasetError
from latentlink.training.codec_config import CodecTrainConfig


class UserError(click.ClickException):
    """A problem the user can fix (bad flag, missing file); printed without a traceback."""

    exit_code = 2


def write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n")
        click.echo(f"wrote {path}")


dataset_option = config_option(DataConfig, "dataset")
data_root_option = config_option(DataConfig, "data_root")
depth_option = config_option(CodecTrainConfig, "depth")
"""The codec's d, as ``train-codec`` takes it."""
json_option = click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results as JSON here.",
)


def load_runner(weights: str, depth: int, bits: int | None, device: str | None):
    """Load codec weights (``default`` = shipped) for frame-level use, optionally at another n."""
    import dataclasses

    import torch

    from latentlink.models.inference import TorchCodec
    from latentlink.models.weights import WeightsError, load_codec, resolve_weights

    try:
        codec, _ = load_codec(resolve_weights(weights, depth, 8))
    except WeightsError as error:
        raise UserError(str(error)) from error
    if codec.config.depth != depth:
        click.echo(
            f"note: {weights} is a d={codec.config.depth} codec; using d={codec.config.depth}"
        )
    if bits is not None and bits != codec.config.bits:
        codec.config = dataclasses.replace(codec.config, bits=bits)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return TorchCodec(codec, device)


def iter_frames(dataset: str, data_root: Path | str, split: str, limit: int):
    """(name, uint8 image) pairs of a split, at full resolution."""
    from latentlink.data.datasets import list_samples, load_rgb

    try:
        samples = list_samples(dataset, data_root, split)
    except DatasetError as error:
        raise UserError(str(error)) from error
    samples = samples[:limit] if limit else samples
    return [(s.name, s.image) for s in samples], len(samples), load_rgb


weights_option = click.option(
    "--weights",
    default="default",
    show_default=True,
    help="Codec weights file, or 'default' / 'default:paper' for the shipped ones.",
)
compare_option = click.option(
    "--compare",
    default="",
    help="Classical codecs to compare at the same per-frame CF, comma-separated: jpeg,webp,avif.",
)
limit_option = click.option(
    "--limit",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Use only the first N frames (0 = all).",
)
device_option = click.option(
    "--device", default=None, help="torch device (default: cuda if available)."
)


def parse_codecs(text: str) -> list[str]:
    from latentlink.evaluation.classical import CLASSICAL_CODECS

    codecs = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in CLASSICAL_CODECS]
    if unknown:
        raise UserError(
            f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(CLASSICAL_CODECS)}"
        )
    return codecs


def run_evaluation(
    runner, dataset: str, data_root: Path | str, split: str, limit: int, compare: list[str]
) -> dict:
    from latentlink.evaluation.codec_eval import evaluate

    listing, total, load = iter_frames(dataset, data_root, split, limit)
    frames = ((name, load(path)) for name, path in listing)
    return evaluate(runner, frames, compare, total=total)
