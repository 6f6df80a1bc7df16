"""Segmentation commands: ``train-seg``, ``eval-seg`` and ``model-stats``.

Mounted on the main ``latentlink`` group (:mod:`latentlink.cli`) and also usable alone as the
``seg`` group; shared helpers come from :mod:`latentlink.cli_common`.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli_common import (
    UserError,
    data_root_option,
    dataset_option,
    json_option,
    load_runner,
    write_json,
)
from latentlink.data.datasets import DatasetError

# The names of latentlink.training.seg_trainer.INPUTS, repeated so that listing the commands does
# not import torch (tests/test_seg_training.py keeps the two equal).
INPUTS = ("latent", "image", "decoded", "jpeg")

input_option = click.option(
    "--input", "input_name", type=click.Choice(INPUTS), default="latent", show_default=True,
    help="latent: net_C latents (proposed); image: original frames (BL 1); decoded: net_D "
         "reconstructions (BL 3); jpeg: JPEG frames at --jpeg-cf (BL 4).")
codec_weights_option = click.option(
    "--codec-weights", default="default", show_default=True,
    help="Codec weights for latent/decoded inputs, or 'default' for the shipped ones.")
bits_option = click.option("--bits", "-n", type=click.IntRange(1, 16), default=None,
                           help="Quantisation bit length n (default: the codec's own).")
jpeg_cf_option = click.option("--jpeg-cf", type=click.FloatRange(1), default=66.0,
                              show_default=True, help="Target compression factor of --input jpeg.")
cache_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/latent_cache"), show_default=True,
    help="Where net_C's latents are cached (per codec id, n, data set and split).")


RECIPE_OPTIONS = (
    click.option("--iterations", type=click.IntRange(1), default=40_000, show_default=True),
    click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True),
    click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True),
    click.option("--crop-size", type=click.IntRange(16), default=352, show_default=True,
                 help="Random crop side in frame pixels (the paper: 840 on Cityscapes)."),
    click.option("--val-every", type=click.IntRange(1), default=1000, show_default=True),
    click.option("--val-frames", type=click.IntRange(0), default=0, show_default=True,
                 help="Validate on the first N validation frames (0 = all)."),
    click.option("--bf16/--fp32", default=False, show_default=True, help="bfloat16 autocast."),
    click.option("--ohem/--no-ohem", default=False, show_default=True,
                 help="Online hard example mining (DGCNet's OHEM cross-entropy)."),
    click.option("--augment-views", type=click.IntRange(0, 16), default=0, show_default=True,
                 help="Scale (1-1.5x) / flip / colour-jittered views of each training frame, "
                 "encoded once by net_C (or JPEG, net_D) and cached; 0 = flips only."),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
                 help="Torch intra-op threads (0 = torch's default)."),
)
"""The training recipe's knobs that ``train-seg`` and ``table1`` share."""


def recipe_options(command):
    """Apply :data:`RECIPE_OPTIONS` to a click command."""
    for option in reversed(RECIPE_OPTIONS):
        command = option(command)
    return command


@click.group("seg", context_settings={"help_option_names": ["-h", "--help"],
                                      "max_content_width": 100})
def seg() -> None:
    """Semantic segmentation on learned latents and on (decoded) frames."""


@seg.command("train-seg")
@input_option
@click.option("--preset", type=click.Choice(["lite", "paper"]), default="lite", show_default=True,
              help="lite: CPU-scale; paper: ResNet-50 widths (GPU).")
@dataset_option
@data_root_option
@click.option("--split", default="train", show_default=True, help="Training split.")
@click.option("--val-split", default="val", show_default=True, help="Validation split.")
@codec_weights_option
@click.option("--depth", "-d", type=click.IntRange(1, 3), default=2, show_default=True,
              help="d of the default codec weights (a weights file brings its own).")
@bits_option
@jpeg_cf_option
@recipe_options
@click.option("--momentum", type=click.FloatRange(0, 1), default=0.9, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0), default=5e-4, show_default=True)
@click.option("--poly-power", type=click.FloatRange(0), default=0.9, show_default=True)
@click.option("--aux-weight", type=click.FloatRange(0), default=0.4, show_default=True,
              help="Weight of the auxiliary (deep-supervision) loss; 0 = off.")
@click.option("--flip/--no-flip", default=True, show_default=True,
              help="Horizontal flips (latents of flipped frames for --input latent).")
@click.option("--channels-last/--contiguous", default=True, show_default=True,
              help="Channels-last memory format (faster convolutions on CPU).")
