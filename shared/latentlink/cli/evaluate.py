"""Codec evaluation commands: ``eval-codec``, ``sweep-codec`` and ``bench-huffman``.

Every number comes from real containers at full frame resolution, the way a vehicle's frames
travel; classical codecs are compared at the learned codec's per-frame CF.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli.common import (
    compare_option,
    data_root_option,
    dataset_option,
    depth_option,
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


@click.command("eval-codec")
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
    data_root: str,
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
            f"SSIM {row['ssim']:.4f}  (target CF reached on {row['reached_fraction']:.0%}; "
            f"PSNR at the learned codec's exact bytes {row['psnr_equal_bytes']:.2f} dB)"
        )
    write_json(json_path, summary)


@click.command("sweep-codec")
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
    data_root: str,
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


@click.command("bench-huffman")
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
    data_root: str,
    split: str,
    limit: int,
    repeats: int,
    json_path: Path | None,
) -> None:
    """Our Huffman coder vs zlib's Huffman-only mode on real latents of a codec."""
    from latentlink.codec.quantize import float2int
    from latentlink.evaluation.huffman_bench import compare_with_zlib, print_modes

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
    print_modes(result["modes"])
    write_json(json_path, result)
