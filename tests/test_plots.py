"""RD plots render curves into a PNG of the documented size; the Markdown table is complete and
sorted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from latentlink.evaluation.plots import (
    DPI,
    FIGSIZE_INCHES,
    _draw_learned,
    plot_rd,
    rd_table_markdown,
)

POINTS = [
    {"d": 2, "n": 6, "cf": 30.5, "psnr": 29.1, "ssim": 0.871, "bits_per_symbol": 4.21},
    {"d": 1, "n": 8, "cf": 12.0, "psnr": 33.0, "ssim": 0.940, "bits_per_symbol": 6.02},
    {"d": 2, "n": 4, "cf": 52.3, "psnr": 27.0, "ssim": 0.820, "bits_per_symbol": 2.75},
    {"d": 1, "n": 5, "cf": 20.7, "psnr": 31.2, "ssim": 0.905, "bits_per_symbol": 3.88},
]
CLASSICAL = {
    "jpeg": [{"cf": 16.0, "psnr": 35.4, "ssim": 0.949}, {"cf": 66.0, "psnr": 27.7, "ssim": 0.823}],
    "avif": [{"cf": 66.0, "psnr": 30.4, "ssim": 0.882}, {"cf": 16.0, "psnr": 38.9, "ssim": 0.972}],
}


SATURATION = 80
"""Spread between a pixel's largest and smallest channel above which it is coloured: axes, ticks,
labels and the background are greys, so only the drawn curves and their labels reach it."""


def coloured_pixels(path: Path) -> int:
    """How many pixels of the figure a curve coloured; asserts the file is a PNG of the
    documented size first."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(FIGSIZE_INCHES[0] * DPI), round(FIGSIZE_INCHES[1] * DPI))
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(np.count_nonzero(pixels.max(axis=-1) - pixels.min(axis=-1) > SATURATION))


@pytest.mark.parametrize("metric", ["psnr", "ssim"])
def test_plot_rd_writes_png_of_expected_size(tmp_path: Path, metric: str) -> None:
    path = plot_rd(POINTS, metric, tmp_path / "figs" / f"{metric}.png", CLASSICAL, title="RD")
    assert coloured_pixels(path) > 1000


def test_plot_rd_without_classical_curves(tmp_path: Path) -> None:
    learned = coloured_pixels(plot_rd(POINTS, "psnr", tmp_path / "learned.png"))
    both = coloured_pixels(plot_rd(POINTS, "psnr", tmp_path / "both.png", CLASSICAL))
    assert 1000 < learned < both


@pytest.mark.filterwarnings("ignore:No artists with labels")
def test_an_empty_figure_has_no_coloured_pixels(tmp_path: Path) -> None:
    """The measure above sees curves, not the frame: without points nothing is coloured."""
    assert coloured_pixels(plot_rd([], "psnr", tmp_path / "empty.png")) == 0


def test_points_of_one_depth_join_by_curve_when_named() -> None:
    """Two ladders of one d, interleaved in CF, are two monotone lines rather than one zigzag."""
    ladders = [{"d": 2, "n": 8, "cf": cf, "psnr": psnr, "ssim": 0.8, "curve": curve}
               for curve, shift in (("before", 0.0), ("after", 0.5))
               for cf, psnr in ((50.0 + shift, 28.0 + shift), (80.0 + shift, 27.0 + shift))]
    axes = Figure().add_subplot()
    _draw_learned(axes, ladders, "psnr")
    lines = {line.get_label(): list(line.get_xdata()) for line in axes.get_lines()}
    assert lines == {"before": [50.0, 80.0], "after": [50.5, 80.5]}
    axes = Figure().add_subplot()
    _draw_learned(axes, [{k: v for k, v in p.items() if k != "curve"} for p in ladders], "psnr")
    assert [line.get_label() for line in axes.get_lines()] == ["LatentLink d=2"]


def test_plot_rd_rejects_unknown_metric(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="psnr, ssim"):
        plot_rd(POINTS, "lpips", tmp_path / "x.png")


def table_rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]


def test_markdown_table_has_one_sorted_row_per_point() -> None:
    header, separator, *rows = table_rows(rd_table_markdown(POINTS))
    assert header == ["d", "n", "CF", "PSNR (dB)", "SSIM", "bits/symbol"]
    assert all(cell.endswith("---:") for cell in separator)
    assert [(row[0], row[1]) for row in rows] == [("1", "5"), ("1", "8"), ("2", "4"), ("2", "6")]
    assert rows[0] == ["1", "5", "20.7", "31.20", "0.9050", "3.880"]


def test_markdown_table_omits_bits_column_when_absent() -> None:
    points = [{k: v for k, v in p.items() if k != "bits_per_symbol"} for p in POINTS]
    header, _, *rows = table_rows(rd_table_markdown(points))
    assert header == ["d", "n", "CF", "PSNR (dB)", "SSIM"]
    assert len(rows) == len(POINTS)
