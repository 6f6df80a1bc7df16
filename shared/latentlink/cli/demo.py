"""``latentlink demo``: a vehicle-to-cloud round trip on a handful of frames, no setup needed."""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli.common import load_runner
from latentlink.data.config import DATA_ROOT_ENV


@click.command("demo")
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
