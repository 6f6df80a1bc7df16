"""``latentlink table1``: the paper's Table I (and a Fig. 7-style panel) on one data set."""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli_common import UserError, data_root_option, dataset_option
from latentlink.data.datasets import DatasetError
from latentlink.seg_cli import cache_option, codec_weights_option, recipe_options


def parse_depths(_context, _parameter, value: str) -> tuple[int, ...]:
    try:
        depths = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    except ValueError as error:
        raise click.BadParameter(
            f"expected comma-separated depths like 1,2,3, got {value!r}") from error
    if not depths or not all(1 <= d <= 3 for d in depths):
        raise click.BadParameter(f"depths must be among 1, 2, 3, got {value!r}")
    return depths


@click.command("table1")
@dataset_option
@data_root_option
@click.option("--preset", type=click.Choice(["lite", "paper"]), default="lite", show_default=True,
              help="Segmenter size: lite (CPU) or paper (ResNet-50 widths, GPU).")
@click.option("--train-split", default="train", show_default=True)
@click.option("--val-split", default="val", show_default=True,
              help="Split the training runs select their best checkpoint on.")
@click.option("--test-split", default="val", show_default=True,
              help="Split the table is measured on (CamVid's SegNet layout has no labelled test "
                   "split beside val in ../shared; Cityscapes: 'test' is the official val).")
@codec_weights_option
@click.option("--depths", default="1,2,3", show_default=True, callback=parse_depths,
              help="Depths d of the proposed rows.")
@click.option("--reference-depth", type=click.IntRange(1, 3), default=2, show_default=True,
              help="The d whose codec BL 2–4 use (the paper's CF 66 operating point).")
@recipe_options
@cache_option
@click.option("--test-limit", type=click.IntRange(0), default=0, show_default=True,
              help="Measure on the first N test frames only (0 = all).")
@click.option("--figure-frames", type=click.IntRange(1), default=3, show_default=True,
              help="Frames (rows) in the Fig. 7-style panel.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("runs/table1"), show_default=True,
              help="Segmenters (OUT_DIR/<row>/segmenter.pt), cached evaluations and the report.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Markdown report [default: OUT_DIR/table1.md].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON results [default: OUT_DIR/table1.json].")
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Fig. 7-style PNG [default: OUT_DIR/table1_masks.png].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def table1(dataset: str, data_root: Path, preset: str, train_split: str, val_split: str,
           test_split: str, codec_weights: str, depths: tuple[int, ...], reference_depth: int,
           cache_dir: Path, test_limit: int, figure_frames: int, out_dir: Path,
           markdown_path: Path | None, json_path: Path | None, figure_path: Path | None,
           quiet: bool, **recipe) -> None:  # recipe: exactly the flags of recipe_options
    """Reproduce Table I: proposed for each d and BL 1–4, with costs and a mask figure.

    Segmenters missing from OUT_DIR are trained with the recipe flags (all rows share them, so
    the comparison is at one budget); existing ones are reused, interrupted ones resumed.
    """
    from latentlink.evaluation.table1 import Table1, Table1Config
    from latentlink.evaluation.table1_report import table1_markdown, write_table1
    from latentlink.models.segmenter_weights import SegmenterWeightsError
    from latentlink.models.weights import WeightsError

    config = Table1Config(
        dataset=dataset, data_root=str(data_root), train_split=train_split, val_split=val_split,
        test_split=test_split, preset=preset, codec_weights=codec_weights, depths=depths,
        reference_depth=reference_depth, out_dir=str(out_dir), cache_dir=str(cache_dir),
        test_limit=test_limit, figure_frames=figure_frames,
        train=recipe)
    try:
        builder = Table1(config, log=click.echo, show_progress=not quiet)
        table = builder.build()
    except (DatasetError, WeightsError, SegmenterWeightsError, ValueError) as error:
        raise UserError(str(error)) from error
    markdown_path = markdown_path or out_dir / "table1.md"
    json_path = json_path or out_dir / "table1.json"
    figure_path = figure_path or out_dir / "table1_masks.png"
    write_table1(table, markdown_path, json_path)
    builder.draw_figure(table, figure_path)
    click.echo(table1_markdown(table))
    click.echo(f"wrote {markdown_path}, {json_path} and {figure_path}")
