"""A tiny train → export → eval on synthetic frames (seconds on one core)."""

import json

import pytest
import torch

from latentlink.evaluation.codec_eval import evaluate
from latentlink.models.compressor import CodecConfig
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import WeightsError, load_codec, resolve_weights
from latentlink.training.codec_config import CodecTrainConfig
from latentlink.training.codec_trainer import CodecTrainer, grow_decompressor, learning_rate


def tiny_config(root, out_dir, **overrides) -> CodecTrainConfig:
    base = dict(
        dataset="camvid",
        data_root=str(root),
        depth=1,
        epochs=3,
        lr=2e-3,
        batch_size=4,
        patch_size=32,
        patches_per_image=4,
        warmup_steps=5,
        grad_clip=1.0,
        out_dir=str(out_dir),
        threads=1,
    )
    return CodecTrainConfig(**{**base, **overrides})


def test_training_improves_and_resumes(synthetic_camvid, tmp_path):
    trainer = CodecTrainer(tiny_config(synthetic_camvid, tmp_path), log=lambda _: None)
    trainer.run(show_progress=False)
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["val_psnr"] > history[0]["val_psnr"]
    assert (tmp_path / "best.pt").exists() and (tmp_path / "last.pt").exists()

    resumed = CodecTrainer(tiny_config(synthetic_camvid, tmp_path, epochs=4), log=lambda _: None)
    resumed.resume(tmp_path / "last.pt")
    assert resumed.epoch == 3 and resumed.step == trainer.step
    resumed.run(show_progress=False)
    assert resumed.epoch == 4

    weights = resumed.export_best(tmp_path / "codec.pt")
    codec, provenance = load_codec(weights)
    assert provenance["codec_id"] == TorchCodec(codec).codec_id
    assert provenance["trained_with"]["depth"] == 1

    frames = [(f"f{i}", image) for i, image in enumerate(resumed.val_frames)]
    summary = evaluate(TorchCodec(codec), frames, compare=["jpeg"], show_progress=False)
    assert summary["frames"] == 2
    assert set(summary) >= {"cf", "psnr", "ssim", "bits_per_symbol", "entropy_bits_per_symbol"}
    # Huffman's sparse (run-length) tables can go below the order-0 bound, so no ordering here.
    assert summary["bits_per_symbol"] > 0 and summary["entropy_bits_per_symbol"] > 0
    assert summary["compare"]["jpeg"]["cf"] > 0


def test_rate_term_lowers_the_real_rate(synthetic_camvid, tmp_path):
    """The factorized codec's per-channel rate model lowers the rate validation measures (the
    per-channel entropy of real n-bit codes), and no channel is left carrying nothing."""
    rates, channel_bits = {}, {}
    for lam in (0.0, 0.05):
        torch.manual_seed(0)
        trainer = CodecTrainer(
            tiny_config(synthetic_camvid, tmp_path / str(lam), rate_lambda=lam, epochs=2,
                        arch="factorized", lr=1e-3),
            log=lambda _: None,
        )
        metrics = trainer.run(show_progress=False)
        rates[lam], channel_bits[lam] = metrics["bpp"], metrics["channel_bits"]
    assert rates[0.05] < rates[0.0]
    assert len(channel_bits[0.05]) == 16 and min(channel_bits[0.0]) > 0


def test_time_budget_stops_the_run_with_a_checkpoint(synthetic_camvid, tmp_path):
    config = tiny_config(synthetic_camvid, tmp_path, epochs=50, max_minutes=1e-4,
                         arch="factorized", lr_schedule="cosine")
    trainer = CodecTrainer(config, log=lambda _: None)
    trainer.run(show_progress=False)
    assert trainer.epoch == 1, "the budget ends the run after the first step's epoch"
    assert (tmp_path / "last.pt").exists() and trainer.progress() >= 1.0


def test_cosine_schedule_follows_progress():
    config = CodecTrainConfig(lr=1e-3, lr_schedule="cosine")
    assert learning_rate(config, 0, 10, progress=0.0) == pytest.approx(1e-3)
    assert learning_rate(config, 0, 10, progress=0.5) == pytest.approx(1e-3 * (0.02 + 0.49))
    assert learning_rate(config, 0, 10, progress=1.0) == pytest.approx(2e-5)


