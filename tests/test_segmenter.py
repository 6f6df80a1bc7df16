"""The segmenters: shapes at every d and odd sizes, presets, prediction geometry, weights files."""

import math

import pytest
import torch
from torch import nn

from latentlink.evaluation.complexity import module_macs
from latentlink.models.compressor import count_parameters
from latentlink.models.segmenter import SegmenterConfig, build_segmenter, predict_labels
from latentlink.models.segmenter_weights import (
    SegmenterWeightsError,
    check_codec,
    load_segmenter,
    resolve_segmenter_weights,
    save_segmenter,
    trained_class_weighting,
)

CLASSES = tuple(f"class{i}" for i in range(11))
CODEC_A, CODEC_B = "0123456789abcdef", "fedcba9876543210"


def model_input(config: SegmenterConfig, height: int, width: int, batch: int = 2) -> torch.Tensor:
    if config.input_kind == "image":
        return torch.rand(batch, 3, height, width)
    s = config.input_stride
    return torch.rand(batch, 16, math.ceil(height / s), math.ceil(width / s))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("kind", ["latent", "image"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize(("height", "width"), [(64, 96), (37, 53)])
def test_lite_shapes_at_every_depth_and_odd_sizes(kind, depth, height, width):
    config = SegmenterConfig("lite", kind, depth)
    model = build_segmenter(config)
    x = model_input(config, height, width)
    out = model(x)
    stride = model.output_stride
    expected = (2, 11, math.ceil(height / stride), math.ceil(width / stride))
    assert tuple(out["out"].shape) == expected
    assert tuple(out["aux"].shape) == expected
    labels = predict_labels(model, x, (height, width))
    assert labels.dtype == torch.int64 and tuple(labels.shape) == (2, height, width)
    assert labels.min() >= 0 and labels.max() < 11
    assert model.training, "predict_labels must restore the training mode"


@pytest.mark.parametrize(("depth", "stride"), [(1, 8), (2, 8), (3, 16)])
def test_latent_output_stride_policy(depth, stride):
    model = build_segmenter(SegmenterConfig("lite", "latent", depth))
    assert model.input_stride == 2 ** (depth + 1) and model.output_stride == stride


@pytest.mark.parametrize("input_norm", [True, False])
def test_input_norm_makes_the_latent_model_blind_to_per_channel_scale_and_offset(input_norm):
    """Latent channels differ 26× in spread; with the input norm that stops mattering."""
    torch.manual_seed(0)
    model = build_segmenter(SegmenterConfig(input_norm=input_norm))
    x = torch.rand(4, 16, 6, 8)
    scale = torch.logspace(-0.5, 1, 16).view(1, 16, 1, 1)  # 26×, as the codec's channels
    shift = torch.linspace(-3, 3, 16).view(1, 16, 1, 1)
    outputs = []
    for inputs in (x, x * scale + shift):
        torch.manual_seed(1)  # the same dropout masks for both
        with torch.no_grad():
            outputs.append(model(inputs)["out"])
    same = torch.allclose(*outputs, atol=1e-2)
    assert same == input_norm


def test_weights_without_the_input_norm_field_load_as_before():
    legacy = SegmenterConfig().to_dict()
    del legacy["input_norm"]
    model = build_segmenter(SegmenterConfig(**legacy))
    assert not isinstance(model.backbone.stem[0], nn.BatchNorm2d)
    assert isinstance(build_segmenter(SegmenterConfig(input_norm=True)).backbone.stem[0],
                      nn.BatchNorm2d)


def test_aux_logits_only_in_training():
    model = build_segmenter(SegmenterConfig()).eval()
    assert set(model(torch.rand(1, 16, 4, 6))) == {"out"}


def test_preset_sizes():
    lite = count_parameters(build_segmenter(SegmenterConfig("lite", "latent")))
    assert 1e6 < lite < 5e6
    with torch.device("meta"):
        paper_image = count_parameters(build_segmenter(SegmenterConfig("paper", "image")))
        paper_latent = count_parameters(build_segmenter(SegmenterConfig("paper", "latent")))
    assert 50e6 < paper_image < 56e6   # the paper: 53.4 M
    assert 50e6 < paper_latent < paper_image


def test_paper_preset_runs_a_tiny_frame():
    model = build_segmenter(SegmenterConfig("paper", "latent", 2)).eval()
    assert tuple(predict_labels(model, torch.rand(1, 16, 3, 5), (17, 33)).shape) == (1, 17, 33)


class FixedLogits(nn.Module):
    """Two classes: class 0 in the left logit column, class 1 in the right one."""

    input_stride = 8

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = torch.zeros(x.shape[0], 2, x.shape[-2], x.shape[-1])
        logits[:, 0, :, 0] = 1.0
        logits[:, 1, :, 1] = 1.0
        return {"out": logits}


def test_prediction_upsamples_to_the_padded_frame_then_crops_top_left():
    # A 1×2 latent covers an 8×16 padded frame; the original frame was 8×12.
    labels = predict_labels(FixedLogits(), torch.zeros(1, 16, 1, 2), (8, 12))
    assert tuple(labels.shape) == (1, 8, 12)
    assert (labels[..., :8] == 0).all() and (labels[..., 8:] == 1).all()


def test_prediction_refuses_a_frame_larger_than_the_input_covers():
    with pytest.raises(ValueError, match="does not fit"):
        predict_labels(FixedLogits(), torch.zeros(1, 16, 1, 2), (9, 12))


@pytest.mark.parametrize(
    "kwargs",
    [{"preset": "huge"}, {"input_kind": "audio"}, {"depth": 4}, {"num_classes": 1}],
)
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        SegmenterConfig(**kwargs)


def test_save_load_round_trip(tmp_path):
    config = SegmenterConfig("lite", "latent", 1)
    model = build_segmenter(config)
    model(torch.rand(2, 16, 6, 6))  # move the BatchNorm statistics away from their defaults
    path = tmp_path / "seg.pt"
    save_segmenter(model, config, path, codec_id=CODEC_A, class_names=CLASSES,
                   provenance={"note": "test"})
    loaded, loaded_config, meta = load_segmenter(path)
    assert loaded_config == config and not loaded.training
    assert meta == {"codec_id": CODEC_A, "class_names": CLASSES, "provenance": {"note": "test"}}
    x = torch.rand(1, 16, 5, 7)
    assert torch.equal(loaded(x)["out"], model.eval()(x)["out"])
    check_codec(meta, CODEC_A)
    with pytest.raises(SegmenterWeightsError, match=f"{CODEC_A}.*{CODEC_B}"):
        check_codec(meta, CODEC_B)


def test_image_segmenters_accept_any_codec(tmp_path):
    config = SegmenterConfig("lite", "image")
    path = tmp_path / "seg.pt"
    save_segmenter(build_segmenter(config), config, path, codec_id=None, class_names=CLASSES,
                   provenance={})
    _, loaded_config, meta = load_segmenter(path)
    assert loaded_config.input_kind == "image" and meta["codec_id"] is None
    for codec in (CODEC_A, CODEC_B):  # a refusal raises SegmenterWeightsError
        check_codec(meta, codec)


@pytest.mark.parametrize(
    ("kind", "codec_id", "names", "message"),
    [("latent", None, CLASSES, "id of its codec"), ("latent", "xyz", CLASSES, "id of its codec"),
     ("image", CODEC_A, CLASSES, "no codec id"), ("latent", CODEC_A, CLASSES[:3], "class names")],
)
def test_save_refuses_inconsistent_metadata(tmp_path, kind, codec_id, names, message):
    config = SegmenterConfig("lite", kind)
    with pytest.raises(ValueError, match=message):
        save_segmenter(build_segmenter(config), config, tmp_path / "x.pt", codec_id=codec_id,
                       class_names=names, provenance={})


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(SegmenterWeightsError, match="does not exist"):
        load_segmenter(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(SegmenterWeightsError, match="cannot read"):
        load_segmenter(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "latentlink-codec/1", "config": {}}, foreign)
    with pytest.raises(SegmenterWeightsError, match="not a LatentLink segmenter"):
        load_segmenter(foreign)
    with pytest.raises(SegmenterWeightsError, match="does not exist"):
        resolve_segmenter_weights(tmp_path / "missing.pt")


def test_shipped_weights_resolve_by_name():
    assert resolve_segmenter_weights("default").name == "seg_lite_d2_n8.pt"
    clamp = resolve_segmenter_weights("default:clamp")
    assert clamp.name == "seg_lite_d2_n8_clamp.pt" and clamp.is_file()
    with pytest.raises(SegmenterWeightsError, match="not been trained"):
        resolve_segmenter_weights("default:nonexistent")


def test_trained_class_weighting_reads_exports_and_fine_tune_lineage():
    _, _, shipped = load_segmenter(resolve_segmenter_weights("default"))
    assert trained_class_weighting(shipped["provenance"]) == "sqrt-median-frequency"
    assert trained_class_weighting({"trained_with": {"class_weights": "median-frequency"}}) \
        == "median-frequency"
    assert trained_class_weighting({"hyperparameters": {"class_weights": "none"}}) == "none"
    assert trained_class_weighting({"hyperparameters": {"class_weights": None}}) == "none"
    assert trained_class_weighting({"trained_with": {"class_weights": "inverse"}}) == "none"
    assert trained_class_weighting({}) == "none"


def test_extra_blocks_give_the_latent_model_the_image_models_cost():
    """Two extra 64-wide blocks at 1/8 spend what the image model spends on its stem."""
    plain, deeper, image = (build_segmenter(SegmenterConfig(input_kind=kind, extra_blocks=extra))
                            for kind, extra in (("latent", 0), ("latent", 2), ("image", 0)))
    assert len(deeper.backbone.stages[0]) == len(plain.backbone.stages[0]) + 2
    x = torch.zeros(1, 16, 45, 60)
    macs = [module_macs(model.eval(), inputs)[""] for model, inputs in
            ((plain, x), (deeper, x), (image, torch.zeros(1, 3, 360, 480)))]
    assert macs[0] < 0.92 * macs[2] and abs(macs[1] / macs[2] - 1) < 0.05
    legacy = SegmenterConfig().to_dict()
    del legacy["extra_blocks"]
    assert SegmenterConfig(**legacy).extra_blocks == 0, "older weights files still load"
    with pytest.raises(ValueError, match="extra_blocks"):
        SegmenterConfig(input_kind="image", extra_blocks=1)
