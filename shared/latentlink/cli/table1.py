"""``latentlink table1``: the paper's Table I (and a Fig. 7-style panel) on one data set.

The table's own options are :class:`Table1Config`'s knobs; the recipe flags, the codec weights
and the latent cache are :class:`SegTrainConfig`'s, because every row's training receives them.
"""

from __future__ import annotations

from pathlib import Path

import click

from latentlink.cli.common import UserError
from latentlink.cli.options import config_options
from latentlink.cli.seg import RECIPE, recipe_options
from latentlink.data.datasets import DatasetError
from latentlink.experiments.table1_config import Table1Config
from latentlink.training.seg_config import SegTrainConfig


@click.command("table1")
@config_options(Table1Config, "dataset", "data_root", "preset", "train_split", "val_split",
                "test_split")
@config_options(SegTrainConfig, "codec_weights")
@config_options(Table1Config, "depths", "reference_depth")
@recipe_options
@config_options(SegTrainConfig, "cache_dir")
@config_options(Table1Config, "test_limit", "figure_frames", "out_dir")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Markdown report [default: OUT_DIR/table1.md].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON results [default: OUT_DIR/table1.json].")
@click.option("--figure", "figure_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Fig. 7-style PNG [default: OUT_DIR/table1_masks.png].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def table1(markdown_path: Path | None, json_path: Path | None, figure_path: Path | None,
           quiet: bool, **options) -> None:
    """Reproduce Table I: proposed for each d and BL 1–4, with costs and a mask figure.

    Segmenters missing from OUT_DIR are trained with the recipe flags (all rows share them, so
    the comparison is at one budget); existing ones are reused, interrupted ones resumed.
    """
    from latentlink.experiments.table1 import Table1
    from latentlink.experiments.table1_report import table1_markdown, write_table1
    from latentlink.models.segmenter_weights import SegmenterWeightsError
    from latentlink.models.weights import WeightsError

    recipe = {name: options.pop(name) for name in RECIPE}
    config = Table1Config(**options, train=recipe)
    try:
        builder = Table1(config, log=click.echo, show_progress=not quiet)
        table = builder.build()
    except (DatasetError, WeightsError, SegmenterWeightsError, ValueError) as error:
        raise UserError(str(error)) from error
    out_dir = Path(config.out_dir)
    markdown_path = markdown_path or out_dir / "table1.md"
    json_path = json_path or out_dir / "table1.json"
    figure_path = figure_path or out_dir / "table1_masks.png"
    write_table1(table, markdown_path, json_path)
    builder.draw_figure(table, figure_path)
    click.echo(table1_markdown(table))
    click.echo(f"wrote {markdown_path}, {json_path} and {figure_path}")
