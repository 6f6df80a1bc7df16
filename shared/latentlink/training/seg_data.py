"""The frames a segmenter trains and is measured on, one kind of input per row of Table I.

Inputs (``input``, one of :data:`~latentlink.training.seg_config.INPUTS`):

- ``latent``: net_seg,D′ on int2float of net_C's n-bit codes (the proposed method), read from the
  latent cache (:mod:`latentlink.training.latent_cache`), so the frozen net_C runs once per frame.
- ``image``: net_seg on the original frames (BL 1).
- ``decoded``: net_seg on net_D's reconstructions, made from the cached codes through real
  containers (Huffman both ways) and :meth:`TorchCodec.reconstruct` (BL 3).
- ``jpeg``: net_seg on JPEG frames at a target compression factor, 66 by default (BL 4), via
  :func:`latentlink.evaluation.classical.encode_at_cf`.

Flips of latents come from net_C run on the flipped frame (cached as the "mirrored" split), never
from flipping a latent: net_C's filters are not mirror-symmetric, so a flipped latent is not a
latent net_C would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from latentlink.codec import container
from latentlink.codec.quantize import Quantized, int2float
from latentlink.data.datasets import (
    LABEL_SPECS,
    DatasetError,
    LabelSpec,
    list_samples,
    load_label,
    load_rgb,
)
from latentlink.evaluation.classical import encode_at_cf
from latentlink.models.inference import TorchCodec
from latentlink.training.augment import AUGMENT_VERSION, augmented_view
from latentlink.training.distill import Teacher
from latentlink.training.latent_cache import (
    LatentFrame,
    cache_path,
    cached_encode,
    cached_latents,
)
from latentlink.training.patches import to_tensor
from latentlink.training.seg_config import CLASS_WEIGHTINGS, CODEC_INPUTS, INPUTS


@dataclass(frozen=True)
class SegFrame:
    """A network input and its label map.

    ``data`` is a uint8 H×W×3 frame or a :class:`LatentFrame`; ``label`` is padded with the ignore
    index to the area the input covers (its shape × the input stride), so crops of input and
    label stay aligned. ``teacher`` holds a distillation teacher's logits on the original of this
    view (:mod:`latentlink.training.distill`), when training with one.
    """

    data: np.ndarray | LatentFrame
    label: np.ndarray
    size: tuple[int, int]
    teacher: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, int]:
        if isinstance(self.data, LatentFrame):
            return self.data.quantized.codes.shape[1:]
        return self.data.shape[:2]

    def input_tensor(self, rows: slice = slice(None), cols: slice = slice(None)) -> torch.Tensor:
        """Float C×h×w network input; latents are dequantised after cropping (less work)."""
        if isinstance(self.data, LatentFrame):
            q = self.data.quantized
            return torch.from_numpy(int2float(Quantized(q.codes[:, rows, cols], q.low, q.high,
                                                        q.bits)))
        return to_tensor(self.data[rows, cols])[0]


@dataclass
class SegData:
    """The frames of one split, ready for random crops (training) or whole frames (evaluation)."""

    frames: list[SegFrame]
    stride: int
    """Frame pixels per input pixel (2^(d+1) for latents, 1 for images)."""
    alternates: list[list[SegFrame]] = field(default_factory=list)
    """Other views of the same frames (mirrored, scale/colour-augmented), each at least as large
    as the frame; a training crop comes from the plain or any alternate view with equal odds."""

    def batch(self, indices: Sequence[int], crop: int, rng: np.random.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random crops of ``crop`` frame pixels (shrunk to the smallest frame) of random views."""
        inputs, labels = [], []
        for frame, rows, cols in self._crops(indices, crop, rng, align=1):
            inputs.append(frame.input_tensor(rows, cols))
            labels.append(self._label_crop(frame, rows, cols))
        return torch.stack(inputs), torch.stack(labels).long()

    def distill_batch(self, indices: Sequence[int], crop: int, rng: np.random.Generator,
                      teacher_stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`batch`, plus the teacher's logits over each crop: crops start and end on
        the teacher's grid (``teacher_stride`` frame pixels), so its logits crop exactly."""
        inputs, labels, targets = [], [], []
        align = max(teacher_stride // self.stride, 1)
        scale = self.stride / teacher_stride
        for frame, rows, cols in self._crops(indices, crop, rng, align):
            if frame.teacher is None:
                raise ValueError("these frames carry no teacher logits (load_split(teacher=…))")
            inputs.append(frame.input_tensor(rows, cols))
            labels.append(self._label_crop(frame, rows, cols))
            targets.append(torch.from_numpy(np.ascontiguousarray(frame.teacher[
                :, round(rows.start * scale):round(rows.stop * scale),
                round(cols.start * scale):round(cols.stop * scale)])))
        return torch.stack(inputs), torch.stack(labels).long(), torch.stack(targets).float()

    @property
    def views(self) -> list[list[SegFrame]]:
        """The plain view first, then the alternates: the lists themselves, not copies."""
        return [self.frames, *self.alternates]

    def _crops(self, indices: Sequence[int], crop: int, rng: np.random.Generator, align: int
               ) -> list[tuple[SegFrame, slice, slice]]:
        """A random view of each frame and a random window in it (input pixels), its corners
        on multiples of ``align``."""
        side = max(crop // self.stride, 1)
        height = min(side, min(f.input_shape[0] for f in self.frames))
        width = min(side, min(f.input_shape[1] for f in self.frames))
        if align > 1:
            height, width = max(height // align, 1) * align, max(width // align, 1) * align
        views = self.views
        crops = []
        for index in indices:
            frame = views[int(rng.integers(len(views)))][index]
            top = int(rng.integers(0, (frame.input_shape[0] - height) // align + 1)) * align
            left = int(rng.integers(0, (frame.input_shape[1] - width) // align + 1)) * align
            crops.append((frame, slice(top, top + height), slice(left, left + width)))
        return crops

    def _label_crop(self, frame: SegFrame, rows: slice, cols: slice) -> torch.Tensor:
        s = self.stride
        return torch.from_numpy(np.ascontiguousarray(
            frame.label[rows.start * s:rows.stop * s, cols.start * s:cols.stop * s]))


def pad_label(label: np.ndarray, height: int, width: int, ignore_index: int) -> np.ndarray:
    """Extend a label map at the bottom/right with the ignore index (as frames are padded)."""
    return np.pad(label, ((0, height - label.shape[0]), (0, width - label.shape[1])),
                  constant_values=ignore_index)


def reconstruct(runner: TorchCodec, frame: LatentFrame) -> np.ndarray:
    """net_D's frame from cached codes, through a real container as the cloud would decode it."""
    meta = container.CaptureMeta(vehicle="dataset", frame="cached", ts=0.0)
    data = container.pack(frame.quantized, codec_id=runner.codec_id, depth=runner.config.depth,
                          image_size=frame.size, meta=meta)
    return runner.reconstruct(container.unpack(data))


def load_split(input_name: str, dataset: str, data_root: Path | str, split: str, *,
               runner: TorchCodec | None = None, cache_dir: Path | str = "runs/latent_cache",
               jpeg_cf: float = 66.0, mirrored: bool = False, augment_views: int = 0,
               seed: int = 0, limit: int = 0, teacher: Teacher | None = None,
               show_progress: bool = True) -> SegData:
    """Inputs and labels of a split for ``input_name`` (one of :data:`INPUTS`), with the mirrored
    view and ``augment_views`` scale/colour-augmented views as alternates when asked, and a
    distillation ``teacher``'s logits on each view's original frames when given."""
    if input_name not in INPUTS:
        raise ValueError(f"input must be one of {', '.join(INPUTS)}, got {input_name!r}")
    if input_name in CODEC_INPUTS and runner is None:
        raise ValueError(f"input {input_name!r} needs a codec")
    spec = label_spec(dataset)
    samples = list_samples(dataset, data_root, split)
    samples = samples[:limit] if limit else samples
    unlabelled = [s.name for s in samples if s.label is None]
    if unlabelled:
        raise DatasetError(f"{len(unlabelled)} frames of {dataset}/{split} have no label map, "
                           f"e.g. {unlabelled[0]}")
    labels = [load_label(s.label, dataset) for s in samples]
    orientations = (False, True) if mirrored else (False,)
    views: dict[bool, list[SegFrame]] = {}
    stride = 1
    if input_name == "latent":
        stride = runner.config.downsampling
        for flip in orientations:
            latents = cached_latents(runner, dataset, data_root, split, cache_dir, mirrored=flip,
                                     show_progress=show_progress)[: len(samples)]
            views[flip] = [latent_frame(latent, label[:, ::-1] if flip else label, stride,
                                        spec.ignore_index)
                           for latent, label in zip(latents, labels, strict=True)]
    else:
        if input_name == "decoded":
            latents = cached_latents(runner, dataset, data_root, split, cache_dir,
                                     show_progress=show_progress)[: len(samples)]
            images = [reconstruct(runner, latent) for latent in latents]
        elif input_name == "jpeg":
            images = [encode_at_cf(load_rgb(s.image), "jpeg", jpeg_cf).decoded for s in samples]
        else:
            images = [load_rgb(s.image) for s in samples]
        for flip in orientations:
            views[flip] = [SegFrame(image[:, ::-1] if flip else image,
                                    label[:, ::-1] if flip else label, image.shape[:2])
                           for image, label in zip(images, labels, strict=True)]
    originals = [load_rgb(s.image) for s in samples] if augment_views or teacher else []
    if teacher is not None:
        for flip in orientations:
            views[flip] = with_teacher(views[flip], teacher,
                                       [o[:, ::-1] if flip else o for o in originals],
                                       f"teacher on {dataset}/{split}" + (" mirrored" * flip),
                                       show_progress)
    alternates = [views[True]] if mirrored else []
    for view in range(1, augment_views + 1):
        alternates.append(_augmented_frames(input_name, samples, originals, labels, view, seed,
                                            spec, runner=runner, cache_dir=cache_dir,
                                            dataset=dataset, split=split, jpeg_cf=jpeg_cf,
                                            teacher=teacher, show_progress=show_progress))
    return SegData(views[False], stride, alternates)


def with_teacher(frames: list[SegFrame], teacher: Teacher, originals: Sequence[np.ndarray],
                 desc: str, show_progress: bool) -> list[SegFrame]:
    """The frames with the teacher's logits on their ``originals`` (same order) attached."""
    return [replace(frame, teacher=teacher.logits(np.ascontiguousarray(original)))
            for frame, original in tqdm(zip(frames, originals, strict=True), total=len(frames),
                                        desc=desc, disable=not show_progress, leave=False)]


def latent_frame(latent: LatentFrame, label: np.ndarray, stride: int, ignore_index: int
                 ) -> SegFrame:
    """A latent with its label padded to the frame area the latent covers (latent × stride)."""
    height, width = (n * stride for n in latent.quantized.codes.shape[1:])
    return SegFrame(latent, pad_label(label, height, width, ignore_index), latent.size)


def _augmented_frames(input_name: str, samples: list, images: list[np.ndarray],
                      labels: list[np.ndarray], view: int, seed: int, spec: LabelSpec, *,
                      runner: TorchCodec | None, cache_dir: Path | str, dataset: str, split: str,
                      jpeg_cf: float, teacher: Teacher | None, show_progress: bool
                      ) -> list[SegFrame]:
    """One augmented view of the split, turned into the input kind (cached for latents), with
    the teacher's logits on the augmented originals when distilling."""
    pairs = augmented_view(images, labels, view, seed)
    if input_name in CODEC_INPUTS:
        path = cache_path(cache_dir, runner.codec_id, runner.config.bits, dataset,
                          f"{split}-aug{view}-v{AUGMENT_VERSION}-seed{seed}")
        latents = cached_encode(runner, path, [s.name for s in samples],
                                ((s.name, image) for s, (image, _) in zip(samples, pairs,
                                                                          strict=True)),
                                desc=f"net_C latents of {dataset}/{split} view {view}",
                                show_progress=show_progress)
    if input_name == "latent":
        frames = [latent_frame(latent, label, runner.config.downsampling, spec.ignore_index)
                  for latent, (_, label) in zip(latents, pairs, strict=True)]
    else:
        if input_name == "decoded":
            images = [reconstruct(runner, latent) for latent in latents]
        elif input_name == "jpeg":
            images = [encode_at_cf(image, "jpeg", jpeg_cf).decoded for image, _ in pairs]
        else:
            images = [image for image, _ in pairs]
        frames = [SegFrame(image, label, image.shape[:2])
                  for image, (_, label) in zip(images, pairs, strict=True)]
    if teacher is None:
        return frames
    return with_teacher(frames, teacher, [image for image, _ in pairs],
                        f"teacher on {dataset}/{split} view {view}", show_progress)


def median_frequency_weights(labels: Sequence[np.ndarray], num_classes: int, ignore_index: int,
                             sqrt: bool = False) -> np.ndarray:
    """Median-frequency class weights (Eigen & Fergus 2015; SegNet's CamVid weighting), float32.

    A class's frequency is its pixel count over the pixels of the frames where it appears;
    its weight is the median frequency over this. On CamVid that multiplies pole and sign by
    ~4–5 and road by ~0.15. ``sqrt`` takes the square root, a softer weighting. A class absent
    from every label gets weight 0 (no pixel can ask for it).
    """
    counts = np.zeros(num_classes, np.float64)
    present_in = np.zeros(num_classes, np.float64)
    for label in labels:
        per_class = np.bincount(label[label != ignore_index].ravel(),
                                minlength=num_classes)[:num_classes]
        counts += per_class
        present_in += (per_class > 0) * per_class.sum()
    seen = counts > 0
    if not seen.any():
        raise ValueError("no labelled pixel to compute class weights from")
    frequency = counts[seen] / present_in[seen]
    weights = np.zeros(num_classes, np.float64)
    weights[seen] = np.median(frequency) / frequency
    return (np.sqrt(weights) if sqrt else weights).astype(np.float32)


def loss_class_weights(weighting: str, labels: Sequence[np.ndarray], num_classes: int,
                       ignore_index: int, device: torch.device | str = "cpu"
                       ) -> torch.Tensor | None:
    """The ``class_weights`` of :func:`segmentation_loss` for a weighting of
    :data:`~latentlink.training.seg_config.CLASS_WEIGHTINGS`, from the training ``labels``;
    None for ``none``. Train-seg and the cloud's fine-tune jobs both resolve theirs here."""
    if weighting not in CLASS_WEIGHTINGS:
        raise ValueError(f"class weighting must be one of {', '.join(CLASS_WEIGHTINGS)}, "
                         f"got {weighting!r}")
    if weighting == "none":
        return None
    weights = median_frequency_weights(labels, num_classes, ignore_index,
                                       sqrt=weighting == "sqrt-median-frequency")
    return torch.from_numpy(weights).to(device)


def label_spec(dataset: str) -> LabelSpec:
    if dataset not in LABEL_SPECS:
        raise DatasetError(f"dataset {dataset!r} has no label maps; segmentation needs one of "
                           f"{', '.join(LABEL_SPECS)}")
    return LABEL_SPECS[dataset]
