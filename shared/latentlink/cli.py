"""``latentlink``: the ML engineer's command line (train, evaluate, export, benchmark).

Each command imports its heavy modules (torch, onnx) lazily so that ``latentlink --help`` is
instant and a clear message, not a traceback, greets a missing optional dependency.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli_common import (
    DATA_ROOT_ENV,
    UserError,
    compare_option,
    data_root_option,
    dataset_option,
    device_option,
    iter_frames,
    json_option,
    limit_option,
    load_runner,
    parse_codecs,
    run_evaluation,
    weights_option,
    write_json,
)
from latentlink.data.datasets import DatasetError
from latentlink.rd_cli import rd_curves
from latentlink.seg_cli import eval_seg, model_stats, train_seg
from latentlink.table1_cli import table1

depth_option = click.option(
    "--depth",
    "-d",
    type=click.IntRange(1, 3),
    default=2,
    show_default=True,
    help="Digest units d (latent at 1/2^(d+1)).",
)
bits_option = click.option(
    "--bits",
    "-n",
    type=click.IntRange(1, 16),
    default=8,
    show_default=True,
    help="Quantisation bit length n.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="latentlink")
def main() -> None:
    """LatentLink ML tooling: train and evaluate the learned codec, export it for vehicles."""


@main.command("train-codec")
@dataset_option
@data_root_option
@click.option("--split", default="train", show_default=True, help="Training split.")
@click.option("--val-split", default="val", show_default=True, help="Validation split (selection).")
@depth_option
@bits_option
@click.option(
    "--stem",
    type=click.Choice(["paper", "edge"]),
    default="paper",
    show_default=True,
    help="net_C stem: the authors' full-resolution stem or the cheaper stride-2 one.",
)
@click.option(
    "--latent-clamp/--no-latent-clamp",
    default=True,
    show_default=True,
    help="Clamp net_C's output to [0, 1] as the authors' code does (paper architecture).",
)
@click.option(
    "--arch",
    type=click.Choice(["paper", "factorized"]),
    default="paper",
    show_default=True,
    help="The authors' net_C/net_D, or the factorized codec (GDN, per-channel rate model) "
    "that the shipped default uses.",
)
@click.option("--epochs", type=click.IntRange(1), default=100, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-2, show_default=True)
@click.option(
    "--lr-schedule",
    type=click.Choice(["step", "cosine"]),
    default="step",
    show_default=True,
    help="The paper's StepLR, or a cosine over the run (its steps or --max-minutes).",
)
@click.option("--density-lr-scale", type=click.FloatRange(0, min_open=True), default=10.0,
              show_default=True, help="Learning-rate multiplier of the factorized rate model.")
@click.option("--max-minutes", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Stop with a checkpoint after this much training time (0 = no limit).")
@click.option(
    "--lr-step",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="StepLR step size in epochs.",
)
@click.option("--lr-gamma", type=click.FloatRange(0, 1), default=0.75, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--grad-clip",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Clip the gradient norm to this (0 = off).",
)
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option("--patch-size", type=click.IntRange(16), default=256, show_default=True)
@click.option(
    "--patches-per-image",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Random patches drawn from each training frame per epoch.",
)
@click.option(
    "--rate-lambda",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Weight of the rate term (bits per pixel); 0 = the paper's recipe.",
)
@click.option(
    "--bf16/--fp32",
    default=None,
    help="bfloat16 autocast or float32. Default: bf16 on CPUs with AVX-512 BF16 (≈4× faster), "
    "fp32 elsewhere (on AVX2-only CPUs bf16 is ~7× slower; on a GPU fp32 uses TF32).",
)
@click.option(
    "--val-frames",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Validate on the first N validation frames (0 = all).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Torch intra-op threads (0 = torch's default).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/codec"),
    show_default=True,
    help="Checkpoints and history.",
)
@click.option(
    "--init-weights",
    default="",
    help="Start from these codec weights (file or 'default[:variant]') instead of random.",
)
@click.option(
    "--freeze-compressor",
    is_flag=True,
    help="Train net_D only (needs --init-weights): the codec id and stored latents stay valid.",
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
    from latentlink.training.codec_trainer import CodecTrainConfig, CodecTrainer, default_bf16

    options["data_root"] = str(options["data_root"])
    options["out_dir"] = str(options["out_dir"])
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



@main.command("export-weights")
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


@main.command("eval-codec")
@weights_option
@depth_option
@click.option(
    "--bits",
    "-n",
    type=click.IntRange(1, 16),
    default=None,
    help="Quantisation bit length (default: the one the weights were trained with).",
)
@dataset_option
@data_root_option
@click.option("--split", default="val", show_default=True)
@compare_option
@limit_option
@device_option
@json_option
def eval_codec(
    weights: str,
    depth: int,
    bits: int | None,
    dataset: str,
    data_root: Path,
    split: str,
    compare: str,
    limit: int,
    device: str | None,
    json_path: Path | None,
) -> None:
    """Full-resolution CF, PSNR, SSIM and Huffman bits/symbol through real containers."""
    codecs = parse_codecs(compare)
    runner = load_runner(weights, depth, bits, device)
    summary = run_evaluation(runner, dataset, data_root, split, limit, codecs)
    summary.update(codec_id=runner.codec_id, depth=runner.config.depth, bits=runner.config.bits)
    click.echo(
        f"codec {runner.codec_id} (d={runner.config.depth}, n={runner.config.bits}) on "
        f"{summary['frames']} frames of {dataset}/{split}"
    )
    click.echo(
        f"  learned   CF {summary['cf']:7.2f}  PSNR {summary['psnr']:6.2f} dB  "
        f"SSIM {summary['ssim']:.4f}  {summary['bits_per_symbol']:.3f} bits/symbol "
        f"(entropy {summary['entropy_bits_per_symbol']:.3f})"
    )
    for codec, row in summary["compare"].items():
        click.echo(
            f"  {codec:<9} CF {row['cf']:7.2f}  PSNR {row['psnr']:6.2f} dB  "
            f"SSIM {row['ssim']:.4f}  (target CF reached on {row['reached_fraction']:.0%})"
        )
    write_json(json_path, summary)


@main.command("sweep-codec")
@click.option(
    "--weights-template",
    default="default",
    show_default=True,
    help="Weights per depth: 'default' (shipped) or a path with {d}, e.g. runs/d{d}/w.pt.",
)
@click.option("--depths", default="1,2,3", show_default=True)
@click.option("--bits-list", default="4,5,6,7,8", show_default=True)
@dataset_option
@data_root_option
@click.option("--split", default="val", show_default=True)
@click.option(
    "--compare",
    default="jpeg",
    show_default=True,
    help="Classical codecs drawn beside the learned one, at the same CFs.",
)
@limit_option
@device_option
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/sweep"),
    show_default=True,
)
def sweep_codec(
    weights_template: str,
    depths: str,
    bits_list: str,
    dataset: str,
    data_root: Path,
    split: str,
    compare: str,
    limit: int,
    device: str | None,
    out_dir: Path,
) -> None:
    """SSIM and PSNR against CF over d and n, as the paper's Figs 5–6 (PNG plots + Markdown)."""
    from latentlink.evaluation.plots import plot_rd, rd_table_markdown

    codecs = parse_codecs(compare)
    points, classical_curves = [], {c: [] for c in codecs}
    for d in (int(x) for x in depths.split(",")):
        for n in (int(x) for x in bits_list.split(",")):
            runner = load_runner(weights_template.format(d=d), d, n, device)
            summary = run_evaluation(runner, dataset, data_root, split, limit, codecs)
            points.append(
                {
                    "d": d,
                    "n": n,
                    **{
                        k: summary[k]
                        for k in (
                            "cf",
                            "psnr",
                            "ssim",
                            "bits_per_symbol",
                            "entropy_bits_per_symbol",
                        )
                    },
                }
            )
            for codec, row in summary["compare"].items():
                classical_curves[codec].append(row)
            click.echo(
                f"d={d} n={n}: CF {summary['cf']:.1f}, PSNR {summary['psnr']:.2f} dB, "
                f"SSIM {summary['ssim']:.4f}"
            )
    for rows in classical_curves.values():
        rows.sort(key=lambda row: row["cf"])
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_rd(
        points,
        "ssim",
        out_dir / "fig5_ssim_vs_cf.png",
        classical_curves,
        title=f"SSIM vs CF ({dataset}/{split})",
    )
    plot_rd(
        points,
        "psnr",
        out_dir / "fig6_psnr_vs_cf.png",
        classical_curves,
        title=f"PSNR vs CF ({dataset}/{split})",
    )
    (out_dir / "sweep.md").write_text(rd_table_markdown(points) + "\n")
    write_json(out_dir / "sweep.json", {"points": points, "classical": classical_curves})
    click.echo(f"plots and table in {out_dir}")


