"""``latentlink rd-curves``: a codec rate ladder against JPEG, WebP and AVIF (issue 10).

Each codec of the ladder is one operating point measured the way a vehicle's frames travel
(real containers, every byte counted); each classical codec is encoded *per frame at the CF the
learned codec reached on that frame* — the comparison the product's claim rests on: the highest
quality whose file is no larger, and its PSNR interpolated to exactly the learned codec's bytes.
Writes ``psnr_vs_cf.png``, ``ssim_vs_cf.png``, ``rd.md`` (with both dB gaps to each classical
codec and the per-channel bits of every point) and ``rd.json``. ``--weights`` given more than once
compares ladders (say, a retrained file against the shipped ones): each is its own line.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli.common import (
    data_root_option,
    dataset_option,
    device_option,
    limit_option,
    load_runner,
    parse_codecs,
    run_evaluation,
    write_json,
)

DEFAULT_LADDER = "default:cf50,default,default:cf120"


@click.command("rd-curves")
@click.option(
    "--weights",
    "ladders",
    multiple=True,
    default=(DEFAULT_LADDER,),
    show_default=True,
    help="Comma-separated codec weights, one operating point each (files or shipped names): "
         "one ladder, drawn as one line. Repeat the option to compare ladders side by side.",
)
@click.option("--depth", "-d", type=click.IntRange(1, 3), default=2, show_default=True,
              help="Depth of the shipped weights that 'default…' names resolve to.")
@dataset_option
@data_root_option
@click.option("--split", default="val", show_default=True)
@click.option("--compare", default="jpeg,webp,avif", show_default=True,
              help="Classical codecs, each encoded per frame at the learned codec's CF.")
@limit_option
@device_option
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/rd"), show_default=True)
def rd_curves(ladders: tuple[str, ...], depth: int, dataset: str, data_root: str, split: str,
              compare: str, limit: int, device: str | None, out_dir: Path) -> None:
    """PSNR and SSIM against CF for a rate ladder of codecs, against classical codecs at the
    same per-frame CF (PNG plots, Markdown table, JSON)."""
    from latentlink.evaluation.plots import plot_rd

    codecs = parse_codecs(compare)
    points, classical_curves = [], {c: [] for c in codecs}
    for number, ladder in enumerate(ladders, 1):
        # One ladder keeps the plot's usual per-depth legend; several get a line each.
        curve = {"curve": f"LatentLink ladder {number}"} if len(ladders) > 1 else {}
        for spec in (w.strip() for w in ladder.split(",") if w.strip()):
            runner = load_runner(spec, depth, None, device)
            summary = run_evaluation(runner, dataset, data_root, split, limit, codecs)
            points.append({"label": spec, **curve, "d": runner.config.depth,
                           "n": runner.config.bits, "codec_id": runner.codec_id, **summary})
            for codec, row in summary["compare"].items():
                classical_curves[codec].append(row)
            gaps = ", ".join(f"{c} {summary['psnr'] - row['psnr']:+.2f} dB "
                             f"({summary['psnr'] - row['psnr_equal_bytes']:+.2f} at equal bytes)"
                             for c, row in summary["compare"].items())
            click.echo(f"{spec}: CF {summary['cf']:.1f}, PSNR {summary['psnr']:.2f} dB, "
                       f"SSIM {summary['ssim']:.4f} ({gaps or 'no comparison'})")
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{dataset}/{split}, classical codecs at the same per-frame CF"
    plot_rd(points, "psnr", out_dir / "psnr_vs_cf.png", classical_curves, title=title)
    plot_rd(points, "ssim", out_dir / "ssim_vs_cf.png", classical_curves, title=title)
    (out_dir / "rd.md").write_text(ladder_markdown(points, codecs) + "\n")
    write_json(out_dir / "rd.json", {"points": points})
    click.echo(f"plots and table in {out_dir}")


def ladder_markdown(points: list[dict], codecs: list[str]) -> str:
    """One row per operating point with each classical codec's PSNR/SSIM and the PSNR gap —
    against the codec at the highest quality within the learned codec's bytes, and against its
    PSNR interpolated to exactly those bytes (``psnr_at_bytes``: the stricter comparison) — then
    the per-channel entropy (bits/symbol) of every point: a dead channel reads 0.00."""
    header = ["weights", "CF", "PSNR dB", "SSIM", "bits/symbol"]
    for codec in codecs:
        header += [f"{codec} PSNR", f"{codec} SSIM", f"Δ vs {codec} dB",
                   f"Δ vs {codec} at equal bytes"]
    rows = [header, ["---"] + ["---:"] * (len(header) - 1)]
    for p in sorted(points, key=lambda p: p["cf"]):
        row = [f"`{p['label']}`", f"{p['cf']:.1f}", f"{p['psnr']:.2f}", f"{p['ssim']:.4f}",
               f"{p['bits_per_symbol']:.3f}"]
        for codec in codecs:
            other = p["compare"][codec]
            row += [f"{other['psnr']:.2f}", f"{other['ssim']:.4f}",
                    f"{p['psnr'] - other['psnr']:+.2f}",
                    f"{p['psnr'] - other['psnr_equal_bytes']:+.2f}"]
        rows.append(row)
    channels = len(points[0]["channel_bits"]) if points else 0
    bits_rows = [["weights"] + [f"c{i}" for i in range(channels)],
                 ["---"] + ["---:"] * channels]
    for p in sorted(points, key=lambda p: p["cf"]):
        bits_rows.append([f"`{p['label']}`"] + [f"{b:.2f}" for b in p["channel_bits"]])
    table = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    bits = "\n".join("| " + " | ".join(r) + " |" for r in bits_rows)
    return f"{table}\n\nPer-channel entropy, bits/symbol:\n\n{bits}"
