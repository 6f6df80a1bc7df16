"""The knobs of a segmenter training run (``latentlink train-seg``) and its input kinds.

Torch-free, apart from the trainer (:mod:`latentlink.training.seg_trainer`) and the data
(:mod:`latentlink.training.seg_data`), so that the command line is generated from these fields
without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from latentlink.data.config import DataConfig
from latentlink.knobs import knob

INPUTS = ("latent", "image", "decoded", "jpeg")
CODEC_INPUTS = ("latent", "decoded")
CLASS_WEIGHTINGS = ("none", "median-frequency", "sqrt-median-frequency")
"""Loss weightings by class: none, median-frequency (SegNet's CamVid weighting), its square root."""


def model_input_kind(input_name: str) -> str:
    """The segmenter's input kind: latents for ``latent``, RGB frames for everything else."""
    return "latent" if input_name == "latent" else "image"


@dataclass
class SegTrainConfig(DataConfig):
    """Every knob of a segmenter training run (stored in checkpoints and provenance)."""

    input: str = knob("latent", "latent: net_C latents (proposed); image: original frames "
                      "(BL 1); decoded: net_D reconstructions (BL 3); jpeg: JPEG frames at "
                      "--jpeg-cf (BL 4).", choices=INPUTS)
    preset: str = knob("lite", "lite: CPU-scale; paper: ResNet-50 widths (GPU).",
                       choices=("lite", "paper"))
    split: str = knob("train", "Training split.")
    codec_weights: str = knob("default", "Codec weights for latent/decoded inputs, or 'default' "
                              "for the shipped ones.")
    depth: int = knob(2, "d of the default codec weights (a weights file brings its own).",
                      short="-d", low=1, high=3)
    bits: int | None = knob(None, "Quantisation bit length n (default: the codec's own).",
                            short="-n", low=1, high=16, show_default=False)
    jpeg_cf: float = knob(66.0, "Target compression factor of --input jpeg.", low=1)
    iterations: int = knob(40_000, low=1)
    lr: float = knob(1e-3, low=0, low_open=True)
    momentum: float = knob(0.9, low=0, high=1)
    weight_decay: float = knob(5e-4, low=0)
    poly_power: float = knob(0.9, low=0)
    aux_weight: float = knob(0.4, "Weight of the auxiliary (deep-supervision) loss; 0 = off.",
                             low=0)
    input_norm: bool = knob(True, "Per-channel BatchNorm on the latent before the first conv "
                            "(latent input only; --no-input-norm: the paper's plain first conv).",
                            off="--no-input-norm")
    extra_blocks: int = knob(0, "Residual blocks added to the latent segmenter's first stage "
                             "(latent input only; 2 gives it the image model's cost).", low=0,
                             high=8)
    ohem: bool = knob(False, "Online hard example mining (DGCNet's OHEM cross-entropy).",
                      off="--no-ohem")
    class_weights: str = knob("none", "Weight the loss per class: median-frequency (SegNet's "
                              "CamVid weighting) or its square root; none: every pixel alike.",
                              choices=CLASS_WEIGHTINGS)
    distill_from: str | None = knob(None, "Image segmenter weights trained on original frames "
                                    "(e.g. BL 1's export) to distil from: the loss also pulls "
                                    "the model's class probabilities towards that teacher's on "
                                    "the original of every training view. Training only: input "
                                    "and cost are unchanged.", show_default=False)
    distill_weight: float = knob(1.0, "Weight of the distillation term (with --distill-from).",
                                 low=0)
    distill_temperature: float = knob(1.0, "Softmax temperature of the distillation term.",
                                      low=0, low_open=True)
    distill_class_weighted: bool = knob(False, "Weight the distillation term per pixel like the "
                                        "cross-entropy: by --class-weights of the pixel's label, "
                                        "void left out (default: a plain mean over the "
                                        "teacher's grid).", off="--distill-plain-mean")
    ohem_threshold: float = 0.7
    ohem_min_kept: int = 100_000
    batch_size: int = knob(8, low=1)
    crop_size: int = knob(352, "Random crop side in frame pixels (the paper: 840 on Cityscapes).",
                          low=16)
    flip: bool = knob(True, "Horizontal flips (latents of flipped frames for --input latent).",
                      off="--no-flip")
    augment_views: int = knob(0, "Scale (1-1.5x) / flip / colour-jittered views of each training "
                              "frame, encoded once by net_C (or JPEG, net_D) and cached; 0 = "
                              "flips only.", low=0, high=16)
    val_every: int = knob(1000, low=1)
    val_frames: int = knob(0, "Validate on the first N validation frames (0 = all).", low=0)
    bf16: bool = knob(False, "bfloat16 autocast.", off="--fp32")
    channels_last: bool = knob(True, "Channels-last memory format (faster convolutions on CPU).",
                               off="--contiguous")
    seed: int = knob(0)
    threads: int = knob(0, "Torch intra-op threads (0 = torch's default).", low=0)
    out_dir: str = knob("runs/seg", "Checkpoints and history.", folder=True)
    cache_dir: str = knob("runs/latent_cache", "Where net_C's latents are cached (per codec id, "
                          "n, data set and split).", folder=True)