@main.command("export-onnx")
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


@main.command("bench-huffman")
@weights_option
@depth_option
@dataset_option
@data_root_option
@click.option("--split", default="val", show_default=True)
@limit_option
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True)
@json_option
def bench_huffman(
    weights: str,
    depth: int,
    dataset: str,
    data_root: Path,
    split: str,
    limit: int,
    repeats: int,
    json_path: Path | None,
) -> None:
    """Our Huffman coder vs zlib's Huffman-only mode on real latents of a codec."""
    from latentlink.codec.quantize import float2int
    from latentlink.evaluation.huffman_bench import compare_with_zlib

    runner = load_runner(weights, depth, None, None)
    listing, _, load = iter_frames(dataset, data_root, split, limit)
    arrays = [
        float2int(runner.compress(load(path)), runner.config.bits, runner.config.quantizer).codes
        for _, path in listing
    ]
    result = compare_with_zlib(arrays, runner.config.bits, channels=16, repeats=repeats)
    click.echo(
        f"{result['symbols']} symbols from {len(arrays)} frames "
        f"(codec {runner.codec_id}); entropy bound {result['entropy_bytes']:.0f} bytes"
    )
    for name in ("ours", "zlib"):
        row = result[name]
        click.echo(
            f"  {name:<5} {row['bytes']:>10} bytes  encode {row['encode_msym_s']:7.1f} "
            f"Msym/s  decode {row['decode_msym_s']:7.1f} Msym/s"
        )
    write_json(json_path, result)