@cache_option
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/seg"), show_default=True, help="Checkpoints and history.")
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the best weights (with provenance and codec id) here at the end.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_seg(input_name: str, resume: bool, export_path: Path | None, quiet: bool,
              **options) -> None:
    """Train a segmenter (the paper's recipe by default, CamVid-sized crops)."""
    from latentlink.training.seg_trainer import CODEC_INPUTS, SegTrainConfig, SegTrainer

    options.update(input=input_name, data_root=str(options["data_root"]),
                   out_dir=str(options["out_dir"]), cache_dir=str(options["cache_dir"]))
    config = SegTrainConfig(**options)
    last = Path(config.out_dir) / "last.pt"
    if resume and not last.is_file():
        raise UserError(f"--resume given but {last} does not exist")
    if not resume and last.exists():
        raise UserError(f"{last} exists: pass --resume to continue it or choose another --out-dir")
    runner = (load_runner(config.codec_weights, config.depth, config.bits, None)
              if input_name in CODEC_INPUTS else None)
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
@input_option
@dataset_option
@data_root_option
@click.option("--split", default="val", show_default=True)
@codec_weights_option
@click.option("--depth", "-d", type=click.IntRange(1, 3), default=None,
              help="d of the default codec weights (default: the segmenter's).")
@bits_option
@jpeg_cf_option
@cache_option
@click.option("--limit", type=click.IntRange(0), default=0, show_default=True,
              help="Use only the first N frames (0 = all).")
@click.option("--device", default=None, help="torch device (default: cuda if available).")
@json_option
def eval_seg(weights: str, input_name: str, dataset: str, data_root: Path, split: str,
             codec_weights: str, depth: int | None, bits: int | None, jpeg_cf: float,
             cache_dir: Path, limit: int, device: str | None, json_path: Path | None) -> None:
    """Dataset-level per-class Dice and IoU, mean Dice and mIoU at full frame resolution."""
    import torch

    from latentlink.models.segmenter_weights import (
        SegmenterWeightsError,
        check_codec,
        load_segmenter,
        resolve_segmenter_weights,
    )
    from latentlink.training.seg_trainer import (
        CODEC_INPUTS,
        evaluate,
        label_spec,
        load_split,
        model_input_kind,
    )

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        model, config, meta = load_segmenter(resolve_segmenter_weights(weights), device)
    except SegmenterWeightsError as error:
        raise UserError(str(error)) from error
    if config.input_kind != model_input_kind(input_name):
        needed = model_input_kind(input_name)
        raise UserError(f"--input {input_name} needs a segmenter of {needed}s; {weights} takes "
                        f"{config.input_kind}s")
    runner = None
    if input_name in CODEC_INPUTS:
        runner = load_runner(codec_weights, depth or config.depth, bits, str(device))
        if input_name == "latent":
            try:
                check_codec(meta, runner.codec_id)
            except SegmenterWeightsError as error:
                raise UserError(str(error)) from error
    try:
        spec = label_spec(dataset)
        if meta["class_names"] != spec.classes:
            raise UserError(f"{weights} predicts {len(meta['class_names'])} classes "
                            f"({', '.join(meta['class_names'][:3])}, …), not {dataset}'s")
        data = load_split(input_name, dataset, data_root, split, runner=runner,
                          cache_dir=cache_dir, jpeg_cf=jpeg_cf, limit=limit)
    except DatasetError as error:
        raise UserError(str(error)) from error
    summary = evaluate(model, data, spec, device, show_progress=True)
    summary.update(input=input_name, weights=str(weights), dataset=dataset, split=split,
                   codec_id=runner.codec_id if runner is not None else None)
    click.echo(f"{config.preset} segmenter on {input_name} of {dataset}/{split}, "
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
@json_option
def model_stats(preset: str, height: int, width: int, depth: int, stem: str, arch: str,
                classes: int, json_path: Path | None) -> None:
    """Parameters and MACs of net_C, net_D and the segmenters' parts at one frame size."""
    from latentlink.evaluation.complexity import costs_report

    report = costs_report(height, width, depth, preset, classes, stem, arch)
    codec = f"{stem}-stem paper codec" if arch == "paper" else "factorized codec"
    click.echo(f"{preset} segmenters, d={depth}, {codec}, one {height}×{width} frame")
    click.echo(f"{'part':<22}{'params (M)':>12}{'GMAC':>12}")
    for row in report["parts"] + [None] + report["pipelines"]:
        if row is None:
            click.echo("pipelines")
            continue
        click.echo(f"{row['part']:<22}{row['params'] / 1e6:>12.3f}{row['macs'] / 1e9:>12.2f}")
    write_json(json_path, report)
