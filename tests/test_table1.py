"""``latentlink table1``: every row trained and measured on a tiny CamVid tree, reuse, errors."""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentlink.cli import main
from latentlink.data.palette import CAMVID_COLOURS, VOID_COLOUR, colourise
from latentlink.evaluation.seg_figure import plot_masks
from latentlink.experiments.table1 import COST_PARTS, table1_methods
from latentlink.experiments.table1_report import table1_markdown
from latentlink.training.seg_config import SegTrainConfig
from tests.test_datasets import make_cityscapes

ROWS = ["proposed_d1", "proposed_d2", "proposed_d3", "bl1", "bl2", "bl3", "bl4"]
TINY_RECIPE = ["--iterations", "2", "--val-every", "2", "--batch-size", "2", "--crop-size", "64",
               "--threads", "1", "--quiet", "--figure-frames", "2"]


pytestmark = pytest.mark.usefixtures("one_thread")


def run_table1(root, out_dir, *extra):
    args = ["table1", "--data-root", str(root), "--out-dir", str(out_dir),
            "--cache-dir", str(out_dir / "cache"), *TINY_RECIPE, *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def built(synthetic_camvid, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("table1")
    result = run_table1(synthetic_camvid, out_dir)
    assert result.exit_code == 0, result.output
    return out_dir, json.loads((out_dir / "table1.json").read_text())


def test_every_row_is_trained_measured_and_costed(built):
    out_dir, table = built
    rows = {row["key"]: row for row in table["rows"]}
    assert list(rows) == ROWS
    for key in ("proposed_d1", "proposed_d2", "proposed_d3", "bl1", "bl3", "bl4"):
        assert (out_dir / key / "segmenter.pt").is_file()
    assert not (out_dir / "bl2").joinpath("segmenter.pt").exists()
    assert rows["bl2"]["segmenter"] == rows["bl1"]["segmenter"]
    for row in rows.values():
        assert 0 <= row["dice"] <= 1 and 0 <= row["miou"] <= 1
        assert row["total_macs"] == sum(part["macs"] for part in row["parts"].values()) > 0
    # the proposed pipeline never runs net_D or the image stem; BL 2/3 run all four parts
    assert set(rows["proposed_d2"]["parts"]) == {"net_C", "net_seg,D"}
    assert set(rows["bl3"]["parts"]) == set(COST_PARTS)
    assert set(rows["bl1"]["parts"]) == set(rows["bl4"]["parts"]) == {"net_seg,E", "net_seg,D"}
    # quality columns: codec rows carry their codec's CF, BL 2/3 the reference codec's
    assert rows["proposed_d1"]["cf"] < rows["proposed_d2"]["cf"]
    assert rows["bl2"]["cf"] == rows["bl3"]["cf"] == rows["proposed_d2"]["cf"]
    assert rows["bl1"]["cf"] == 1.0 and rows["bl1"]["psnr"] is None
    assert table["jpeg_cf"] == round(rows["proposed_d2"]["cf"])
    assert rows["bl4"]["cf"] >= table["jpeg_cf"] - 1e-9
    assert rows["proposed_d2"]["paper"]["dice"] == 0.84


def test_report_files(built):
    out_dir, table = built
    markdown = (out_dir / "table1.md").read_text()
    assert markdown == table1_markdown(table) + "\n"
    for row in table["rows"]:
        assert row["label"] in markdown
    assert "- paper:    BL 1 > BL 2 > proposed d1 = BL 3 > proposed d2 > BL 4 > proposed d3" \
        in markdown
    assert "masks" not in table["figure"] and len(table["figure"]["frames"]) == 2
    with Image.open(out_dir / "table1_masks.png") as image:
        width, height = image.size
    assert width > 4 * height  # nine columns, two rows


def test_a_rerun_reuses_segmenters_and_evaluations(built, synthetic_camvid):
    out_dir, table = built
    stamps = {path: path.stat().st_mtime_ns for path in out_dir.glob("*/segmenter.pt")}
    evaluations = {path: path.stat().st_mtime_ns for path in out_dir.glob("*/eval_val.json")}
    result = run_table1(synthetic_camvid, out_dir, "--json", str(out_dir / "again.json"))
    assert result.exit_code == 0, result.output
    assert "training" not in result.output
    assert {p: p.stat().st_mtime_ns for p in out_dir.glob("*/segmenter.pt")} == stamps
    assert {p: p.stat().st_mtime_ns for p in out_dir.glob("*/eval_val.json")} == evaluations
    assert json.loads((out_dir / "again.json").read_text())["rows"] == table["rows"]


def test_changed_weights_are_measured_again(synthetic_camvid, built, tmp_path):
    """Evaluations are keyed by the weights' digest: BL 1's weights in BL 3's place measure BL 2."""
    out_dir, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("cache"))
    shutil.copy(copy / "bl1" / "segmenter.pt", copy / "bl3" / "segmenter.pt")
    result = run_table1(synthetic_camvid, copy, "--cache-dir", str(out_dir / "cache"))
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row for row in json.loads((copy / "table1.json").read_text())["rows"]}
    assert rows["bl3"]["dice"] == rows["bl2"]["dice"]
    assert rows["bl3"]["per_class"] == rows["bl2"]["per_class"]


