"""The fine-tuning entry point, the same in a server's job thread and under torchrun.

``python -m cloud_service.finetune.train --job-spec spec.json`` trains alone; under
``torchrun --nproc_per_node N`` every rank trains a DistributedDataParallel replica (NCCL on
GPUs, gloo on CPUs) on crops drawn with its own seed, gradients are averaged, and rank 0 writes
``weights.pt`` and ``result.json`` into the spec's ``out`` folder. The loss, the learning-rate
schedule and the metrics are the project's own (:mod:`latentlink.training.seg_trainer`).
"""

from __future__ import annotations

import argparse
import copy
import gc
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cloud_service.core.config import Settings
from cloud_service.finetune.annotations import ignore_index
from cloud_service.finetune.data import load_examples
from cloud_service.finetune.spec import TrainSpec
from cloud_service.storage import BlobStore, make_blob_store
from latentlink.data.datasets import LabelSpec
from latentlink.models.segmenter import SegmenterConfig
from latentlink.models.segmenter_weights import load_segmenter, save_segmenter
from latentlink.training.seg_config import SegTrainConfig
from latentlink.training.seg_data import loss_class_weights
from latentlink.training.seg_trainer import evaluate, poly_lr, segmentation_loss

Progress = Callable[[int], bool]
"""Called after each iteration with its number; returning False cancels the run."""
SUMMARY_KEYS = ("dice", "miou", "pixel_accuracy", "frames")


class Cancelled(RuntimeError):
    """The run was asked to stop; nothing is written."""


@dataclass
class Result:
    """A fine-tuned model and how it and its base fare on the held-out frames."""

    model: nn.Module
    config: SegmenterConfig
    metrics: dict
    base_metrics: dict


def summary(metrics: dict) -> dict:
    """The headline numbers of :func:`evaluate` (the per-class table stays out of the registry)."""
    return {key: metrics[key] for key in SUMMARY_KEYS}


def finetune(spec: TrainSpec, blobs: BlobStore, device: torch.device,
             progress: Progress | None = None) -> Result:
    """Fine-tune a copy of the base model on ``spec.train``; evaluate both on ``spec.holdout``.

    Runs as one rank of a process group when one is initialised (gradients all-reduced by
    DDP, buffers broadcast from rank 0, so every rank ends with the same weights).
    """
    hp = spec.hyperparameters
    labels = LabelSpec(tuple(spec.class_names), ignore_index(tuple(spec.class_names)))
    rank = dist.get_rank() if dist.is_initialized() else 0
    config = SegTrainConfig(iterations=hp.iterations, lr=hp.lr, batch_size=hp.batch_size,
                            crop_size=hp.crop_size, seed=hp.seed)
    torch.manual_seed(hp.seed)
    rng = np.random.default_rng([hp.seed, rank])
    base, model_config, _ = load_segmenter(spec.base_weights, map_location=device)
    model = copy.deepcopy(base)
    train = load_examples(spec.train, blobs, spec.depth, labels.ignore_index)
    holdout = load_examples(spec.holdout, blobs, spec.depth, labels.ignore_index)
    # build_spec fills in the base model's weighting; a hand-written spec may leave it unset
    class_weights = loss_class_weights(hp.class_weights or "none",
                                       [frame.label for frame in train.frames],
                                       len(labels.classes), labels.ignore_index, device)
    model.train()
    replica = DistributedDataParallel(model) if dist.is_initialized() else model
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    for iteration in range(config.iterations):
        for group in optimizer.param_groups:
            group["lr"] = poly_lr(config, iteration)
        indices = rng.integers(0, len(train.frames), config.batch_size)
        inputs, targets = train.batch(indices, config.crop_size, rng)
        out = replica(inputs.to(device))
        targets = targets.to(device)
        loss = segmentation_loss(out["out"], targets, labels.ignore_index,
                                 class_weights=class_weights)
        loss = loss + config.aux_weight * segmentation_loss(
            out["aux"], targets, labels.ignore_index, class_weights=class_weights)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss became {loss.item()} at iteration {iteration}; "
                                     "lower lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None and not progress(iteration + 1):
            raise Cancelled(f"cancelled at iteration {iteration + 1}")
    if dist.is_initialized():  # DDP syncs BatchNorm statistics before a forward, not after
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
    model.eval()
    return Result(model, model_config, summary(evaluate(model, holdout, labels, device)),
                  summary(evaluate(base, holdout, labels, device)))


def checksum(model: nn.Module) -> str:
    """SHA-256 of the weights, to show that every rank ended with the same model."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_result(spec: TrainSpec, result: Result, checksums: list[str]) -> Path:
    """Rank 0's output: weights (with lineage as provenance) and result.json beside them."""
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    lineage = {**lineage_of(spec), "base_weights": spec.base_weights}
    save_segmenter(result.model, result.config, out / "weights.pt", codec_id=spec.codec_id,
                   class_names=tuple(spec.class_names), provenance=lineage)
    document = {"metrics": result.metrics, "base_metrics": result.base_metrics,
                "lineage": lineage, "checksums": checksums}
    (out / "result.json").write_text(json.dumps(document, indent=2))
    return out


def lineage_of(spec: TrainSpec) -> dict:
    """Where a version came from: frames, split, hyperparameters and codec (the caller adds
    how it names the base model)."""
    return {"train_frames": [e.frame_id for e in spec.train],
            "holdout": [e.model_dump() for e in spec.holdout],
            "hyperparameters": spec.hyperparameters.model_dump(), "codec_id": spec.codec_id}


def _device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def main(argv: list[str] | None = None) -> None:
    """Run one spec; joins the torchrun process group when WORLD_SIZE > 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job-spec", type=Path, required=True, help="A TrainSpec JSON file.")
    args = parser.parse_args(argv)
    spec = TrainSpec.model_validate_json(args.job_spec.read_text())
    device = _device()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        result = finetune(spec, make_blob_store(Settings(data_dir=spec.data_dir)), device)
        checksums = [checksum(result.model)]
        if distributed:
            gathered: list[str | None] = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, checksums[0])
            checksums = [str(c) for c in gathered]
        if not distributed or dist.get_rank() == 0:
            print(write_result(spec, result, checksums))
        if distributed:  # no rank tears the group down while another still uses it
            dist.barrier()
    finally:
        if distributed:
            # DDP's reducer sits in reference cycles; freed at interpreter exit, its gloo work
            # would outlive the group and abort the process, so free it while both are alive.
            gc.collect()
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
