"""Rate-distortion figures and tables in the style of the paper's Figs. 5–6.

The learned codec is swept over the encoder depth d and the quantisation bit length n; each
(d, n) gives one operating point (CF, PSNR, SSIM). Points of equal d form a curve, labelled
with n, and classical codecs measured at the same CFs are drawn dashed beside them.

Figures are built on an explicit Agg canvas rather than through ``pyplot``: no display or
global backend state is touched, so this is safe on headless servers and inside test runs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

FIGSIZE_INCHES = (7.0, 4.8)
DPI = 150

_METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM"}
_CODEC_LABELS = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF"}


def plot_rd(
    points: list[dict],
    metric: str,
    path: Path,
    classical: dict[str, list[dict]] | None = None,
    title: str | None = None,
) -> Path:
    """Plot ``metric`` against CF (log x) with one line per depth d, save a PNG, return its path.

    ``points`` are dicts with keys ``d, n, cf, psnr, ssim`` (and optionally ``label``, which
    replaces the ``n=…`` annotation, e.g. for a rate ladder at one n, and ``curve``, a legend name
    that joins points into their own line instead of their depth's: two ladders of one d compared
    side by side would otherwise zigzag as one line); ``classical`` maps a
    codec name to dicts with ``cf, psnr, ssim``. CF is on a log axis because the sweep spans
    more than a decade of CF and the interesting differences are ratios, not offsets. The image is
    ``FIGSIZE_INCHES × DPI`` pixels exactly (no tight bounding box), so reports can rely on it.
    """
    if metric not in _METRIC_LABELS:
        raise ValueError(f"metric must be one of {', '.join(_METRIC_LABELS)}, got {metric!r}")
    figure = Figure(figsize=FIGSIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _draw_learned(axes, points, metric)
    for codec, rows in (classical or {}).items():
        _draw_classical(axes, codec, rows, metric)
    _style_axes(axes, metric, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def _draw_learned(axes: Axes, points: list[dict], metric: str) -> None:
    """One solid line per curve (by default per depth), ordered by CF so it never doubles back."""
    curves: dict[str, list[dict]] = defaultdict(list)
    for point in sorted(points, key=lambda p: p["d"]):
        curves[point.get("curve", f"LatentLink d={point['d']}")].append(point)
    for name, members in curves.items():
        curve = sorted(members, key=lambda p: p["cf"])
        (line,) = axes.plot(
            [p["cf"] for p in curve],
            [p[metric] for p in curve],
            marker="o",
            linestyle="-",
            label=name,
        )
        for p in curve:
            axes.annotate(
                p.get("label", f"n={p['n']}"),
                (p["cf"], p[metric]),
                textcoords="offset points",
                xytext=(4, 5),
                fontsize=7,
                color=line.get_color(),
            )


def _draw_classical(axes: Axes, codec: str, rows: list[dict], metric: str) -> None:
    curve = sorted(rows, key=lambda row: row["cf"])
    axes.plot(
        [row["cf"] for row in curve],
        [row[metric] for row in curve],
        marker="s",
        markersize=4,
        linestyle="--",
        label=_CODEC_LABELS.get(codec, codec),
    )


def _style_axes(axes: Axes, metric: str, title: str | None) -> None:
    axes.set_xscale("log")
    # Plain numbers at 1-2-3-5 steps: CFs like 20 or 50 read better than 10^1.3.
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("Compression factor CF = 3·H·W / bytes (log scale)")
    axes.set_ylabel(_METRIC_LABELS[metric])
    axes.grid(True, which="major", alpha=0.5)
    axes.grid(True, which="minor", alpha=0.2)
    axes.legend(fontsize=8)
    if title:
        axes.set_title(title)


def rd_table_markdown(points: list[dict]) -> str:
    """A Markdown table of the operating points, sorted by depth then bit length.

    The bits/symbol column appears only when some point carries ``bits_per_symbol`` (it is
    measured from real containers, which not every sweep produces); a point without it
    shows an em dash.
    """
    with_bits = any("bits_per_symbol" in p for p in points)
    header = ["d", "n", "CF", "PSNR (dB)", "SSIM"] + (["bits/symbol"] if with_bits else [])
    lines = [_markdown_row(header), _markdown_row(["---:"] * len(header))]
    for p in sorted(points, key=lambda p: (p["d"], p["n"])):
        cells = [str(p["d"]), str(p["n"]), f"{p['cf']:.1f}", f"{p['psnr']:.2f}", f"{p['ssim']:.4f}"]
        if with_bits:
            bits = p.get("bits_per_symbol")
            cells.append("—" if bits is None else f"{bits:.3f}")
        lines.append(_markdown_row(cells))
    return "\n".join(lines)


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
