"""Segmenter training: latent cache, crops, loss, a few real steps, checkpoints and the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from latentlink.cli import main
from latentlink.cli.seg import seg
from latentlink.codec import container
from latentlink.codec.quantize import float2int
from latentlink.data.datasets import CAMVID_CLASSES, load_label, load_rgb
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.inference import TorchCodec
from latentlink.models.segmenter_weights import load_segmenter
from latentlink.training import latent_cache
from latentlink.training.augment import FrameAugmentation, augment_pair, draw_augmentation
from latentlink.training.latent_cache import (
    LatentCacheError,
    cache_path,
    cached_latents,
    load_latents,
    save_latents,
)
from latentlink.training.seg_config import INPUTS, SegTrainConfig
from latentlink.training.seg_data import (
    load_split,
    loss_class_weights,
    median_frequency_weights,
)
from latentlink.training.seg_trainer import SegTrainer, poly_lr, segmentation_loss

IGNORE = len(CAMVID_CLASSES)


pytestmark = pytest.mark.usefixtures("one_thread")


def random_codec(depth: int = 2, seed: int = 0) -> TorchCodec:
    torch.manual_seed(seed)
    return TorchCodec(Codec(CodecConfig(depth=depth)))


# -- latent cache ------------------------------------------------------------------------------
def test_cache_holds_what_the_container_carries(synthetic_camvid, tmp_path):
    runner = random_codec()
    frames = cached_latents(runner, "camvid", synthetic_camvid, "val", tmp_path,
                            show_progress=False)
    path = cache_path(tmp_path, runner.codec_id, 8, "camvid", "val")
    assert path == tmp_path / runner.codec_id / "n8" / "camvid-val.npz" and path.is_file()
    image = load_rgb(synthetic_camvid / "val" / "frame_000.png")
    meta = container.CaptureMeta(vehicle="car", frame="f", ts=0.0)
    shipped = container.unpack(runner.encode(image, meta))
    cached = frames[0].quantized
    assert frames[0].name == "frame_000" and frames[0].size == (64, 96)
    np.testing.assert_array_equal(cached.codes, shipped.quantized.codes)
    assert (cached.low, cached.high) == (shipped.header.lo, shipped.header.hi)
    assert frames[0].latent().dtype == np.float32


def test_cache_is_reused_and_checked(synthetic_camvid, tmp_path, monkeypatch):
    runner = random_codec()
    first = cached_latents(runner, "camvid", synthetic_camvid, "val", tmp_path, show_progress=False)

    def fail(*_args, **_kwargs):
        raise AssertionError("net_C ran again although the cache was valid")

    monkeypatch.setattr(latent_cache, "encode_frames", fail)
    again = cached_latents(runner, "camvid", synthetic_camvid, "val", tmp_path,
                           show_progress=False)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.quantized.codes, b.quantized.codes)
        assert (a.name, a.size, a.quantized.low) == (b.name, b.size, b.quantized.low)
    path = cache_path(tmp_path, runner.codec_id, 8, "camvid", "val")
    with pytest.raises(LatentCacheError, match="not of codec"):
        load_latents(path, "0" * 16, 8)
    with pytest.raises(LatentCacheError, match="n=6"):
        load_latents(path, runner.codec_id, 6)


def test_cache_is_rebuilt_when_the_frames_change(synthetic_camvid, tmp_path):
    runner = random_codec()
    frames = cached_latents(runner, "camvid", synthetic_camvid, "val", tmp_path,
                            show_progress=False)
    path = cache_path(tmp_path, runner.codec_id, 8, "camvid", "val")
    save_latents(path, frames[:1], runner.codec_id)       # a stale cache with one frame
    rebuilt = cached_latents(runner, "camvid", synthetic_camvid, "val", tmp_path,
                             show_progress=False)
    assert [f.name for f in rebuilt] == ["frame_000", "frame_001"]


def test_mirrored_latents_are_net_c_of_the_flipped_frame(synthetic_camvid, tmp_path):
    runner = random_codec(depth=1)
    mirrored = cached_latents(runner, "camvid", synthetic_camvid, "val", tmp_path, mirrored=True,
                              show_progress=False)
    image = load_rgb(synthetic_camvid / "val" / "frame_001.png")
    expected = float2int(runner.compress(np.ascontiguousarray(image[:, ::-1])), 8)
    np.testing.assert_array_equal(mirrored[1].quantized.codes, expected.codes)


# -- data, loss, schedule ----------------------------------------------------------------------
def test_latent_and_label_crops_stay_aligned(synthetic_camvid, tmp_path):
    runner = random_codec(depth=2)
    data = load_split("latent", "camvid", synthetic_camvid, "val", runner=runner,
                      cache_dir=tmp_path, show_progress=False)
    rng = np.random.default_rng(0)
    inputs, labels = data.batch([0, 1], 32, rng)
    assert tuple(inputs.shape) == (2, 16, 4, 4) and tuple(labels.shape) == (2, 32, 32)
    # A crop larger than the frame is the whole frame: latent and label as stored.
    inputs, labels = data.batch([1], 1000, rng)
    np.testing.assert_allclose(inputs[0].numpy(), data.frames[1].data.latent())
    label = load_label(synthetic_camvid / "valannot" / "frame_001.png", "camvid")
    np.testing.assert_array_equal(labels[0].numpy(), label)


def test_image_crops_include_flips(synthetic_camvid):
    data = load_split("image", "camvid", synthetic_camvid, "val", mirrored=True)
    assert data.stride == 1 and len(data.alternates) == 1
    mirrored = data.alternates[0]
    np.testing.assert_array_equal(mirrored[0].data, data.frames[0].data[:, ::-1])
    np.testing.assert_array_equal(mirrored[0].label, data.frames[0].label[:, ::-1])
    inputs, labels = data.batch([0, 1, 0], 40, np.random.default_rng(1))
    assert tuple(inputs.shape) == (3, 3, 40, 40) and tuple(labels.shape) == (3, 40, 40)


def test_loss_ignores_void_and_survives_all_void_crops():
    logits = torch.randn(2, 11, 4, 4, requires_grad=True)
    target = torch.full((2, 16, 16), IGNORE)
    loss = segmentation_loss(logits, target, IGNORE)
    assert loss.item() == 0.0
    loss.backward()
    target[0, :8] = 3
    plain = segmentation_loss(logits, target, IGNORE)
    assert torch.isfinite(plain) and plain > 0
    everything = segmentation_loss(logits, target, IGNORE, ohem_threshold=0.0,
                                   ohem_min_kept=10**6)
    assert everything.item() == pytest.approx(plain.item())
    hard = segmentation_loss(logits, target, IGNORE, ohem_threshold=0.0, ohem_min_kept=10)
    assert hard.item() >= plain.item()


def test_poly_schedule():
    config = SegTrainConfig(lr=0.01, iterations=100)
    assert poly_lr(config, 0) == pytest.approx(0.01)
    assert poly_lr(config, 50) == pytest.approx(0.01 * 0.5**0.9)


# -- training ----------------------------------------------------------------------------------
@pytest.mark.parametrize("input_name", ["latent", "image"])
def test_a_few_steps_lower_the_loss(synthetic_camvid, tmp_path, input_name):
    config = SegTrainConfig(input=input_name, data_root=str(synthetic_camvid), val_frames=1,
                            lr=0.02, iterations=1000, out_dir=str(tmp_path / "run"),
                            cache_dir=str(tmp_path / "cache"))
    runner = random_codec() if input_name == "latent" else None
    trainer = SegTrainer(config, runner, log=lambda _: None, show_progress=False)
    batch = trainer.train_data.batch(range(4), 64, np.random.default_rng(0))
    losses = [trainer.train_step(*batch) for _ in range(12)]
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3])


def test_trainer_weights_its_loss_from_the_training_labels(synthetic_camvid, tmp_path):
    common = {"input": "image", "data_root": str(synthetic_camvid), "val_frames": 1,
              "cache_dir": str(tmp_path / "cache")}
    plain = SegTrainer(SegTrainConfig(out_dir=str(tmp_path / "a"), **common), None,
                       log=lambda _: None, show_progress=False)
    logged = []
    weighted = SegTrainer(SegTrainConfig(class_weights="sqrt-median-frequency",
                                         out_dir=str(tmp_path / "b"), **common), None,
                          log=logged.append, show_progress=False)
    expected = median_frequency_weights([f.label for f in weighted.train_data.frames],
                                        len(CAMVID_CLASSES), IGNORE, sqrt=True)
    assert plain.class_weights is None
    np.testing.assert_allclose(weighted.class_weights.cpu().numpy(), expected)
    assert any(line.startswith("class weights: sky") for line in logged)


def test_factorized_latents_reach_the_segmenter_centred(synthetic_camvid, tmp_path):
    """A segmenter of factorized latents stores the centring affine with its weights."""
    torch.manual_seed(0)
    runner = TorchCodec(Codec(CodecConfig(depth=2, arch="factorized")))
    config = SegTrainConfig(data_root=str(synthetic_camvid), iterations=1, val_frames=1,
                            out_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    trainer = SegTrainer(config, runner, log=lambda _: None, show_progress=False)
    assert trainer.model_config.input_offset == pytest.approx(128 / 255)
    assert trainer.model_config.input_scale == pytest.approx(255 / 16)
    trainer.run(show_progress=False)
    _, saved, _ = load_segmenter(trainer.export_best(tmp_path / "seg.pt"))
    assert saved.input_offset == trainer.model_config.input_offset


def test_run_checkpoints_resumes_and_exports(synthetic_camvid, tmp_path):
    runner = random_codec()
    options = {"data_root": str(synthetic_camvid), "batch_size": 2, "crop_size": 32,
               "val_every": 2, "out_dir": str(tmp_path / "run"),
               "cache_dir": str(tmp_path / "cache")}
    trainer = SegTrainer(SegTrainConfig(iterations=2, **options), runner, log=lambda _: None,
                         show_progress=False)
    trainer.run(show_progress=False)
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "last.pt").is_file()
    longer = SegTrainer(SegTrainConfig(iterations=4, **options), runner, log=lambda _: None,
                        show_progress=False)
    longer.resume(tmp_path / "run" / "last.pt")
    assert longer.iteration == 2
    longer.run(show_progress=False)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").open()]
    assert [r["iteration"] for r in history] == [2, 4]
    longer.export_best(tmp_path / "seg.pt")
    _, config, meta = load_segmenter(tmp_path / "seg.pt")
    assert config.input_kind == "latent" and meta["codec_id"] == runner.codec_id
    assert meta["class_names"] == CAMVID_CLASSES and meta["provenance"]["iterations_run"] in (2, 4)
    other = SegTrainer(SegTrainConfig(iterations=4, **options), random_codec(seed=1),
                       log=lambda _: None, show_progress=False)
    with pytest.raises(ValueError, match="trained with codec"):
        other.resume(tmp_path / "run" / "last.pt")


# -- command line ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def codec_file(synthetic_camvid, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg-cli")
    result = CliRunner().invoke(main, [
        "train-codec", "--data-root", str(synthetic_camvid), "--depth", "2", "--epochs", "1",
        "--lr", "1e-3", "--batch-size", "4", "--patch-size", "32", "--threads", "1", "--quiet",
        "--out-dir", str(out / "codec-run"), "--export", str(out / "codec.pt"),
    ])
    assert result.exit_code == 0, result.output
    return out / "codec.pt"


def train_args(root, tmp_path, input_name, codec):
    return ["train-seg", "--input", input_name, "--data-root", str(root), "--codec-weights",
            str(codec), "--iterations", "2", "--val-every", "2", "--batch-size", "2",
            "--crop-size", "32", "--jpeg-cf", "10", "--threads", "1", "--quiet",
            "--out-dir", str(tmp_path / f"run-{input_name}"), "--cache-dir", str(tmp_path / "c"),
            "--export", str(tmp_path / f"seg-{input_name}.pt")]


def eval_args(root, tmp_path, input_name, codec, *extra):
    return ["eval-seg", "--weights", str(tmp_path / f"seg-{input_name}.pt"), "--input",
            input_name, "--data-root", str(root), "--codec-weights", str(codec), "--jpeg-cf",
            "10", "--cache-dir", str(tmp_path / "c"), *extra]


def test_cli_offers_every_trainer_input_without_importing_torch():
    choices = {param.name: param.type for param in seg.commands["train-seg"].params}["input"]
    assert tuple(choices.choices) == INPUTS
    code = "import sys, latentlink.cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("input_name", ["latent", "decoded", "jpeg"])
def test_cli_train_then_eval(synthetic_camvid, codec_file, tmp_path, input_name):
    result = CliRunner().invoke(seg, train_args(synthetic_camvid, tmp_path, input_name,
                                                codec_file))
    assert result.exit_code == 0, result.output
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(seg, eval_args(synthetic_camvid, tmp_path, input_name, codec_file,
                                               "--json", str(out)))
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["frames"] == 2 and 0 <= summary["dice"] <= 1 and 0 <= summary["miou"] <= 1
    assert set(summary["per_class"]) == set(CAMVID_CLASSES)


def test_cli_refuses_another_codec_and_the_wrong_input(synthetic_camvid, codec_file, tmp_path):
    result = CliRunner().invoke(seg, train_args(synthetic_camvid, tmp_path, "latent", codec_file))
    assert result.exit_code == 0, result.output
    _, _, meta = load_segmenter(tmp_path / "seg-latent.pt")
    # The same net_C at another n is another codec id: its latents are refused.
    result = CliRunner().invoke(seg, eval_args(synthetic_camvid, tmp_path, "latent", codec_file,
                                               "--bits", "6"))
    assert result.exit_code == 2 and meta["codec_id"] in result.output
    assert "trained on latents of codec" in result.output
    weights = eval_args(synthetic_camvid, tmp_path, "latent", codec_file)[:4]
    result = CliRunner().invoke(seg, [*weights, "image", "--data-root", str(synthetic_camvid)])
    assert result.exit_code == 2 and "needs a segmenter of images" in result.output


def test_cli_default_weights_and_existing_runs(synthetic_camvid, tmp_path):
    result = CliRunner().invoke(seg, ["eval-seg", "--data-root", str(synthetic_camvid)])
    if result.exit_code != 0:
        assert result.exit_code == 2 and "not been trained" in result.output
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"")
    result = CliRunner().invoke(seg, ["train-seg", "--input", "image", "--data-root",
                                      str(synthetic_camvid), "--out-dir", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--resume" in result.output


def test_cli_model_stats(tmp_path):
    out = tmp_path / "stats.json"
    result = CliRunner().invoke(seg, ["model-stats", "--height", "37", "--width", "53", "--depth",
                                      "3", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    parts = {row["part"]: row for row in report["parts"]}
    assert parts["net_C"]["params"] > 0 and parts["net_seg,D'"]["macs"] > 0
    assert parts["net_seg,D"]["macs"] + parts["net_seg,E"]["macs"] > parts["net_seg,D"]["macs"]
    assert "proposed (latent)" in result.output


def test_augmented_views_are_reproducible_and_aligned(synthetic_camvid, tmp_path):
    """Augmented latents come from net_C on the augmented frame (cached per view and seed), and
    their labels cover exactly the latent's area, so crops stay aligned."""
    torch.manual_seed(0)
    runner = TorchCodec(Codec(CodecConfig(depth=1, arch="factorized")))
    data = load_split("latent", "camvid", synthetic_camvid, "val", runner=runner,
                      cache_dir=tmp_path, mirrored=True, augment_views=2, seed=3,
                      show_progress=False)
    assert len(data.alternates) == 3
    for view in data.alternates[1:]:
        for frame, plain in zip(view, data.frames, strict=True):
            h, w = frame.input_shape
            assert frame.label.shape == (h * 4, w * 4)
            assert h >= plain.input_shape[0] and w >= plain.input_shape[1]
    cached = sorted(p.name for p in tmp_path.rglob("*.npz"))
    assert "camvid-val-aug1-v1-seed3.npz" in cached and "camvid-val-aug2-v1-seed3.npz" in cached
    again = load_split("latent", "camvid", synthetic_camvid, "val", runner=runner,
                       cache_dir=tmp_path, augment_views=2, seed=3, show_progress=False)
    np.testing.assert_array_equal(again.alternates[0][0].data.quantized.codes,
                                  data.alternates[1][0].data.quantized.codes)
    inputs, labels = data.batch([0, 1, 0, 1], 32, np.random.default_rng(0))
    assert tuple(inputs.shape) == (4, 16, 8, 8) and tuple(labels.shape) == (4, 32, 32)


