"""Training the segmenters on latents, frames, decoded frames or JPEG frames (Table I).

Inputs (``input``), one per row of the paper's Table I:

- ``latent``: net_seg,D′ on int2float of net_C's n-bit codes (the proposed method), read from the
  latent cache (:mod:`latentlink.training.latent_cache`), so the frozen net_C runs once per frame.
- ``image``: net_seg on the original frames (BL 1).
- ``decoded``: net_seg on net_D's reconstructions, made from the cached codes through real
  containers (Huffman both ways) and :meth:`TorchCodec.reconstruct` (BL 3).
- ``jpeg``: net_seg on JPEG frames at a target compression factor, 66 by default (BL 4), via
  :func:`latentlink.evaluation.classical.encode_at_cf`.

Recipe. The paper's where it gives one: SGD, lr 1e-3, 40,000 iterations, cross-entropy with the
void class ignored, 840×840 patches on Cityscapes (pass ``--crop-size 840``). DGCNet's where the
paper is silent: momentum 0.9, weight decay 5e-4, poly decay (1 − it/max)^0.9, auxiliary loss
weight 0.4, optional OHEM (keep pixels whose true-class probability is below 0.7, at least
100,000 per batch). CamVid defaults: batch 8 of 352×352 random crops (480×360 frames: the crop
covers most of the frame height, and 352 is a multiple of every latent stride 4/8/16, so latent
and label crops stay aligned) and horizontal flips. Crops larger than a frame shrink to the frame.

On a short CPU schedule (lite preset, a few thousand iterations, no pretrained backbone) the
paper's lr 1e-3 starts slowly: in a 130-second probe on CamVid (latents of an untrained net_C,
bf16, one thread) lr 1e-2 reached a training loss of 0.59 after 92 iterations against 1.34 after
72 with 1e-3. The CamVid commands therefore pass ``--lr 1e-2``; the default stays the paper's.

Flips of latents come from net_C run on the flipped frame (cached as the "mirrored" split), never
from flipping a latent: net_C's filters are not mirror-symmetric, so a flipped latent is not a
latent net_C would send.

The same code runs on the GPU when there is one. ``bf16`` autocast and channels-last memory
speed up CPU training on cores with AVX-512 BF16. Checkpoints (``last.pt`` at every validation,
``best.pt`` at the best validation mIoU) let a run be resumed; the export writes a
:func:`save_segmenter` file with provenance and, for latents, the codec id.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
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
from latentlink.evaluation.seg_metrics import ConfusionMatrix, summarize
from latentlink.models.factorized import segmenter_input_affine
from latentlink.models.inference import TorchCodec
from latentlink.models.segmenter import Segmenter, SegmenterConfig, build_segmenter, predict_labels
from latentlink.models.segmenter_weights import save_segmenter
from latentlink.training.augment import AUGMENT_VERSION, augmented_view
from latentlink.training.codec_trainer import pick_device
from latentlink.training.latent_cache import (
    LatentFrame,
    cache_path,
    cached_encode,
    cached_latents,
)
from latentlink.training.patches import to_tensor

INPUTS = ("latent", "image", "decoded", "jpeg")
CODEC_INPUTS = ("latent", "decoded")


def model_input_kind(input_name: str) -> str:
    """The segmenter's input kind: latents for ``latent``, RGB frames for everything else."""
    return "latent" if input_name == "latent" else "image"


@dataclass
class SegTrainConfig:
    """Every knob of a segmenter training run (stored in checkpoints and provenance)."""

    input: str = "latent"
    preset: str = "lite"
    dataset: str = "camvid"
    data_root: str = ""
    split: str = "train"
    val_split: str = "val"
    codec_weights: str = "default"
    depth: int = 2
    """d of the default codec weights; the codec's own d wins for a weights file."""
    bits: int | None = None
    """Quantisation bit length n (None: the codec's own)."""
    jpeg_cf: float = 66.0
    iterations: int = 40_000
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    poly_power: float = 0.9
    aux_weight: float = 0.4
    ohem: bool = False
    ohem_threshold: float = 0.7
    ohem_min_kept: int = 100_000
    batch_size: int = 8
    crop_size: int = 352
    flip: bool = True
    augment_views: int = 0
    """Scale/colour-augmented views of the training split (:mod:`~latentlink.training.augment`)."""
    val_every: int = 1000
    val_frames: int = 0
    """Validate on the first N frames of the validation split (0 = all)."""
    bf16: bool = False
    channels_last: bool = True
    seed: int = 0
    threads: int = 0
    out_dir: str = "runs/seg"
    cache_dir: str = "runs/latent_cache"


