"""The knobs of a codec training run (``latentlink train-codec``).

Apart from the trainer (:mod:`latentlink.training.codec_trainer`) and torch-free, so that the
command line is generated from these fields without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from latentlink.data.config import DataConfig
from latentlink.knobs import knob


@dataclass
class CodecTrainConfig(DataConfig):
    """Every knob of a codec training run (stored in checkpoints and provenance)."""

    split: str = knob("train", "Training split.")
    depth: int = knob(2, "Digest units d (latent at 1/2^(d+1)).", short="-d", low=1, high=3)
    bits: int = knob(8, "Quantisation bit length n.", short="-n", low=1, high=16)
    stem: str = knob("paper", "net_C stem: the authors' full-resolution stem or the cheaper "
                     "stride-2 one.", choices=("paper", "edge"))
    latent_clamp: bool = knob(True, "Clamp net_C's output to [0, 1] as the authors' code does "
                              "(paper architecture).", off="--no-latent-clamp")
    arch: str = knob("paper", "The authors' net_C/net_D, or the factorized codec (GDN, "
                     "per-channel rate model) that the shipped default uses.",
                     choices=("paper", "factorized"))
    synthesis_blocks: int = knob(0, "Extra residual blocks at each of the factorized net_D's two "
                                 "coarsest scales; with --init-weights and --freeze-compressor "
                                 "they grow a trained codec (starting as the identity).", low=0)
    epochs: int = knob(100, low=1)
    lr: float = knob(1e-2, low=0, low_open=True)
    lr_schedule: str = knob("step", "The paper's StepLR, or a cosine over the run (its steps or "
                            "--max-minutes).", choices=("step", "cosine"))
    lr_step: int = knob(10, "StepLR step size in epochs.", low=1)
    lr_gamma: float = knob(0.75, low=0, high=1)
    density_lr_scale: float = knob(10.0, "Learning-rate multiplier of the factorized rate model.",
                                   low=0, low_open=True)
    max_minutes: float = knob(0.0, "Stop with a checkpoint after this much training time "
                              "(0 = no limit).", low=0)
    warmup_steps: int = knob(0, low=0)
    grad_clip: float = knob(0.0, "Clip the gradient norm to this (0 = off).", low=0)
    batch_size: int = knob(8, low=1)
    patch_size: int = knob(256, low=16)
    patches_per_image: int = knob(1, "Random patches drawn from each training frame per epoch.",
                                  low=1)
    rate_lambda: float = knob(0.0, "Weight of the rate term (bits per pixel); 0 = the paper's "
                              "recipe.", low=0)
    bf16: bool = knob(False, "bfloat16 autocast or float32. Default: bf16 on CPUs with AVX-512 "
                      "BF16 (≈4× faster), fp32 elsewhere (on AVX2-only CPUs bf16 is ~7× slower; "
                      "on a GPU fp32 uses TF32).", off="--fp32", auto=True, show_default=False)
    val_frames: int = knob(0, "Validate on the first N validation frames (0 = all).", low=0)
    seed: int = knob(0)
    out_dir: str = knob("runs/codec", "Checkpoints and history.", folder=True)
    threads: int = knob(0, "Torch intra-op threads (0 = torch's default).", low=0)
    init_weights: str = knob("", "Start from these codec weights (file or 'default[:variant]') "
                             "instead of random.", show_default=False)
    freeze_compressor: bool = knob(False, "Train net_D only (needs --init-weights): the codec id "
                                   "and stored latents stay valid.", show_default=False)
