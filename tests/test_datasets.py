from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentlink.data.datasets import (
    CITYSCAPES_IGNORE,
    DatasetError,
    list_samples,
    load_label,
    load_rgb,
)
from latentlink.data.synthetic import synthetic_scene
from tests.conftest import write_png


def make_cityscapes(root: Path, frames_per_city: int = 10) -> None:
    """A tiny tree in the official layout: leftImg8bit/{train,val}/CITY/*, gtFine likewise."""
    for official, cities in (("train", ("aachen", "bremen")), ("val", ("frankfurt",))):
        for city in cities:
            for i in range(frames_per_city):
                stem = f"{city}_{i:06d}_000019"
                image, _ = synthetic_scene(16, 32, i)
                write_png(root / "leftImg8bit" / official / city / f"{stem}_leftImg8bit.png", image)
                label_ids = np.full((16, 32), 7, np.uint8)  # 7 = road → train id 0
                label_ids[:4] = 23  # 23 = sky → train id 10
                label_ids[4:6] = 1  # 1 = ego vehicle → ignored
                write_png(
                    root / "gtFine" / official / city / f"{stem}_gtFine_labelIds.png", label_ids
                )


def test_camvid_layout(synthetic_camvid):
    samples = list_samples("camvid", synthetic_camvid, "train")
    assert len(samples) == 6
    assert all(s.label is not None and s.label.parent.name == "trainannot" for s in samples)
    assert load_rgb(samples[0].image).shape == (64, 96, 3)
    assert load_label(samples[0].label, "camvid").max() <= 11


def test_camvid_jpeg_frames_keep_their_png_labels(tmp_path):
    image, label = synthetic_scene(16, 24, 3)
    (tmp_path / "train").mkdir()
    Image.fromarray(image).save(tmp_path / "train" / "a.jpg", quality=95)
    Image.fromarray(image).save(tmp_path / "train" / "b.jpg", quality=95)
    write_png(tmp_path / "trainannot" / "a.png", label)
    samples = list_samples("camvid", tmp_path, "train")
    assert [s.label for s in samples] == [tmp_path / "trainannot" / "a.png", None]
    assert np.array_equal(load_label(samples[0].label, "camvid"), label)


def test_camvid_missing_split_is_a_clear_error(synthetic_camvid):
    with pytest.raises(DatasetError, match="does not exist"):
        list_samples("camvid", synthetic_camvid, "test")


def test_cityscapes_paper_split(tmp_path):
    make_cityscapes(tmp_path)
    train = list_samples("cityscapes", tmp_path, "train")
    val = list_samples("cityscapes", tmp_path, "val")
    test = list_samples("cityscapes", tmp_path, "test")
    assert len(train) + len(val) == 20, "the official train split is divided, nothing lost"
    assert not {s.image for s in train} & {s.image for s in val}
    assert 10 <= len(train) <= 19 and len(val) >= 1
    assert len(test) == 10 and all("frankfurt" in s.name for s in test)
    assert list_samples("cityscapes", tmp_path, "train") == train, "the split is deterministic"


def test_cityscapes_label_ids_map_to_train_ids(tmp_path):
    make_cityscapes(tmp_path, frames_per_city=1)
    sample = list_samples("cityscapes", tmp_path, "test")[0]
    label = load_label(sample.label, "cityscapes")
    assert set(np.unique(label)) == {0, 10, CITYSCAPES_IGNORE}
    assert (label[:4] == 10).all() and (label[4:6] == CITYSCAPES_IGNORE).all()


def test_cityscapes_rejects_unknown_split(tmp_path):
    with pytest.raises(DatasetError, match="train, val or test"):
        list_samples("cityscapes", tmp_path, "extra")


def test_plain_folder(tmp_path):
    for i in range(3):
        write_png(tmp_path / f"{i}.png", synthetic_scene(16, 16, i)[0])
    (tmp_path / "notes.txt").write_text("not an image")
    assert [s.name for s in list_samples("folder", tmp_path)] == ["0", "1", "2"]


def test_empty_folder_and_unknown_dataset(tmp_path):
    with pytest.raises(DatasetError, match="no images"):
        list_samples("folder", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        list_samples("kitti", tmp_path)


def test_synthetic_scene_is_deterministic_and_labelled():
    image, label = synthetic_scene(48, 64, seed=3)
    again, _ = synthetic_scene(48, 64, seed=3)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    np.testing.assert_array_equal(image, again)
    assert {1, 3}.issubset(set(np.unique(label)))  # buildings and road at least
    with pytest.raises(ValueError):
        synthetic_scene(4, 4, 0)


@pytest.mark.camvid
def test_real_camvid_split_sizes(camvid_root):
    assert len(list_samples("camvid", camvid_root, "train")) == 367
    assert len(list_samples("camvid", camvid_root, "val")) == 101
