"""The ``latentlink`` command line, end to end on synthetic data (real files, real sessions)."""

import json

import pytest
from click.testing import CliRunner

from latentlink.cli import main


@pytest.fixture(scope="module")
def trained(synthetic_camvid, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    result = CliRunner().invoke(
        main,
        [
            "train-codec",
            "--data-root",
            str(synthetic_camvid),
            "--depth",
            "1",
            "--epochs",
            "1",
            "--lr",
            "1e-3",
            "--batch-size",
            "4",
            "--patch-size",
            "32",
            "--threads",
            "1",
            "--quiet",
            "--out-dir",
            str(out / "run"),
            "--export",
            str(out / "codec.pt"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out / "codec.pt"


def test_export_weights_from_a_run(trained, tmp_path):
    run_dir = trained.parent / "run"
    out = tmp_path / "shipped.pt"
    result = CliRunner().invoke(main, ["export-weights", str(run_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    from latentlink.models.weights import load_codec

    _, provenance = load_codec(out)
    assert provenance["trained_with"]["depth"] == 1 and provenance["epochs_run"] == 1
    assert provenance["selected"]["epoch"] == 1
    empty = CliRunner().invoke(main, ["export-weights", str(tmp_path), "-o", str(out)])
    assert empty.exit_code == 2 and "no best.pt" in empty.output


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in (
        "train-codec",
        "eval-codec",
        "sweep-codec",
        "export-onnx",
        "bench-huffman",
        "demo",
    ):
        assert command in result.output


def test_eval_codec_writes_the_documented_json(trained, synthetic_camvid, tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        main,
        [
            "eval-codec",
            "--weights",
            str(trained),
            "--depth",
            "1",
            "--data-root",
            str(synthetic_camvid),
            "--split",
            "val",
            "--compare",
            "jpeg,webp",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["frames"] == 2
    for key in ("cf", "psnr", "ssim", "bits_per_symbol", "entropy_bits_per_symbol"):
        assert summary[key] > 0
    assert set(summary["compare"]) == {"jpeg", "webp"}
    assert {"cf", "psnr", "psnr_equal_bytes", "ssim"} <= set(summary["compare"]["webp"])
    assert result.output.count("PSNR at the learned codec's exact bytes") == 2


def test_eval_at_other_bit_lengths(trained, synthetic_camvid, tmp_path):
    runs = {}
    for bits in (4, 8):
        out = tmp_path / f"{bits}.json"
        result = CliRunner().invoke(
            main,
            [
                "eval-codec",
                "--weights",
                str(trained),
                "--depth",
                "1",
                "--bits",
                str(bits),
                "--data-root",
                str(synthetic_camvid),
                "--json",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        runs[bits] = json.loads(out.read_text())
    assert runs[4]["bits"] == 4 and runs[4]["cf"] > runs[8]["cf"]


def test_sweep_draws_the_figures(trained, synthetic_camvid, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "sweep-codec",
            "--weights-template",
            str(trained),
            "--depths",
            "1",
            "--bits-list",
            "6,8",
            "--data-root",
            str(synthetic_camvid),
            "--out-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig5_ssim_vs_cf.png").stat().st_size > 1000
    assert (tmp_path / "fig6_psnr_vs_cf.png").stat().st_size > 1000
    points = json.loads((tmp_path / "sweep.json").read_text())["points"]
    assert [(p["d"], p["n"]) for p in points] == [(1, 6), (1, 8)]
    assert "| 1 |" in (tmp_path / "sweep.md").read_text()


def test_export_onnx(trained, tmp_path):
    out = tmp_path / "net_c.onnx"
    result = CliRunner().invoke(
        main, ["export-onnx", "--weights", str(trained), "--depth", "1", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000 and "codec" in result.output


def test_bench_huffman(trained, synthetic_camvid, tmp_path):
    out = tmp_path / "huff.json"
    result = CliRunner().invoke(
        main,
        [
            "bench-huffman",
            "--weights",
            str(trained),
            "--depth",
            "1",
            "--data-root",
            str(synthetic_camvid),
            "--repeats",
            "1",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["symbols"] == 2 * 16 * 16 * 24
    assert report["ours"]["bytes"] > 0 and report["zlib"]["bytes"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train-codec", "--data-root", "/nonexistent/x", "--epochs", "1"], "does not exist"),
        (["eval-codec", "--weights", "/nonexistent.pt", "--data-root", "/tmp"], "does not exist"),
        (
            [
                "eval-codec",
                "--weights",
                "default",
                "--bits",
                "3",
                "--depth",
                "2",
                "--data-root",
                "/nonexistent",
                "--compare",
                "mpeg",
            ],
            "unknown codec",
        ),
        (
            [
                "eval-codec",
                "--weights",
                "default",
                "--depth",
                "3",
                "--data-root",
                "/tmp",
                "--compare",
                "bmp",
            ],
            "unknown codec",
        ),
    ],
)
def test_user_errors_exit_2_with_a_message(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_resume_requires_a_checkpoint(synthetic_camvid, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "train-codec",
            "--data-root",
            str(synthetic_camvid),
            "--out-dir",
            str(tmp_path),
            "--resume",
        ],
    )
    assert result.exit_code == 2 and "does not exist" in result.output


def test_demo_round_trips_synthetic_frames_with_the_shipped_codec(tmp_path):
    from latentlink.models.weights import shipped_weights_path

    if not shipped_weights_path(2).is_file():
        pytest.skip("no shipped d=2 codec weights")
    result = CliRunner().invoke(main, ["demo", "--frames", "2", "--work-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "synthetic-1" in result.output and "mean" in result.output
    assert (tmp_path / "net_c.onnx").is_file()


def test_rd_curves_compares_a_ladder_with_classical_codecs(trained, synthetic_camvid, tmp_path):
    """Two operating points (a paper and a factorized codec) against JPEG at the same CF."""
    import torch

    from latentlink.models.compressor import Codec, CodecConfig
    from latentlink.models.weights import save_codec

    torch.manual_seed(0)
    factorized = tmp_path / "factorized.pt"
    save_codec(Codec(CodecConfig(depth=1, arch="factorized")), factorized)
    out = tmp_path / "rd"
    result = CliRunner().invoke(
        main,
        ["rd-curves", "--weights", f"{trained},{factorized}", "--depth", "1",
         "--data-root", str(synthetic_camvid), "--compare", "jpeg", "--out-dir", str(out)],
    )
    assert result.exit_code == 0, result.output
    for name in ("psnr_vs_cf.png", "ssim_vs_cf.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = json.loads((out / "rd.json").read_text())["points"]
    assert [p["label"] for p in points] == [str(trained), str(factorized)]
    assert all(len(p["channel_bits"]) == 16 and "jpeg" in p["compare"] for p in points)
    assert all("curve" not in p for p in points)  # one ladder: the per-depth legend
    table = (out / "rd.md").read_text()
    assert "Δ vs jpeg dB" in table and "Per-channel entropy" in table
    assert "Δ vs jpeg at equal bytes" in table
    # JPEG never gets more bytes than the learned codec; interpolated to equal bytes it can only
    # gain (to within a non-monotonic size step, where it keeps its own PSNR).
    assert all(p["compare"]["jpeg"]["psnr_equal_bytes"] >= p["compare"]["jpeg"]["psnr"] - 1e-9
               for p in points)
    assert f"`{factorized}`" in table

    result = CliRunner().invoke(
        main,
        ["rd-curves", "--weights", str(trained), "--weights", str(factorized), "--depth", "1",
         "--limit", "1", "--data-root", str(synthetic_camvid), "--compare", "jpeg",
         "--out-dir", str(out)],
    )
    assert result.exit_code == 0, result.output
    points = json.loads((out / "rd.json").read_text())["points"]
    assert [(p["label"], p["curve"]) for p in points] == [
        (str(trained), "LatentLink ladder 1"), (str(factorized), "LatentLink ladder 2")]


def test_rd_curves_rejects_unknown_codecs(synthetic_camvid, tmp_path):
    result = CliRunner().invoke(
        main, ["rd-curves", "--compare", "jpeg,bmp", "--data-root", str(synthetic_camvid)]
    )
    assert result.exit_code == 2 and "unknown codec" in result.output


def test_train_codec_help_names_the_new_knobs():
    result = CliRunner().invoke(main, ["train-codec", "--help"])
    assert result.exit_code == 0
    for flag in ("--arch", "--lr-schedule", "--max-minutes", "--density-lr-scale"):
        assert flag in result.output
