"""scripts/make-device-data.py: the JPEG copy of CamVid that travels to a lent GPU machine."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from latentlink.data.datasets import list_samples, load_label, load_rgb

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make-device-data.py"


def test_copy_is_a_camvid_tree_with_lossless_labels(synthetic_camvid, tmp_path):
    out = tmp_path / "devdata"
    done = subprocess.run([sys.executable, SCRIPT, synthetic_camvid, out, "--val-step", "2"],
                          capture_output=True, text=True, check=True)
    assert "MiB" in done.stdout
    train = list_samples("camvid", out, "train")
    assert [s.image.suffix for s in train] == [".jpg"] * 6
    originals = list_samples("camvid", synthetic_camvid, "train")
    for copy, original in zip(train, originals, strict=True):
        assert copy.label.suffix == ".png"
        assert np.array_equal(load_label(copy.label, "camvid"),
                              load_label(original.label, "camvid"))
        error = np.abs(load_rgb(copy.image).astype(int) - load_rgb(original.image)).mean()
        assert error < 3, "quality 95 without chroma subsampling stays close to the PNG"
    assert len(list_samples("camvid", out, "val")) == 1, "every second val frame of 2"
    assert list_samples("folder", out, "val")[0].image.suffix == ".jpg"


def test_not_a_camvid_root_is_a_clear_error(tmp_path):
    done = subprocess.run([sys.executable, SCRIPT, tmp_path, tmp_path / "out"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "not a CamVid root" in done.stderr
