"""Segmentation commands: ``train-seg``, ``eval-seg`` and ``model-stats``.

Mounted on the main ``latentlink`` group (:mod:`latentlink.cli`) and also usable alone as the
``seg`` group. The options that set a training knob are generated from
:class:`~latentlink.training.seg_config.SegTrainConfig`, so train-seg, eval-seg and table1 spell,
default and explain them alike.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli.common import (
    UserError,
    data_root_option,
    dataset_option,
    json_option,
    load_runner,
    write_json,
)
from latentlink.cli.options import config_options
from latentlink.data.datasets import DatasetError
from latentlink.training.codec_config import CodecTrainConfig
from latentlink.training.seg_config import CODEC_INPUTS, SegTrainConfig, model_input_kind

RECIPE = ("iterations", "lr", "batch_size", "crop_size", "val_every", "val_frames", "bf16", "ohem",
          "class_weights", "augment_views", "input_norm", "seed", "threads")
"""The training recipe's knobs that ``train-seg`` and ``table1`` share."""
recipe_options = config_options(SegTrainConfig, *RECIPE)


@click.group("seg", context_settings={"help_option_names": ["-h", "--help"],
                                      "max_content_width": 100})
def seg() -> None:
    """Semantic segmentation on learned latents and on (decoded) frames."""


@seg.command("train-seg")
@config_options(SegTrainConfig, "input", "preset", "dataset", "data_root", "split", "val_split",
                "codec_weights", "depth", "bits", "jpeg_cf")
@recipe_options
@config_options(SegTrainConfig, "distill_from", "distill_weight", "distill_temperature",
                "distill_class_weighted")
@config_options(SegTrainConfig, "extra_blocks", "momentum", "weight_decay",
                "poly_power", "aux_weight", "flip", "channels_last", "cache_dir", "out_dir")
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the best weights (with provenance and codec id) here at the end.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_seg(resume: bool, export_path: Path | None, quiet: bool, **options) -> None:
    """Train a segmenter (the paper's recipe by default, CamVid-sized crops)."""
    from latentlink.training.seg_trainer import SegTrainer

    config = SegTrainConfig(**options)
    last = Path(config.out_dir) / "last.pt"
    if resume and not last.is_file():
        raise UserError(f"--resume given but {last} does not exist")
    if not resume and last.exists():
        raise UserError(f"{last} exists: pass --resume to continue it or choose another --out-dir")
    runner = (load_runner(config.codec_weights, config.depth, config.bits, None)
              if config.input in CODEC_INPUTS else None)
    try:
        trainer = SegTrainer(config, runner, log=click.echo, show_progress=not quiet)
        if resume:
            trainer.resume(last)
    except (DatasetError, ValueError) as error:
        raise UserError(str(error)) from error
    codec = f" of codec {trainer.codec_id}" if trainer.codec_id else ""
    click.echo(f"training {config.preset} on {config.input}{codec} ({trainer.device}, "
               f"{len(trainer.train_data.frames)} frames)")
    trainer.run(show_progress=not quiet)
    if export_path:
        trainer.export_best(export_path)
        click.echo(f"exported best weights to {export_path}")


@seg.command("eval-seg")
@click.option("--weights", default="default", show_default=True,
              help="Segmenter weights file, or 'default' for the shipped seg_lite_d2_n8.pt.")
@config_options(SegTrainConfig, "input")
@dataset_option
@data_root_option
@click.option("--split", default="val", show_default=True)
@config_options(SegTrainConfig, "codec_weights")
@click.option("--depth", "-d", type=click.IntRange(1, 3), default=None,
              help="d of the default codec weights (default: the segmenter's).")
@config_options(SegTrainConfig, "bits", "jpeg_cf", "cache_dir")
@click.option("--limit", type=click.IntRange(0), default=0, show_default=True,
              help="Use only the first N frames (0 = all).")
