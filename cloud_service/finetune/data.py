"""Training data straight from the store: container → Huffman decode → int2float, never net_D.

Frames become the project's :class:`SegFrame`/:class:`SegData`, so fine-tuning reuses the
trainer's crops and :func:`latentlink.training.seg_trainer.evaluate` unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from cloud_service import images
from cloud_service.finetune.spec import Example
from cloud_service.storage import BlobStore
from latentlink.codec import container
from latentlink.training.latent_cache import LatentFrame
from latentlink.training.seg_data import SegData, SegFrame, pad_label


def split_holdout(examples: list[Example], fraction: float, seed: int
                  ) -> tuple[list[Example], list[Example]]:
    """(train, holdout): the same frames and seed always give the same split."""
    if len(examples) < 2:
        raise ValueError(f"fine-tuning needs at least 2 labelled frames, found {len(examples)}")
    ordered = sorted(examples, key=lambda example: example.frame_id)
    order = np.random.default_rng(seed).permutation(len(ordered))
    held = min(max(1, math.ceil(fraction * len(ordered))), len(ordered) - 1)
    holdout = sorted((ordered[i] for i in order[:held]), key=lambda e: e.frame_id)
    train = sorted((ordered[i] for i in order[held:]), key=lambda e: e.frame_id)
    return train, holdout


def load_examples(examples: list[Example], blobs: BlobStore, depth: int,
                  ignore_index: int) -> SegData:
    """Decode each example's stored container and label into a network-ready frame."""
    stride = 2 ** (depth + 1)
    frames = []
    for example in examples:
        frame = container.unpack(blobs.get(example.latent_key))
        label = images.decode_mask(blobs.get(example.label_key))
        latent = LatentFrame(str(example.frame_id), frame.quantized, frame.header.size)
        height, width = (n * stride for n in frame.quantized.codes.shape[1:])
        frames.append(SegFrame(latent, pad_label(label, height, width, ignore_index),
                               frame.header.size))
    return SegData(frames, stride)
