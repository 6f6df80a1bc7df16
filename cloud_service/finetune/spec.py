"""What a fine-tuning job is asked to do (the API's body) and what its training run reads.

:class:`JobRequest` selects frames and carries hyperparameters; the job runner resolves it into
a :class:`TrainSpec`, a self-contained JSON document (blob keys, base weights, split) that
``python -m cloud_service.finetune.train --job-spec`` runs alone or under torchrun.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from cloud_service.finetune.annotations import Source
from cloud_service.schemas.moments import UtcDatetime
from cloud_service.schemas.numbers import JsonInt, bounded_json_int
from latentlink.codec.container import VEHICLE_PATTERN
from latentlink.training.seg_config import CLASS_WEIGHTINGS


class Hyperparameters(BaseModel):
    """Optimisation knobs; the defaults suit a few hundred labelled frames on a CPU."""

    model_config = {"extra": "forbid"}

    iterations: JsonInt = Field(200, ge=1, le=1_000_000)
    lr: float = Field(1e-3, gt=0, le=1.0, description="Initial SGD learning rate (poly decay).")
    batch_size: JsonInt = Field(4, ge=1, le=256)
    holdout_fraction: float = Field(0.2, gt=0, lt=1,
                                    description="Share of the frames kept for validation.")
    seed: JsonInt = Field(0, ge=0, le=2**32 - 1,
                      description="Fixes the hold-out split and the crops (torch and numpy seeds "
                                  "are 32-bit safe).")
    crop_size: JsonInt = Field(352, ge=8, le=8192,
                           description="Training crop side in frame pixels.")
    class_weights: Literal[CLASS_WEIGHTINGS] | None = Field(
        None, description="Per-class loss weights from the job's training labels "
        "(train-seg --class-weights); unset: the weighting the base model was trained with "
        "(the shipped segmenter: sqrt-median-frequency; an untrained model: none).")


class JobRequest(BaseModel):
    """``POST /jobs/finetune``: which labelled frames, how to train, from which model."""

    model_config = {"extra": "forbid"}

    vehicle: str | None = Field(None, pattern=VEHICLE_PATTERN,
                                description="Only this vehicle's frames.")
    since: UtcDatetime | None = Field(None, description="Captured at or after.")
    until: UtcDatetime | None = Field(None, description="Captured before.")
    source: Source = Field(Source.human, description="Which labels to train on.")
    base_version: bounded_json_int(1, 2**31 - 1) | None = Field(
        None,
        description="Registry version to start from (a 32-bit column); unset: the serving model.")
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class Example(BaseModel):
    """One labelled frame as the training run finds it in the blob store."""

    frame_id: int
    latent_key: str
    label_key: str


class TrainSpec(BaseModel):
    """Everything one training run needs, resolved from the database beforehand."""

    data_dir: str = Field(description="The service's data dir (blob files unless S3 is set).")
    base_weights: str | None = Field(description="Weights file of the base model; None: the "
                                                 "seeded untrained model.")
    depth: int
    codec_id: str
    class_names: list[str]
    train: list[Example]
    holdout: list[Example]
    hyperparameters: Hyperparameters
    out: str = Field(description="Where rank 0 writes the weights and result.json.")
