"""Pieces every ``latentlink`` command module shares: errors, JSON output, common options.

Torch-free at import time (``load_runner`` imports it when called), so listing the commands
stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from latentlink.data.datasets import DATASETS

DATA_ROOT_ENV = "LATENTLINK_DATA_ROOT"


class UserError(click.ClickException):
    """A problem the user can fix (bad flag, missing file); printed without a traceback."""

    exit_code = 2


def write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n")
        click.echo(f"wrote {path}")


dataset_option = click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default="camvid",
    show_default=True,
    help="Data set layout.",
)
data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_ROOT_ENV,
    required=True,
    help=f"Data set folder (or ${DATA_ROOT_ENV}), e.g. ../shared/datasets/camvid.",
)
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