def test_a_wrong_segmenter_in_a_row_is_a_clear_error(synthetic_camvid, built, tmp_path):
    out_dir, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("cache"))
    shutil.copy(copy / "proposed_d2" / "segmenter.pt", copy / "bl1" / "segmenter.pt")
    result = run_table1(synthetic_camvid, copy, "--cache-dir", str(out_dir / "cache"))
    assert result.exit_code == 2
    assert "takes latents" in result.output and "BL 1" in result.output


def test_bl3_trained_on_another_net_d_is_a_clear_error(synthetic_camvid, built, tmp_path):
    """net_D can change under one codec id; BL 3 learned from its pictures: never reused."""
    out_dir, _ = built
    bl3 = out_dir / "bl3" / "segmenter.pt"
    blob = torch.load(bl3, weights_only=True)
    assert len(blob["provenance"]["net_D"]) == 16  # recorded when BL 3 was trained
    copy = tmp_path / "copy"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("cache"))
    blob["provenance"]["net_D"] = "0" * 16
    torch.save(blob, copy / "bl3" / "segmenter.pt")
    result = run_table1(synthetic_camvid, copy, "--cache-dir", str(out_dir / "cache"))
    assert result.exit_code == 2
    assert "another net_D" in result.output and "bl3" in result.output


def test_latent_rows_trained_with_another_input_norm_are_a_clear_error(synthetic_camvid, built,
                                                                       tmp_path):
    """The default recipe normalises latent inputs; a row trained without it is not reused."""
    out_dir, _ = built
    blob = torch.load(out_dir / "proposed_d2" / "segmenter.pt", weights_only=True)
    assert blob["config"]["input_norm"] is True
    copy = tmp_path / "copy"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("cache"))
    result = run_table1(synthetic_camvid, copy, "--cache-dir", str(out_dir / "cache"),
                        "--no-input-norm")
    assert result.exit_code == 2
    assert "--no-input-norm" in result.output and "proposed_d1" in result.output


def test_rows_trained_with_another_class_weighting_are_a_clear_error(synthetic_camvid, built,
                                                                     tmp_path):
    """Class weights change every row's result: a row trained with others is not reused."""
    out_dir, _ = built
    blob = torch.load(out_dir / "bl1" / "segmenter.pt", weights_only=True)
    assert blob["provenance"]["trained_with"]["class_weights"] == "none"
    copy = tmp_path / "copy"
    shutil.copytree(out_dir, copy, ignore=shutil.ignore_patterns("cache"))
    result = run_table1(synthetic_camvid, copy, "--cache-dir", str(out_dir / "cache"),
                        "--class-weights", "sqrt-median-frequency")
    assert result.exit_code == 2
    assert "--class-weights none" in result.output and "sqrt-median-frequency" in result.output


