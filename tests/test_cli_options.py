"""Options generated from configuration knobs: the flags' defaults are the configs' defaults."""

from dataclasses import fields

import click
import pytest

from latentlink.cli.codec import train_codec
from latentlink.cli.options import config_options
from latentlink.cli.seg import RECIPE, train_seg
from latentlink.cli.table1 import table1
from latentlink.experiments.table1_config import Table1Config
from latentlink.training.codec_config import CodecTrainConfig
from latentlink.training.seg_config import SegTrainConfig


def parsed(command: click.Command, *args: str) -> dict:
    """The values ``command`` would receive for ``args`` (defaults filled in, callbacks run)."""
    with command.make_context(command.name, list(args)) as context:
        return dict(context.params)


def config_part(values: dict, config: type) -> dict:
    names = {item.name for item in fields(config)}
    return {name: value for name, value in values.items() if name in names}


def test_train_codec_defaults_are_the_config_defaults():
    values = config_part(parsed(train_codec, "--data-root", "frames"), CodecTrainConfig)
    assert values.pop("bf16") is None  # chosen for the machine when the command runs
    assert CodecTrainConfig(**values, bf16=False) == CodecTrainConfig(data_root="frames")
    assert len(values) == len(fields(CodecTrainConfig)) - 1


def test_train_seg_defaults_are_the_config_defaults():
    values = config_part(parsed(train_seg, "--data-root", "frames"), SegTrainConfig)
    assert SegTrainConfig(**values) == SegTrainConfig(data_root="frames")
    unexposed = {"ohem_threshold", "ohem_min_kept"}
    assert set(values) == {item.name for item in fields(SegTrainConfig)} - unexposed


def test_table1_defaults_are_the_config_defaults_and_the_recipe_the_trainers():
    values = parsed(table1, "--data-root", "frames")
    recipe = {name: values.pop(name) for name in RECIPE}
    assert Table1Config(**config_part(values, Table1Config)) == Table1Config(data_root="frames")
    defaults = SegTrainConfig()
    assert recipe == {name: getattr(defaults, name) for name in RECIPE}


def test_flags_become_config_values():
    values = parsed(table1, "--data-root", "data/camvid/", "--depths", "3,1,3", "--out-dir",
                    "./runs/t/", "--fp32", "--lr", "0.01")
    assert values["data_root"] == "data/camvid" and values["out_dir"] == "runs/t"
    assert values["depths"] == (1, 3) and values["bf16"] is False and values["lr"] == 0.01


def test_the_data_root_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LATENTLINK_DATA_ROOT", "from/env/")
    assert parsed(train_seg)["data_root"] == "from/env"


def test_only_knobs_become_options():
    with pytest.raises(TypeError, match="ohem_threshold"):
        config_options(SegTrainConfig, "ohem_threshold")