@dataclass(frozen=True)
class SegFrame:
    """A network input and its label map.

    ``data`` is a uint8 H×W×3 frame or a :class:`LatentFrame`; ``label`` is padded with the ignore
    index to the area the input covers (its shape × the input stride), so crops of input and
    label stay aligned.
    """

    data: np.ndarray | LatentFrame
    label: np.ndarray
    size: tuple[int, int]

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
        side = max(crop // self.stride, 1)
        height = min(side, min(f.input_shape[0] for f in self.frames))
        width = min(side, min(f.input_shape[1] for f in self.frames))
        views = [self.frames, *self.alternates]
        inputs, labels = [], []
        for index in indices:
            frame = views[int(rng.integers(len(views)))][index]
            top = int(rng.integers(0, frame.input_shape[0] - height + 1))
            left = int(rng.integers(0, frame.input_shape[1] - width + 1))
            inputs.append(frame.input_tensor(slice(top, top + height), slice(left, left + width)))
            s = self.stride
            labels.append(torch.from_numpy(np.ascontiguousarray(
                frame.label[top * s:(top + height) * s, left * s:(left + width) * s])))
        return torch.stack(inputs), torch.stack(labels).long()


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
               seed: int = 0, limit: int = 0, show_progress: bool = True) -> SegData:
    """Inputs and labels of a split for ``input_name`` (one of :data:`INPUTS`), with the mirrored
    view and ``augment_views`` scale/colour-augmented views as alternates when asked."""
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
    alternates = [views[True]] if mirrored else []
    originals = [load_rgb(s.image) for s in samples] if augment_views else []
    for view in range(1, augment_views + 1):
        alternates.append(_augmented_frames(input_name, samples, originals, labels, view, seed,
                                            spec, runner=runner, cache_dir=cache_dir,
                                            dataset=dataset, split=split, jpeg_cf=jpeg_cf,
                                            show_progress=show_progress))
    return SegData(views[False], stride, alternates)


def latent_frame(latent: LatentFrame, label: np.ndarray, stride: int, ignore_index: int
                 ) -> SegFrame:
    """A latent with its label padded to the frame area the latent covers (latent × stride)."""
    height, width = (n * stride for n in latent.quantized.codes.shape[1:])
    return SegFrame(latent, pad_label(label, height, width, ignore_index), latent.size)


def _augmented_frames(input_name: str, samples: list, images: list[np.ndarray],
                      labels: list[np.ndarray], view: int, seed: int, spec: LabelSpec, *,
                      runner: TorchCodec | None, cache_dir: Path | str, dataset: str, split: str,
                      jpeg_cf: float, show_progress: bool) -> list[SegFrame]:
    """One augmented view of the split, turned into the input kind (cached for latents)."""
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
            return [latent_frame(latent, label, runner.config.downsampling, spec.ignore_index)
                    for latent, (_, label) in zip(latents, pairs, strict=True)]
        images = [reconstruct(runner, latent) for latent in latents]
    elif input_name == "jpeg":
        images = [encode_at_cf(image, "jpeg", jpeg_cf).decoded for image, _ in pairs]
    else:
        images = [image for image, _ in pairs]
    return [SegFrame(image, label, image.shape[:2])
            for image, (_, label) in zip(images, pairs, strict=True)]