@click.option("--device", default=None, help="torch device (default: cuda if available).")
@json_option
def eval_seg(weights: str, input: str, dataset: str, data_root: str, split: str,
             codec_weights: str, depth: int | None, bits: int | None, jpeg_cf: float,
             cache_dir: str, limit: int, device: str | None, json_path: Path | None) -> None:
    """Dataset-level per-class Dice and IoU, mean Dice and mIoU at full frame resolution."""
    import torch

    from latentlink.models.segmenter_weights import (
        SegmenterWeightsError,
        check_codec,
        load_segmenter,
        resolve_segmenter_weights,
    )
    from latentlink.training.seg_data import label_spec, load_split
    from latentlink.training.seg_trainer import evaluate

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        model, config, meta = load_segmenter(resolve_segmenter_weights(weights), device)
    except SegmenterWeightsError as error:
        raise UserError(str(error)) from error
    if config.input_kind != model_input_kind(input):
        needed = model_input_kind(input)
        raise UserError(f"--input {input} needs a segmenter of {needed}s; {weights} takes "
                        f"{config.input_kind}s")
    runner = None
    if input in CODEC_INPUTS:
        runner = load_runner(codec_weights, depth or config.depth, bits, str(device))
        if input == "latent":
            try:
                check_codec(meta, runner.codec_id)
            except SegmenterWeightsError as error:
                raise UserError(str(error)) from error
    try:
        spec = label_spec(dataset)
        if meta["class_names"] != spec.classes:
            raise UserError(f"{weights} predicts {len(meta['class_names'])} classes "
                            f"({', '.join(meta['class_names'][:3])}, …), not {dataset}'s")
        data = load_split(input, dataset, data_root, split, runner=runner,
                          cache_dir=cache_dir, jpeg_cf=jpeg_cf, limit=limit)
    except DatasetError as error:
        raise UserError(str(error)) from error
    summary = evaluate(model, data, spec, device, show_progress=True)
    summary.update(input=input, weights=str(weights), dataset=dataset, split=split,
                   codec_id=runner.codec_id if runner is not None else None)
    click.echo(f"{config.preset} segmenter on {input} of {dataset}/{split}, "
               f"{summary['frames']} frames: mean Dice {summary['dice']:.4f}, "
               f"mIoU {summary['miou']:.4f}")
    for name, row in summary["per_class"].items():
        if row["dice"] is not None:
            click.echo(f"  {name:<14} Dice {row['dice']:.4f}  IoU {row['iou']:.4f}")
    write_json(json_path, summary)


@seg.command("model-stats")
@click.option("--preset", type=click.Choice(["lite", "paper"]), default="lite", show_default=True)
@click.option("--height", type=click.IntRange(1), default=360, show_default=True)
@click.option("--width", type=click.IntRange(1), default=480, show_default=True)
@click.option("--depth", "-d", type=click.IntRange(1, 3), default=2, show_default=True)
@click.option("--stem", type=click.Choice(["paper", "edge"]), default="paper", show_default=True,
              help="net_C stem (paper architecture).")
@click.option("--arch", type=click.Choice(["factorized", "paper"]), default="factorized",
              show_default=True, help="Codec architecture (the shipped default is factorized).")
@click.option("--classes", type=click.IntRange(2), default=11, show_default=True)
@config_options(CodecTrainConfig, "synthesis_blocks")
@json_option
def model_stats(preset: str, height: int, width: int, depth: int, stem: str, arch: str,
                classes: int, synthesis_blocks: int, json_path: Path | None) -> None:
    """Parameters and MACs of net_C, net_D and the segmenters' parts at one frame size."""
    from latentlink.evaluation.complexity import costs_report

    report = costs_report(height, width, depth, preset, classes, stem, arch, synthesis_blocks)
    codec = f"{stem}-stem paper codec" if arch == "paper" else "factorized codec"
    click.echo(f"{preset} segmenters, d={depth}, {codec}, one {height}×{width} frame")
    click.echo(f"{'part':<22}{'params (M)':>12}{'GMAC':>12}")
    for row in report["parts"] + [None] + report["pipelines"]:
        if row is None:
            click.echo("pipelines")
            continue
        click.echo(f"{row['part']:<22}{row['params'] / 1e6:>12.3f}{row['macs'] / 1e9:>12.2f}")
    write_json(json_path, report)
