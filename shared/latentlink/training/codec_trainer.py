"""Training net_C and net_D: the paper's recipe, plus an optional rate term.

Paper recipe (defaults): Adam, lr 1e-2, StepLR (step 10 epochs, γ 0.75), 100 epochs of 256×256
random patches, MSE. An *epoch* is ``patches_per_image`` random patches from every training frame.

Beyond the paper: ``rate_lambda`` > 0 adds λ · (estimated bits per pixel of the quantised latent)
to the loss, which makes net_C produce latents that Huffman codes compactly. λ = 0 is the paper's
recipe. The ``paper`` architecture estimates the rate with one soft histogram per frame
(:func:`soft_entropy_bits`); the ``factorized`` one with its learned per-channel density, whose
logits train at ``density_lr_scale`` times the learning rate so that they track the codes.

``max_minutes`` bounds a run by wall time (a GPU lent for minutes, a session's end): the cosine
schedule then follows whichever of steps and time runs out first, and the run checkpoints and
stops when the budget is spent. Quantisation to n bits is simulated in every step either
way (straight-through rounding), so net_D learns the values it will actually receive.

Runs on the GPU when there is one, on the CPU otherwise, through the same code; ``bf16`` autocast
and channels-last memory make CPU training ~4× faster on cores with AVX-512 BF16 (measured in
docs/weights.md). Checkpoints every epoch (``last.pt``) and at the best validation score
(``best.pt``), so a run killed at the end of a session resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from latentlink.codec.entropy import channel_entropy_bits
from latentlink.codec.frames import pad_to_multiple
from latentlink.codec.quantize import float2int
from latentlink.data.datasets import list_samples, load_images
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.quantization import bits_per_pixel, psnr_from_mse, soft_entropy_bits
from latentlink.models.weights import codec_id, load_codec, resolve_weights, save_codec
from latentlink.training.codec_config import CodecTrainConfig
from latentlink.training.patches import epoch_batches, to_tensor


def codec_config_of(config: CodecTrainConfig) -> CodecConfig:
    """The shape of the codec a training run builds."""
    return CodecConfig(config.depth, config.bits, config.stem, config.latent_clamp, config.arch,
                       config.synthesis_blocks)


def grow_decompressor(codec: Codec, synthesis_blocks: int) -> Codec:
    """``codec`` with ``synthesis_blocks`` extra net_D blocks per coarse scale, decoding as before.

    Only blocks are added (identity-initialised); every trained weight is copied, so the grown
    codec reconstructs exactly what the original does until training changes it.
    """
    if synthesis_blocks == codec.config.synthesis_blocks:
        return codec
    if synthesis_blocks < codec.config.synthesis_blocks:
        raise ValueError(f"cannot shrink net_D from {codec.config.synthesis_blocks} to "
                         f"{synthesis_blocks} extra blocks")
    grown = Codec(replace(codec.config, synthesis_blocks=synthesis_blocks))
    old, new = codec.state_dict(), grown.state_dict()
    added = set(new) - set(old)
    assert set(old) <= set(new) and all(k.startswith("decompressor.extra.") for k in added)
    grown.load_state_dict({key: old.get(key, value) for key, value in new.items()})
    return grown.to(next(codec.parameters()).device)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 / AMX).

    ``torch.backends.cpu.get_cpu_capability()`` says "AVX512" on cores without the BF16
    extension too, so the flag itself is read where torch exposes it.
    """
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if probe is not None:
        return bool(probe())
    return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")


def default_bf16() -> bool:
    """bf16 autocast where it pays: CPUs with native bf16. GPUs train in fp32 with TF32."""
    return pick_device().type == "cpu" and cpu_has_bf16()