def label_spec(dataset: str) -> LabelSpec:
    if dataset not in LABEL_SPECS:
        raise DatasetError(f"dataset {dataset!r} has no label maps; segmentation needs one of "
                           f"{', '.join(LABEL_SPECS)}")
    return LABEL_SPECS[dataset]


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int,
                      ohem_threshold: float | None = None, ohem_min_kept: int = 100_000
                      ) -> torch.Tensor:
    """Cross-entropy over the non-void pixels, logits upsampled (bilinear) to the label size.

    With ``ohem_threshold`` only the hard pixels count (online hard example mining, as DGCNet's
    ``OhemCrossEntropy2d``): those whose probability for the true class is at most the
    threshold, raised if needed so that at least ``ohem_min_kept`` pixels are kept. A crop with
    no labelled pixel contributes zero instead of NaN.
    """
    logits = F.interpolate(logits.float(), size=target.shape[-2:], mode="bilinear",
                           align_corners=False)
    losses = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    losses = losses[target != ignore_index]
    if losses.numel() == 0:
        return logits.sum() * 0.0
    if ohem_threshold is not None:
        probabilities = torch.exp(-losses.detach())
        kept = min(ohem_min_kept, losses.numel())
        threshold = max(ohem_threshold, float(torch.kthvalue(probabilities, kept).values))
        losses = losses[probabilities <= threshold]
    return losses.mean()


@torch.no_grad()
def evaluate(model: Segmenter, data: SegData, spec: LabelSpec, device: torch.device,
             show_progress: bool = False) -> dict:
    """Dataset-level Dice and IoU of full-resolution predictions (see :mod:`seg_metrics`)."""
    matrix = ConfusionMatrix(len(spec.classes), spec.ignore_index)
    for frame in tqdm(data.frames, disable=not show_progress, leave=False, desc="evaluating"):
        prediction = predict_labels(model, frame.input_tensor()[None].to(device), frame.size)
        height, width = frame.size
        matrix.update(prediction[0].cpu().numpy(), frame.label[:height, :width])
    return {**summarize(matrix.matrix, spec.classes), "frames": len(data.frames)}


def poly_lr(config: SegTrainConfig, iteration: int) -> float:
    """DGCNet's poly schedule: lr · (1 − iteration / iterations)^power."""
    return config.lr * (1 - iteration / config.iterations) ** config.poly_power


