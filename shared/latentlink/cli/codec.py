"""Codec commands: ``train-codec``, ``export-weights`` and ``export-onnx``.

From a training run to the files that ship: the weights with provenance, and net_C as ONNX for
the vehicles. ``train-codec``'s options are :class:`CodecTrainConfig`'s knobs.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli.common import UserError, depth_option, load_runner, weights_option
from latentlink.cli.options import config_options
from latentlink.data.datasets import DatasetError
from latentlink.training.codec_config import CodecTrainConfig


@click.command("train-codec")
@config_options(
    CodecTrainConfig,
    "dataset", "data_root", "split", "val_split", "depth", "bits", "stem", "latent_clamp", "arch",
    "epochs", "lr", "lr_schedule", "density_lr_scale", "max_minutes", "lr_step", "lr_gamma",
    "warmup_steps", "grad_clip", "batch_size", "patch_size", "patches_per_image", "rate_lambda",
    "bf16", "val_frames", "seed", "threads", "out_dir", "init_weights", "freeze_compressor",
    "synthesis_blocks",
)
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt.")
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the best weights (with provenance) here when training ends.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_codec(resume: bool, export_path: Path | None, quiet: bool, **options) -> None:
    """Train net_C + net_D (the paper's recipe by default; add --rate-lambda for rate-aware)."""
    from latentlink.training.codec_trainer import CodecTrainer, default_bf16

    if options["bf16"] is None:
        options["bf16"] = default_bf16()
    config = CodecTrainConfig(**options)
    try:
        trainer = CodecTrainer(config, log=click.echo)
    except (DatasetError, ValueError) as error:
        raise UserError(str(error)) from error
    last = Path(config.out_dir) / "last.pt"
    if resume:
        if not last.is_file():
            raise UserError(f"--resume given but {last} does not exist")
        trainer.resume(last)
    elif last.exists():
        raise UserError(f"{last} exists: pass --resume to continue it or choose another --out-dir")
    click.echo(f"training on {trainer.device} with {len(trainer.train_frames)} frames")
    trainer.run(show_progress=not quiet)
    if export_path:
        trainer.export_best(export_path)
        click.echo(f"exported best weights to {export_path}")


@click.command("export-weights")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export_weights(run_dir: Path, output: Path) -> None:
    """Write a training run's best checkpoint as a weights file with provenance."""
    from latentlink.training.codec_trainer import export_run

    try:
        export_run(run_dir, output)
    except FileNotFoundError as error:
        raise UserError(str(error)) from error
    click.echo(f"wrote {output}")


@click.command("export-onnx")
@weights_option
@depth_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the ONNX file.",
)
@click.option("--opset", type=click.IntRange(17), default=17, show_default=True)
def export_onnx(weights: str, depth: int, output: Path, opset: int) -> None:
    """Export net_C (dynamic height/width) with its codec id for the edge agent."""
    from latentlink.models.export import export_compressor

    runner = load_runner(weights, depth, None, "cpu")
    export_compressor(runner.codec, output, opset)
    click.echo(
        f"wrote {output} (codec {runner.codec_id}, d={runner.config.depth}, n={runner.config.bits})"
    )