def test_augment_pair_scales_jitters_and_flips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    label = rng.integers(0, 5, (30, 40), dtype=np.uint8)
    aug = FrameAugmentation(scale=1.5, flip=True, brightness=1.2, contrast=0.8, saturation=1.0)
    out_image, out_label = augment_pair(image, label, aug)
    assert out_image.shape == (45, 60, 3) and out_label.shape == (45, 60)
    assert set(np.unique(out_label)) <= set(np.unique(label)), "labels are never interpolated"
    identity = FrameAugmentation(1.0, True, 1.0, 1.0, 1.0)
    flipped, flipped_label = augment_pair(image, label, identity)
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    np.testing.assert_array_equal(flipped_label, label[:, ::-1])
    brighter, _ = augment_pair(image, label, FrameAugmentation(1.0, False, 1.2, 1.0, 1.0))
    assert brighter.astype(float).mean() > image.astype(float).mean()
    grey, _ = augment_pair(image, label, FrameAugmentation(1.0, False, 1.0, 1.0, 0.0))
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2].astype(int)).max() <= 1
    draws = [draw_augmentation(np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1] and 1.0 <= draws[0].scale <= 1.5


def test_median_frequency_weights_favour_rare_classes():
    # class 0 fills frame a; class 1 a quarter of frame b; class 2 never appears; 3 is void here
    a = np.zeros((4, 4), np.uint8)
    b = np.full((4, 4), 3, np.uint8)
    b[:1] = 1
    weights = median_frequency_weights([a, b], num_classes=3, ignore_index=3)
    # frequencies: class 0 16/16 = 1, class 1 4/4 = 1 (void is not a pixel of the frame)
    np.testing.assert_allclose(weights, [1, 1, 0])
    b[1:] = 0
    weights = median_frequency_weights([a, b], num_classes=3, ignore_index=3)
    # class 0: 28 of 32 pixels, class 1: 4 of 16; median of (0.875, 0.25) = 0.5625
    np.testing.assert_allclose(weights, [0.5625 / 0.875, 0.5625 / 0.25, 0], rtol=1e-6)
    soft = median_frequency_weights([a, b], num_classes=3, ignore_index=3, sqrt=True)
    np.testing.assert_allclose(soft, np.sqrt(weights), rtol=1e-6)
    with pytest.raises(ValueError, match="no labelled pixel"):
        median_frequency_weights([np.full((2, 2), 3, np.uint8)], 3, 3)
    assert loss_class_weights("none", [a, b], 3, 3) is None
    resolved = loss_class_weights("sqrt-median-frequency", [a, b], 3, 3)
    np.testing.assert_allclose(resolved.numpy(), soft)
    with pytest.raises(ValueError, match="class weighting must be one of"):
        loss_class_weights("inverse", [a, b], 3, 3)


def test_class_weights_weight_the_mean_and_not_the_hardness():
    torch.manual_seed(0)
    logits = torch.randn(1, 11, 4, 4)
    target = torch.randint(0, 11, (1, 16, 16))
    ones = torch.ones(11)
    plain = segmentation_loss(logits, target, IGNORE)
    assert segmentation_loss(logits, target, IGNORE, class_weights=ones).item() == \
        pytest.approx(plain.item())
    only_3 = torch.zeros(11)
    only_3[3] = 2.0
    upsampled = torch.nn.functional.interpolate(logits, size=(16, 16), mode="bilinear",
                                                align_corners=False)
    expected = torch.nn.functional.cross_entropy(upsampled, target, reduction="none")[target == 3]
    weighted = segmentation_loss(logits, target, IGNORE, class_weights=only_3)
    assert weighted.item() == pytest.approx(expected.mean().item(), rel=1e-5)
    # OHEM picks hard pixels by their unweighted probability: a weight cannot rescue an easy one
    hard_plain = segmentation_loss(logits, target, IGNORE, ohem_threshold=0.05, ohem_min_kept=1)
    hard_ones = segmentation_loss(logits, target, IGNORE, ohem_threshold=0.05, ohem_min_kept=1,
                                  class_weights=ones * 3)
    assert hard_ones.item() == pytest.approx(hard_plain.item(), rel=1e-5)