def learning_rate(config: CodecTrainConfig, epoch: int, step: int, progress: float = 0.0) -> float:
    """The schedule's factor times a linear warm-up over the first ``warmup_steps`` steps.

    ``step``: StepLR decay per epoch (the paper). ``cosine``: half a cosine over ``progress``,
    the finished fraction of the run, down to 2 % of the base rate.
    """
    if config.lr_schedule == "cosine":
        decay = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    else:
        decay = config.lr_gamma ** (epoch // max(config.lr_step, 1))
    warmup = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    return config.lr * decay * warmup


@torch.no_grad()
def validate(codec: Codec, frames: Sequence[np.ndarray], device: torch.device) -> dict[str, float]:
    """Full-frame PSNR and per-channel order-0 entropy of the real n-bit codes.

    Frames are padded to a multiple of 2^(d+1) and cropped back, as in evaluation; the latent is
    quantised with the numpy float2int the edge uses, so this is the shipped bitstream's rate
    (bar the Huffman overhead of a few percent and the container header). ``channel_bits`` is
    the mean bits per symbol of each channel: a dead channel shows as 0.
    """
    codec.eval()
    mse_sum, bits_sum, pixels = 0.0, 0.0, 0
    channel_bits = []
    for frame in frames:
        height, width = frame.shape[:2]
        x = to_tensor(pad_to_multiple(frame, codec.config.downsampling)).to(device)
        out = codec(x)
        x_hat = out["x_hat"][..., :height, :width].mul(255).round().div(255)
        mse_sum += float(((x_hat - x[..., :height, :width]) ** 2).mean())
        latent = out["latent"][0].float().cpu().numpy()
        codes = float2int(latent, codec.config.bits, codec.config.quantizer).codes
        channel_bits.append(channel_entropy_bits(codes))
        bits_sum += float(channel_bits[-1].sum()) * codes[0].size
        pixels += height * width
    codec.train()
    mse = mse_sum / len(frames)
    bpp = bits_sum / pixels
    return {
        "psnr": psnr_from_mse(mse),
        "mse": mse,
        "bpp": bpp,
        "cf_entropy": 24.0 / bpp if bpp > 0 else math.inf,
        "channel_bits": [round(float(b), 3) for b in np.mean(channel_bits, axis=0)],
    }


def score(metrics: dict[str, float], rate_lambda: float) -> float:
    """Lower is better: MSE alone for the paper's recipe, the RD cost when a rate term is on."""
    return metrics["mse"] + rate_lambda * metrics["bpp"]


class CodecTrainer:
    """Owns model, optimiser, data and checkpoints of one training run."""

    def __init__(self, config: CodecTrainConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.out_dir = Path(config.out_dir)
        self.device = pick_device()
        if self.device.type == "cuda":  # TF32 convolutions: ~fp32 accuracy at tensor-core speed
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cuda.matmul.allow_tf32 = True
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.codec = self._initial_codec(config)
        self.codec.to(self.device, memory_format=torch.channels_last)
        if config.freeze_compressor:
            self.codec.compressor.requires_grad_(False)
        density = list(self.codec.density.parameters()) if self.codec.density else []
        density_ids = {id(p) for p in density}
        networks = [
            p for p in self.codec.parameters() if p.requires_grad and id(p) not in density_ids
        ]
        groups = [{"params": networks, "lr_scale": 1.0}]
        if density:
            groups.append({"params": density, "lr_scale": config.density_lr_scale})
        self.optimizer = torch.optim.Adam(groups, lr=config.lr)
        self.epoch, self.step, self.best = 0, 0, math.inf
        self.wall_seconds = 0.0
        self._epoch_started: float | None = None
        self.train_frames = load_images(
            list_samples(config.dataset, config.data_root, config.split)
        )
        val = list_samples(config.dataset, config.data_root, config.val_split)
        self.val_frames = load_images(val[: config.val_frames] if config.val_frames else val)

    @staticmethod
    def _initial_codec(config: CodecTrainConfig) -> Codec:
        wanted = codec_config_of(config)
        if not config.init_weights:
            if config.freeze_compressor:
                raise ValueError("freezing net_C needs --init-weights (a trained net_C)")
            return Codec(wanted)
        codec, _ = load_codec(resolve_weights(config.init_weights, config.depth, config.bits))
        grown = replace(codec.config, synthesis_blocks=wanted.synthesis_blocks)
        if grown != wanted:
            raise ValueError(f"--init-weights {config.init_weights} is a {codec.config} codec, "
                             f"but this run asks for {wanted}")
        return grow_decompressor(codec, wanted.synthesis_blocks).train()

    # -- checkpoints -------------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "config": asdict(self.config),
            "model": self.codec.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "wall_seconds": self.wall_seconds,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def save_checkpoint(self, name: str) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save(self._state(), tmp)
        tmp.replace(path)
        return path

    def resume(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.codec.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        self.wall_seconds = state.get("wall_seconds", 0.0)
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.log(f"resumed from {path} at epoch {self.epoch}, step {self.step}")

    # -- training ----------------------------------------------------------------------------
    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        config = self.config
        batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        lr = learning_rate(config, self.epoch, self.step, self.progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            out = self.codec(batch)
        mse = torch.mean((out["x_hat"].float() - batch) ** 2)
        frame_bits = (
            out["rate_bits"] if "rate_bits" in out else soft_entropy_bits(out["codes"], config.bits)
        )
        rate = bits_per_pixel(frame_bits, batch.shape[-2], batch.shape[-1]).mean()
        loss = mse + config.rate_lambda * rate if config.rate_lambda else mse
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.codec.parameters(), config.grad_clip)
        self.optimizer.step()
        self.step += 1
        return {"loss": loss.item(), "psnr": psnr_from_mse(mse.item()), "bpp": rate.item()}

    def steps_per_epoch(self) -> int:
        config = self.config
        return math.ceil(len(self.train_frames) * config.patches_per_image / config.batch_size)

    def progress(self) -> float:
        """Finished fraction of the run: by steps, or by wall time when that runs out first."""
        by_steps = self.step / max(self.config.epochs * self.steps_per_epoch(), 1)
        budget = self.config.max_minutes * 60
        by_time = (self.wall_seconds + self._epoch_seconds()) / budget if budget else 0.0
        return max(by_steps, by_time)

    def _epoch_seconds(self) -> float:
        """Seconds of the epoch in progress (not yet in ``wall_seconds``)."""
        started = self._epoch_started
        return time.perf_counter() - started if started is not None else 0.0

    def out_of_time(self) -> bool:
        budget = self.config.max_minutes * 60
        return bool(budget) and self.wall_seconds + self._epoch_seconds() >= budget

    def run(self, show_progress: bool = True) -> dict[str, float]:
        """Train until ``config.epochs``; returns the last validation metrics."""
        config = self.config
        metrics: dict[str, float] = {}
        history = self.out_dir / "history.jsonl"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        while self.epoch < config.epochs and not self.out_of_time():
            started = self._epoch_started = time.perf_counter()
            batches = epoch_batches(
                self.train_frames,
                config.patch_size,
                config.batch_size,
                config.patches_per_image,
                self.rng,
            )
            bar = tqdm(
                batches,
                total=self.steps_per_epoch(),
                disable=not show_progress,
                leave=False,
                desc=f"epoch {self.epoch + 1}/{config.epochs}",
            )
            running: list[dict[str, float]] = []
            for batch in bar:
                step_metrics = self.train_step(batch)
                if not math.isfinite(step_metrics["loss"]):
                    raise FloatingPointError(
                        f"loss became {step_metrics['loss']} at step {self.step}; lower --lr, "
                        "add --warmup-steps or --grad-clip"
                    )
                running.append(step_metrics)
                bar.set_postfix(
                    loss=f"{step_metrics['loss']:.4g}",
                    psnr=f"{step_metrics['psnr']:.2f}",
                    bpp=f"{step_metrics['bpp']:.3f}",
                )
                if self.out_of_time():
                    break
            self.epoch += 1
            self.wall_seconds += time.perf_counter() - started
            self._epoch_started = None
            metrics = validate(self.codec, self.val_frames, self.device)
            train_psnr = float(np.mean([m["psnr"] for m in running]))
            record = {
                "epoch": self.epoch,
                "step": self.step,
                "train_psnr": train_psnr,
                "wall_seconds": round(self.wall_seconds, 1),
                **{f"val_{k}": v for k, v in metrics.items()},
            }
            with history.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            current = score(metrics, config.rate_lambda)
            if current < self.best:
                self.best = current
                self.save_checkpoint("best.pt")
            self.save_checkpoint("last.pt")
            self.log(
                f"epoch {self.epoch}: train PSNR {train_psnr:.2f} dB | val PSNR "
                f"{metrics['psnr']:.2f} dB, {metrics['bpp']:.3f} bpp, CF≈"
                f"{metrics['cf_entropy']:.1f}"
            )
        return metrics

    def export_best(self, path: Path) -> Path:
        """Write the best checkpoint's weights as a shippable file with provenance."""
        return export_run(self.out_dir, path)


def export_run(run_dir: Path, path: Path) -> Path:
    """Ship a run's best checkpoint (by the validation score) with its provenance.

    Provenance records the full training configuration, the epoch and step of the selected
    checkpoint, the training wall time up to it, the device, its validation figures and the
    codec id, so docs/weights.md can be regenerated from the weights files alone.
    """
    run_dir = Path(run_dir)
    best, last = run_dir / "best.pt", run_dir / "last.pt"
    if not best.exists() and not last.exists():
        raise FileNotFoundError(f"{run_dir} has no best.pt or last.pt checkpoint")
    state = torch.load(best if best.exists() else last, map_location="cpu", weights_only=False)
    known = {f.name for f in fields(CodecTrainConfig)}  # checkpoints may predate newer knobs
    config = CodecTrainConfig(**{k: v for k, v in state["config"].items() if k in known})
    codec = Codec(codec_config_of(config))
    codec.load_state_dict(state["model"])
    history = run_dir / "history.jsonl"
    records = (
        [json.loads(line) for line in history.read_text().splitlines()] if history.exists() else []
    )
    selected = next((r for r in records if r["epoch"] == state["epoch"]), {})
    save_codec(
        codec,
        path,
        provenance={
            "trained_with": asdict(config),
            "epochs_run": state["epoch"],
            "steps_run": state["step"],
            "wall_seconds": round(state.get("wall_seconds", 0.0), 1),
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "selected": selected,
            "codec_id": codec_id(codec),
        },
    )
    return path