class SegTrainer:
    """Owns model, optimiser, data and checkpoints of one segmenter training run."""

    def __init__(self, config: SegTrainConfig, runner: TorchCodec | None = None,
                 log: Callable[[str], None] = print, show_progress: bool = True) -> None:
        if config.input not in INPUTS:
            raise ValueError(f"input must be one of {', '.join(INPUTS)}, got {config.input!r}")
        self.config = config
        self.log = log
        self.runner = runner
        self.out_dir = Path(config.out_dir)
        self.device = pick_device()
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.spec = label_spec(config.dataset)
        depth = runner.config.depth if runner is not None else config.depth
        offset, scale = ((0.0, 1.0) if runner is None or config.input != "latent" else
                         segmenter_input_affine(runner.config.arch, runner.config.bits))
        self.model_config = SegmenterConfig(config.preset, model_input_kind(config.input), depth,
                                            len(self.spec.classes), offset, scale)
        self.memory_format = (torch.channels_last if config.channels_last
                              else torch.contiguous_format)
        self.model = build_segmenter(self.model_config).to(self.device,
                                                           memory_format=self.memory_format)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr,
                                         momentum=config.momentum, weight_decay=config.weight_decay)
        self.iteration, self.best, self.wall_seconds = 0, -math.inf, 0.0
        common = {"runner": runner, "cache_dir": config.cache_dir, "jpeg_cf": config.jpeg_cf,
                  "show_progress": show_progress}
        self.train_data = load_split(config.input, config.dataset, config.data_root, config.split,
                                     mirrored=config.flip, augment_views=config.augment_views,
                                     seed=config.seed, **common)
        self.val_data = load_split(config.input, config.dataset, config.data_root,
                                   config.val_split, limit=config.val_frames, **common)

    @property
    def codec_id(self) -> str | None:
        return self.runner.codec_id if self.runner is not None else None

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save({
            "config": asdict(self.config), "model_config": self.model_config.to_dict(),
            "codec_id": self.codec_id, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "iteration": self.iteration,
            "best": self.best, "wall_seconds": self.wall_seconds,
            "rng": self.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
        }, tmp)
        tmp.replace(path)
        return path

    def resume(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        expected = self.model_config.to_dict()
        if state["codec_id"] != self.codec_id or state["model_config"] != expected:
            raise ValueError(f"{path} was trained with codec {state['codec_id']} and "
                             f"{state['model_config']}, not codec {self.codec_id} and "
                             f"{self.model_config.to_dict()}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration, self.best = state["iteration"], state["best"]
        self.wall_seconds = state["wall_seconds"]
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.log(f"resumed from {path} at iteration {self.iteration}")

    # -- training ----------------------------------------------------------------------------
    def train_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> float:
        config = self.config
        inputs = inputs.to(self.device).contiguous(memory_format=self.memory_format)
        labels = labels.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = poly_lr(config, self.iteration)
        ohem = config.ohem_threshold if config.ohem else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = self.model(inputs)
        loss = segmentation_loss(out["out"], labels, self.spec.ignore_index, ohem,
                                 config.ohem_min_kept)
        if config.aux_weight:
            loss = loss + config.aux_weight * segmentation_loss(
                out["aux"], labels, self.spec.ignore_index, ohem, config.ohem_min_kept)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        return loss.item()

    def validate(self) -> dict:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.bf16):
            return evaluate(self.model, self.val_data, self.spec, self.device)

    def run(self, show_progress: bool = True) -> dict:
        """Train until ``config.iterations``, validating every ``val_every`` iterations."""
        config = self.config
        history = self.out_dir / "history.jsonl"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        count = len(self.train_data.frames)
        bar = tqdm(total=config.iterations, initial=self.iteration, disable=not show_progress,
                   desc="train-seg")
        metrics: dict = {}
        started, losses = time.perf_counter(), []
        while self.iteration < config.iterations:
            indices = self.rng.integers(0, count, config.batch_size)
            loss = self.train_step(*self.train_data.batch(indices, config.crop_size, self.rng))
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at iteration {self.iteration}; "
                                         "lower --lr")
            losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")
            if self.iteration % config.val_every == 0 or self.iteration == config.iterations:
                metrics = self.validate()
                self.wall_seconds += time.perf_counter() - started
                record = {"iteration": self.iteration, "train_loss": float(np.mean(losses)),
                          "wall_seconds": round(self.wall_seconds, 1),
                          "val_dice": metrics["dice"], "val_miou": metrics["miou"]}
                with history.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
                if (metrics["miou"] or 0.0) > self.best:
                    self.best = metrics["miou"] or 0.0
                    self.save_checkpoint("best.pt")
                self.save_checkpoint("last.pt")
                self.log(f"iteration {self.iteration}: train loss {record['train_loss']:.4f} | "
                         f"val mean Dice {metrics['dice']:.4f}, mIoU {metrics['miou']:.4f}")
                started, losses = time.perf_counter(), []
        bar.close()
        return metrics

    def export_best(self, path: Path) -> Path:
        """Write the best checkpoint's weights as a segmenter file with provenance."""
        best = self.out_dir / "best.pt"
        state = torch.load(best if best.exists() else self.out_dir / "last.pt",
                           map_location="cpu", weights_only=False)
        model = build_segmenter(self.model_config)
        model.load_state_dict(state["model"])
        history = self.out_dir / "history.jsonl"
        records = [json.loads(line) for line in history.read_text().splitlines()] \
            if history.exists() else []
        provenance = {
            "trained_with": asdict(self.config), "iterations_run": state["iteration"],
            "wall_seconds": round(state["wall_seconds"], 1), "device": str(self.device),
            "selected": max(records, key=lambda r: r["val_miou"] or 0.0, default={}),
            "codec_id": self.codec_id,
            "codec": self.runner.config.to_dict() if self.runner is not None else None,
        }
        codec_id = self.codec_id if self.model_config.input_kind == "latent" else None
        save_segmenter(model, self.model_config, path, codec_id=codec_id,
                       class_names=self.spec.classes, provenance=provenance)
        return path