def test_learning_rate_schedule():
    config = CodecTrainConfig(lr=1e-2, lr_step=10, lr_gamma=0.75, warmup_steps=100)
    assert learning_rate(config, 0, 0) == pytest.approx(1e-4)
    assert learning_rate(config, 0, 99) == pytest.approx(1e-2)
    assert learning_rate(config, 25, 5000) == pytest.approx(1e-2 * 0.75**2)


def test_unknown_weights_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        resolve_weights(tmp_path / "nope.pt")
    with pytest.raises(WeightsError, match="no shipped weights"):
        resolve_weights("default", depth=2, bits=5)
    junk = tmp_path / "junk.pt"
    torch.save({"format": "other"}, junk)
    with pytest.raises(WeightsError, match="not a LatentLink"):
        load_codec(junk)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_codec(garbage)


def test_decoder_fine_tuning_keeps_the_codec_id(synthetic_camvid, tmp_path):
    first = CodecTrainer(
        tiny_config(synthetic_camvid, tmp_path / "a", epochs=1), log=lambda _: None
    )
    first.run(show_progress=False)
    weights = first.export_best(tmp_path / "a.pt")
    base, _ = load_codec(weights)
    tuned_run = CodecTrainer(
        tiny_config(
            synthetic_camvid,
            tmp_path / "b",
            epochs=1,
            init_weights=str(weights),
            freeze_compressor=True,
        ),
        log=lambda _: None,
    )
    tuned_run.run(show_progress=False)
    tuned, provenance = load_codec(tuned_run.export_best(tmp_path / "b.pt"))
    assert provenance["codec_id"] == TorchCodec(base).codec_id
    changed = any(
        not torch.equal(a, b)
        for a, b in zip(
            base.decompressor.state_dict().values(),
            tuned.decompressor.state_dict().values(),
            strict=True,
        )
    )
    assert changed, "net_D was trained"


def test_grown_net_d_decodes_as_before_and_then_trains(synthetic_camvid, tmp_path):
    first = CodecTrainer(tiny_config(synthetic_camvid, tmp_path / "a", epochs=1,
                                     arch="factorized", rate_lambda=1e-3), log=lambda _: None)
    first.run(show_progress=False)
    base, _ = load_codec(first.export_best(tmp_path / "a.pt"))
    grown = grow_decompressor(base, 2).eval()
    codes = torch.rand(2, 16, 4, 6)
    assert torch.equal(grown.decompressor(codes), base.decompressor(codes))
    assert TorchCodec(grown).codec_id == TorchCodec(base).codec_id
    with pytest.raises(ValueError, match="shrink"):
        grow_decompressor(grown, 1)

    tuned_run = CodecTrainer(
        tiny_config(synthetic_camvid, tmp_path / "b", epochs=1, init_weights=str(tmp_path / "a.pt"),
                    freeze_compressor=True, synthesis_blocks=2, arch="factorized",
                    rate_lambda=1e-3),
        log=lambda _: None,
    )
    tuned_run.run(show_progress=False)
    tuned, provenance = load_codec(tuned_run.export_best(tmp_path / "b.pt"))
    assert tuned.config.synthesis_blocks == 2
    assert provenance["codec_id"] == TorchCodec(base).codec_id
    extra = tuned.decompressor.extra.state_dict()
    assert extra and any(v.abs().sum() > 0 for k, v in extra.items() if k.endswith("2.weight"))


def test_synthesis_blocks_belong_to_the_factorized_codec():
    with pytest.raises(ValueError, match="synthesis_blocks"):
        CodecConfig(arch="paper", synthesis_blocks=1)
    with pytest.raises(ValueError, match="synthesis_blocks"):
        CodecConfig(arch="factorized", synthesis_blocks=-1)


def test_freezing_needs_initial_weights(synthetic_camvid, tmp_path):
    with pytest.raises(ValueError, match="init-weights"):
        CodecTrainer(tiny_config(synthetic_camvid, tmp_path, freeze_compressor=True))
