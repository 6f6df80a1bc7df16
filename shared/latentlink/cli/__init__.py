"""``latentlink``: the ML engineer's command line (train, evaluate, export, benchmark).

One module per command group; this one only assembles them. Each command imports its heavy
modules (torch, onnx) lazily so that ``latentlink --help`` is instant and a clear message, not a
traceback, greets a missing optional dependency.
"""

from __future__ import annotations

import click

from latentlink.cli.codec import export_onnx, export_weights, train_codec
from latentlink.cli.demo import demo
from latentlink.cli.evaluate import bench_huffman, eval_codec, sweep_codec
from latentlink.cli.rd import rd_curves
from latentlink.cli.seg import eval_seg, model_stats, train_seg
from latentlink.cli.table1 import table1


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="latentlink")
def main() -> None:
    """LatentLink ML tooling: train and evaluate the learned codec, export it for vehicles."""


for command in (train_codec, export_weights, export_onnx, eval_codec, sweep_codec, bench_huffman,
                demo, train_seg, eval_seg, model_stats, table1, rd_curves):
    main.add_command(command)
