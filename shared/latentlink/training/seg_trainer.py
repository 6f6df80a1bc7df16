"""Training the segmenters on latents, frames, decoded frames or JPEG frames (Table I).

The configuration is :class:`~latentlink.training.seg_config.SegTrainConfig`, the inputs come from
:mod:`latentlink.training.seg_data`; this module is the loop: loss, schedule, validation and
checkpoints.

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

The same code runs on the GPU when there is one. ``bf16`` autocast and channels-last memory
speed up CPU training on cores with AVX-512 BF16. Checkpoints (``last.pt`` at every validation,
``best.pt`` at the best validation mIoU) let a run be resumed; the export writes a
:func:`save_segmenter` file with provenance and, for latents, the codec id.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from latentlink.data.datasets import LabelSpec
from latentlink.evaluation.seg_metrics import ConfusionMatrix, summarize
from latentlink.models.factorized import segmenter_input_affine
from latentlink.models.inference import TorchCodec
from latentlink.models.segmenter import Segmenter, SegmenterConfig, build_segmenter, predict_labels
from latentlink.models.segmenter_weights import save_segmenter
from latentlink.training.codec_trainer import pick_device
from latentlink.training.distill import Teacher, cell_weights, distillation_loss
from latentlink.training.seg_config import INPUTS, SegTrainConfig, model_input_kind
from latentlink.training.seg_data import (
    SegData,
    label_spec,
    load_split,
    loss_class_weights,
)


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int,
                      ohem_threshold: float | None = None, ohem_min_kept: int = 100_000,
                      class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over the non-void pixels, logits upsampled (bilinear) to the label size.

    With ``ohem_threshold`` only the hard pixels count (online hard example mining, as DGCNet's
    ``OhemCrossEntropy2d``): those whose probability for the true class is at most the
    threshold, raised if needed so that at least ``ohem_min_kept`` pixels are kept. Hardness is
    judged on the unweighted probability, then ``class_weights`` (one per class) weight the kept
    pixels' mean, as ``F.cross_entropy(weight=…)`` does. A crop with no labelled pixel
    contributes zero instead of NaN.
    """
    logits = F.interpolate(logits.float(), size=target.shape[-2:], mode="bilinear",
                           align_corners=False)
    losses = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction="none")
    labelled = target != ignore_index
    losses, classes = losses[labelled], target[labelled]
    if losses.numel() == 0:
        return logits.sum() * 0.0
    if ohem_threshold is not None:
        probabilities = torch.exp(-losses.detach())
        kept = min(ohem_min_kept, losses.numel())
        threshold = max(ohem_threshold, float(torch.kthvalue(probabilities, kept).values))
        hard = probabilities <= threshold
        losses, classes = losses[hard], classes[hard]
    if class_weights is None:
        return losses.mean()
    weights = class_weights[classes]
    return (losses * weights).sum() / weights.sum()


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
                                            len(self.spec.classes), offset, scale,
                                            config.input_norm and config.input == "latent",
                                            config.extra_blocks if config.input == "latent" else 0)
        self.memory_format = (torch.channels_last if config.channels_last
                              else torch.contiguous_format)
        self.model = build_segmenter(self.model_config).to(self.device,
                                                           memory_format=self.memory_format)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr,
                                         momentum=config.momentum, weight_decay=config.weight_decay)
        self.iteration, self.best, self.wall_seconds = 0, -math.inf, 0.0
        common = {"runner": runner, "cache_dir": config.cache_dir, "jpeg_cf": config.jpeg_cf,
                  "show_progress": show_progress}
        self.teacher = (Teacher(config.distill_from, self.spec.classes, self.model.input_stride,
                                self.device, config.bf16)
                        if config.distill_from else None)
        self.train_data = load_split(config.input, config.dataset, config.data_root, config.split,
                                     mirrored=config.flip, augment_views=config.augment_views,
                                     seed=config.seed, teacher=self.teacher, **common)
        self.val_data = load_split(config.input, config.dataset, config.data_root,
                                   config.val_split, limit=config.val_frames, **common)
        self.class_weights = loss_class_weights(
            config.class_weights, [frame.label for frame in self.train_data.frames],
            len(self.spec.classes), self.spec.ignore_index, self.device)
        if self.class_weights is not None:
            self.log("class weights: " + ", ".join(
                f"{name} {w:.2f}" for name, w in zip(self.spec.classes, self.class_weights.tolist(),
                                                     strict=True)))

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
    def train_step(self, inputs: torch.Tensor, labels: torch.Tensor,
                   teacher_logits: torch.Tensor | None = None) -> float:
        config = self.config
        inputs = inputs.to(self.device).contiguous(memory_format=self.memory_format)
        labels = labels.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = poly_lr(config, self.iteration)
        ohem = config.ohem_threshold if config.ohem else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = self.model(inputs)
        loss = segmentation_loss(out["out"], labels, self.spec.ignore_index, ohem,
                                 config.ohem_min_kept, self.class_weights)
        if config.aux_weight:
            loss = loss + config.aux_weight * segmentation_loss(
                out["aux"], labels, self.spec.ignore_index, ohem, config.ohem_min_kept,
                self.class_weights)
        if teacher_logits is not None:
            teacher_logits = teacher_logits.to(self.device)
            weights = (cell_weights(labels, self.class_weights, self.spec.ignore_index,
                                    teacher_logits.shape[-2:])
                       if config.distill_class_weighted else None)
            loss = loss + config.distill_weight * distillation_loss(
                out["out"], teacher_logits, config.distill_temperature, weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        return loss.item()

    def next_batch(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        """Inputs and labels of random crops, plus the teacher's logits when distilling."""
        if self.teacher is None:
            return self.train_data.batch(indices, self.config.crop_size, self.rng)
        return self.train_data.distill_batch(indices, self.config.crop_size, self.rng,
                                             self.teacher.stride)

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
            loss = self.train_step(*self.next_batch(indices))
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
            "net_D": self.runner.decoder_id if self.config.input == "decoded" else None,
        }
        codec_id = self.codec_id if self.model_config.input_kind == "latent" else None
        save_segmenter(model, self.model_config, path, codec_id=codec_id,
                       class_names=self.spec.classes, provenance=provenance)
        return path
