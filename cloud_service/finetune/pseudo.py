"""Pseudo-labels for stored frames from a stronger compressed-domain segmenter.

A larger latent segmenter (e.g. the ``paper`` preset, trained on a GPU) labels frames that no
person has labelled; the labels are stored with ``source = "pseudo"``, apart from human labels,
and a fine-tuning job uses them only when asked to (``source: pseudo``). Like the serving path,
the teacher reads int2float of the stored latent and never a decompressed image.
"""

from __future__ import annotations

from pathlib import Path

import torch
from sqlalchemy.orm import Session

from cloud_service import crud
from cloud_service.finetune.annotations import Source, store_annotation, validate_label
from cloud_service.storage import BlobStore
from latentlink.codec import container
from latentlink.codec.quantize import int2float
from latentlink.models.segmenter import predict_labels
from latentlink.models.segmenter_weights import check_codec, load_segmenter


class PseudoLabelError(ValueError):
    """The teacher cannot label these frames (an image segmenter, or another codec's)."""


def pseudo_label(session: Session, blobs: BlobStore, teacher_weights: Path,
                 vehicle: str | None = None, device: str = "cpu") -> int:
    """Label every selected frame with the teacher's prediction; returns how many were labelled."""
    model, config, meta = load_segmenter(teacher_weights, map_location=device)
    if config.input_kind != "latent":
        raise PseudoLabelError(f"{teacher_weights} is an {config.input_kind} segmenter; "
                               "pseudo-labels come from latents, never decompressed frames")
    labelled = 0
    for frame in crud.frames.in_id_order(session, vehicle):
        try:
            check_codec(meta, frame.codec)
        except ValueError as error:
            raise PseudoLabelError(str(error)) from error
        stored = container.unpack(blobs.get(frame.blob_key))
        latent = torch.from_numpy(int2float(stored.quantized))[None].to(device)
        label = predict_labels(model, latent, (frame.height, frame.width))[0]
        label = label.cpu().numpy().astype("uint8")
        validate_label(label, frame, tuple(meta["class_names"]))
        store_annotation(session, blobs, frame, label, Source.pseudo)
        labelled += 1
    return labelled
