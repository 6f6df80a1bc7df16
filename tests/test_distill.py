"""Knowledge distillation from an image segmenter: loss, teacher, aligned crops and training."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from latentlink.cli.seg import seg
from latentlink.data.datasets import CAMVID_CLASSES, load_rgb
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.inference import TorchCodec
from latentlink.models.segmenter import SegmenterConfig, build_segmenter
from latentlink.models.segmenter_weights import load_segmenter, save_segmenter
from latentlink.training.distill import Teacher, cell_weights, distillation_loss
from latentlink.training.seg_config import SegTrainConfig
from latentlink.training.seg_data import load_split
from latentlink.training.seg_trainer import SegTrainer, segmentation_loss

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = len(CAMVID_CLASSES)


def segmenter_file(path, input_kind="image", num_classes=CLASSES, seed=0):
    torch.manual_seed(seed)
    config = SegmenterConfig("lite", input_kind, 2, num_classes)
    names = tuple(CAMVID_CLASSES[:num_classes]) if num_classes <= CLASSES else tuple(
        f"class{i}" for i in range(num_classes))
    save_segmenter(build_segmenter(config), config, path,
                   codec_id="0123456789abcdef" if input_kind == "latent" else None,
                   class_names=names, provenance={})
    return path


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    return segmenter_file(tmp_path_factory.mktemp("teacher") / "teacher.pt")


# -- the loss ----------------------------------------------------------------------------------
def test_loss_is_zero_at_the_teacher_and_pulls_the_student_towards_it():
    torch.manual_seed(0)
    # A teacher the coarser student grid can express once resized (bilinear, as the loss does).
    teacher = F.interpolate(torch.randn(2, CLASSES, 3, 3) * 3, size=(6, 6), mode="bilinear",
                            align_corners=False)
    assert distillation_loss(teacher.clone(), teacher).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(2, CLASSES, 3, 3, requires_grad=True)
    optimizer = torch.optim.SGD([student], lr=20.0)
    losses = []
    for _ in range(30):
        loss = distillation_loss(student, teacher)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.1 and losses[-1] < 0.5 * losses[0]


def test_loss_is_the_softened_kl_times_t_squared():
    torch.manual_seed(1)
    student, teacher = torch.randn(2, 5, 4, 4), torch.randn(2, 5, 4, 4)
    for temperature in (1.0, 3.0):
        expected = F.kl_div(F.log_softmax(student / temperature, 1),
                            F.log_softmax(teacher / temperature, 1), log_target=True,
                            reduction="none").sum(1).mean() * temperature**2
        assert distillation_loss(student, teacher, temperature).item() == pytest.approx(
            expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="differ in batch or classes"):
        distillation_loss(student, teacher[:, :4])


def test_cell_weights_average_the_class_weights_of_each_cells_labels():
    void = 255
    labels = torch.full((1, 16, 16), void)
    labels[0, :8, 8:] = 2                      # one class only
    labels[0, 8:, :8] = 1
    labels[0, 8:12, :8] = 3                    # half class 3, half class 1
    labels[0, 8:, 8:12] = 0                    # half class 0, half void
    class_weights = torch.tensor([1.0, 2.0, 4.0, 6.0])
    weighted = cell_weights(labels, class_weights, void, (2, 2))
    assert weighted[0].tolist() == [[0.0, 4.0], [4.0, 0.5]]
    plain = cell_weights(labels, None, void, (2, 2))
    assert plain[0].tolist() == [[0.0, 1.0], [1.0, 0.5]]


def test_weighted_loss_is_the_weighted_mean_of_the_per_pixel_kl():
    torch.manual_seed(2)
    student, teacher = torch.randn(2, 5, 3, 4), torch.randn(2, 5, 3, 4)
    per_pixel = F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher, 1), log_target=True,
                         reduction="none").sum(1)
    assert distillation_loss(student, teacher, weights=torch.ones(2, 3, 4)).item() == \
        pytest.approx(distillation_loss(student, teacher).item(), rel=1e-6)
    weights = torch.zeros(2, 3, 4)
    weights[1, 2, 3], weights[0, 0, 0] = 3.0, 1.0
    expected = (3 * per_pixel[1, 2, 3] + per_pixel[0, 0, 0]) / 4
    assert distillation_loss(student, teacher, weights=weights).item() == pytest.approx(
        expected.item(), rel=1e-5)
    nothing = distillation_loss(student.requires_grad_(), teacher, weights=weights * 0)
    nothing.backward()
    assert nothing.item() == 0.0 and torch.all(student.grad == 0)
    with pytest.raises(ValueError, match="do not match the teacher's grid"):
        distillation_loss(student, teacher, weights=weights[:, :2])


# -- the teacher -------------------------------------------------------------------------------
def test_teacher_refuses_latent_segmenters_and_other_classes(tmp_path):
    latent = segmenter_file(tmp_path / "latent.pt", input_kind="latent")
    with pytest.raises(ValueError, match="needs a segmenter of original frames"):
        Teacher(latent, CAMVID_CLASSES, 8)
    fewer = segmenter_file(tmp_path / "fewer.pt", num_classes=5)
    with pytest.raises(ValueError, match="predicts sky"):
        Teacher(fewer, CAMVID_CLASSES, 8)


@pytest.mark.parametrize(("input_stride", "grid"), [(1, (5, 7)), (8, (5, 7)), (16, (6, 8))])
def test_teacher_logits_cover_the_students_padded_frame(teacher_file, input_stride, grid):
    teacher = Teacher(teacher_file, CAMVID_CLASSES, input_stride)
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    logits = teacher.logits(image)
    assert teacher.stride == 8 and logits.dtype == np.float16
    assert logits.shape == (CLASSES, *grid)
    model, _, _ = load_segmenter(teacher_file)
    padded = np.pad(image, ((0, -37 % teacher.pad_multiple), (0, -53 % teacher.pad_multiple),
                            (0, 0)), mode="reflect")
    with torch.no_grad():
        direct = model(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255)["out"]
    np.testing.assert_allclose(logits, direct[0].numpy(), rtol=1e-2, atol=1e-2)


# -- crops -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("input_name", "depth"),
                         [("image", 2), ("latent", 1), ("latent", 2), ("latent", 3)])
def test_teacher_crops_follow_the_input_crops(synthetic_camvid, teacher_file, tmp_path,
                                              input_name, depth):
    torch.manual_seed(0)
    runner = TorchCodec(Codec(CodecConfig(depth=depth))) if input_name == "latent" else None
    teacher = Teacher(teacher_file, CAMVID_CLASSES, 2 ** (depth + 1) if runner else 1)
    data = load_split(input_name, "camvid", synthetic_camvid, "train", runner=runner,
                      cache_dir=tmp_path, mirrored=True, augment_views=1, teacher=teacher,
                      show_progress=False)
    # Every view carries the teacher's logits on its own original frame.
    original = load_rgb(synthetic_camvid / "train" / "frame_002.png")
    np.testing.assert_array_equal(data.frames[2].teacher, teacher.logits(original))
    np.testing.assert_array_equal(data.alternates[0][2].teacher,
                                  teacher.logits(np.ascontiguousarray(original[:, ::-1])))
    # Mark every label pixel with its teacher-grid row (then column) and every teacher cell with
    # its own row (column): a crop is aligned when the two agree.
    for axis in (0, 1):
        for view in data.views:
            for i, frame in enumerate(view):
                rows, cols = np.indices(frame.label.shape)
                grid = frame.teacher.shape[1:]
                cells = np.indices(grid)[axis].astype(np.float16)
                view[i] = replace(frame, label=((rows, cols)[axis] // 8).astype(np.uint8),
                                  teacher=np.broadcast_to(cells, (CLASSES, *grid)).copy())
        rng = np.random.default_rng(axis)
        for _ in range(5):
            inputs, labels, targets = data.distill_batch(range(6), 32, rng, teacher.stride)
            assert inputs.shape[-1] * data.stride == labels.shape[-1]
            assert targets.shape[-2:] == (labels.shape[-2] // 8, labels.shape[-1] // 8)
            assert torch.equal(targets[:, 0], labels[:, ::8, ::8].float())


# -- training ----------------------------------------------------------------------------------
def test_training_with_a_teacher_moves_the_student_towards_it(synthetic_camvid, teacher_file,
                                                              tmp_path):
    """Same start, same batch, ten steps: the distilled student ends nearer the teacher."""
    runner = TorchCodec(Codec(CodecConfig(depth=2)))

    def trainer(weight: float) -> SegTrainer:
        config = SegTrainConfig(data_root=str(synthetic_camvid), val_frames=1, lr=0.02,
                                iterations=1000, distill_from=str(teacher_file),
                                distill_weight=weight, out_dir=str(tmp_path / f"run{weight}"),
                                cache_dir=str(tmp_path / "cache"))
        return SegTrainer(config, runner, log=lambda _: None, show_progress=False)

    distilled, plain = trainer(5.0), trainer(0.0)
    views = distilled.train_data.views
    assert all(frame.teacher is not None for view in views for frame in view)
    batch = distilled.next_batch(np.arange(4))
    inputs, _, targets = batch
    distances = []
    for model in (distilled, plain):
        for _ in range(10):
            model.train_step(*batch)
        model.model.eval()
        with torch.no_grad():
            distances.append(distillation_loss(model.model(inputs)["out"], targets).item())
    assert distances[0] < 0.8 * distances[1]


def test_cli_explains_a_teacher_it_cannot_use(synthetic_camvid, tmp_path):
    latent = segmenter_file(tmp_path / "latent.pt", input_kind="latent")
    common = ["train-seg", "--input", "image", "--data-root", str(synthetic_camvid),
              "--iterations", "1", "--quiet", "--out-dir", str(tmp_path / "run")]
    result = CliRunner().invoke(seg, [*common, "--distill-from", str(latent)])
    assert result.exit_code == 2 and "needs a segmenter of original frames" in result.output
    result = CliRunner().invoke(seg, [*common, "--distill-from", str(tmp_path / "missing.pt")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_class_weighted_distillation_weights_the_kl_like_the_cross_entropy(synthetic_camvid,
                                                                            teacher_file,
                                                                            tmp_path):
    """One step's loss is the weighted cross-entropy plus the class-weighted KL, not the plain."""
    config = SegTrainConfig(data_root=str(synthetic_camvid), val_frames=1, iterations=10,
                            class_weights="median-frequency", distill_from=str(teacher_file),
                            distill_weight=2.0, distill_class_weighted=True, aux_weight=0.0,
                            out_dir=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    trainer = SegTrainer(config, TorchCodec(Codec(CodecConfig(depth=2))), log=lambda _: None,
                         show_progress=False)
    inputs, labels, targets = trainer.next_batch(np.arange(4))
    ignore = trainer.spec.ignore_index
    trainer.model.train()
    torch.manual_seed(7)  # the same dropout masks here and in the training step
    with torch.no_grad():
        out = trainer.model(inputs.contiguous(memory_format=trainer.memory_format))["out"]
        cross_entropy = segmentation_loss(out, labels, ignore, None, 0, trainer.class_weights)
        weights = cell_weights(labels, trainer.class_weights, ignore, targets.shape[-2:])
        weighted = distillation_loss(out, targets, weights=weights).item()
        plain = distillation_loss(out, targets).item()
    assert abs(weighted - plain) > 1e-3 * plain
    torch.manual_seed(7)
    assert trainer.train_step(inputs, labels, targets) == pytest.approx(
        cross_entropy.item() + 2.0 * weighted, rel=1e-4)