@main.command("demo")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_ROOT_ENV,
    default=None,
    help="CamVid folder to take frames from (default: synthetic scenes).",
)
@click.option("--frames", "count", type=click.IntRange(1), default=8, show_default=True)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/demo"),
    show_default=True,
)
def demo(data_root: Path | None, count: int, work_dir: Path) -> None:
    """Round-trip frames vehicle → cloud: ONNX net_C, containers, decode, net_D; print CF/PSNR."""
    from latentlink.codec import container
    from latentlink.codec.onnx_compressor import OnnxCompressor
    from latentlink.data.datasets import list_samples, load_rgb
    from latentlink.data.synthetic import synthetic_frames
    from latentlink.evaluation.metrics import psnr, ssim
    from latentlink.models.export import export_compressor

    runner = load_runner("default", 2, None, None)
    onnx_path = export_compressor(runner.codec, work_dir / "net_c.onnx")
    edge = OnnxCompressor(onnx_path, threads=1)
    if data_root and data_root.is_dir():
        samples = list_samples("camvid", data_root, "val")[:count]
        frames = [(s.name, load_rgb(s.image)) for s in samples]
        source = f"CamVid val frames from {data_root}"
    else:
        frames = [(f"synthetic-{i}", f) for i, f in enumerate(synthetic_frames(count, 360, 480))]
        source = "synthetic 480×360 street scenes"
    click.echo(f"codec {runner.codec_id} (d=2, n={runner.config.bits}); {len(frames)} {source}")
    click.echo(f"{'frame':<22}{'bytes':>8}{'CF':>8}{'PSNR dB':>9}{'SSIM':>8}")
    totals = []
    for name, image in frames:
        data = edge.encode(image, container.CaptureMeta(vehicle="demo-car", frame=name, ts=0.0))
        frame = container.unpack(data)
        reconstruction = runner.reconstruct(frame)
        row = (frame.compression_factor, psnr(image, reconstruction), ssim(image, reconstruction))
        totals.append(row)
        click.echo(f"{name:<22}{len(data):>8}{row[0]:>8.1f}{row[1]:>9.2f}{row[2]:>8.3f}")
    cf, p, s = (sum(col) / len(totals) for col in zip(*totals, strict=True))
    click.echo(f"{'mean':<22}{'':>8}{cf:>8.1f}{p:>9.2f}{s:>8.3f}")


for command in (train_seg, eval_seg, model_stats, table1, rd_curves):
    main.add_command(command)