@pytest.mark.parametrize("flags, message", [
    (["--depths", "1,4"], "depths must be among 1, 2, 3"),
    (["--depths", "one"], "comma-separated depths"),
    (["--depths", "1,3"], "reference depth 2"),
])
def test_bad_flags(synthetic_camvid, tmp_path, flags, message):
    result = run_table1(synthetic_camvid, tmp_path, *flags)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "table1.json").exists()


def test_methods_follow_the_paper():
    methods = {m.key: m for m in table1_methods((1, 2, 3), 2)}
    assert methods["bl2"].trained_by == "bl1" and methods["bl2"].test_input == "decoded"
    assert methods["bl3"].train_input == methods["bl3"].test_input == "decoded"
    assert methods["bl4"].train_input == "jpeg" and methods["bl4"].depth is None
    assert methods["proposed_d3"].depth == 3 and methods["proposed_d3"].parts == ("net_C",
                                                                                  "net_seg,D")


def test_ordering_marks_ties():
    rows = [{"short": name, "dice": dice, "paper": None}
            for name, dice in (("a", 0.5), ("b", 0.7), ("c", 0.5004))]
    table = {"dataset": "camvid", "test_split": "val", "frames": 3, "frame_size": [8, 8],
             "preset": "lite", "reference_depth": 2, "jpeg_cf": 66.0, "rows": [
                 {**row, "label": row["short"], "train_input": "image", "test_input": "image",
                  "cf": 1.0, "miou": 0.1, "ssim": None, "psnr": None, "parts": {},
                  "total_macs": 0} for row in rows]}
    assert "- this run: b > c = a\n" in table1_markdown(table)


def test_colourise_uses_camvid_colours_and_black_void():
    labels = np.array([[0, 1], [11, 255]], dtype=np.uint8)
    rgb = colourise(labels, list(CAMVID_COLOURS))
    assert tuple(rgb[0, 0]) == CAMVID_COLOURS["sky"]
    assert tuple(rgb[0, 1]) == CAMVID_COLOURS["building"]
    assert tuple(rgb[1, 0]) == tuple(rgb[1, 1]) == VOID_COLOUR


def test_mask_panel_refuses_mismatched_inputs(tmp_path):
    frame = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="one ground truth per frame"):
        plot_masks([frame], [], {}, ["a"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="1 masks for 2 frames"):
        plot_masks([frame, frame], [mask, mask], {"m": [mask]}, ["a"], tmp_path / "x.png")


def test_cityscapes_layout_with_the_papers_split(tmp_path):
    """The paper's setting: official val as the test split, a part of train for selection."""
    make_cityscapes(tmp_path / "cityscapes")
    result = run_table1(tmp_path / "cityscapes", tmp_path / "out", "--dataset", "cityscapes",
                        "--test-split", "test", "--depths", "2")
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "out" / "table1.json").read_text())
    assert table["frames"] == 10 and len(table["classes"]) == 19
    assert [row["key"] for row in table["rows"]] == ["proposed_d2", "bl1", "bl2", "bl3", "bl4"]


def test_table1_and_train_seg_share_the_recipe_flags():
    """Every recipe flag reaches the trainer under the same name in both commands."""
    from latentlink.cli.seg import recipe_options, train_seg
    from latentlink.cli.table1 import table1

    recipe_keys = {param.name for param in recipe_options(lambda: None).__click_params__}
    assert len(recipe_keys) == 13 and {"input_norm", "class_weights"} <= recipe_keys

    for command in (table1, train_seg):
        assert set(recipe_keys) <= {param.name for param in command.params}
    assert set(recipe_keys) <= set(SegTrainConfig.__dataclass_fields__)
