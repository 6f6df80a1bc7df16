"""The training entry point alone and under torchrun with two CPU ranks (gloo): both ranks end
with the same weights and only rank 0 writes the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cloud_service import images
from cloud_service.cli import main as cli
from cloud_service.finetune.data import split_holdout
from cloud_service.finetune.spec import Example, Hyperparameters, TrainSpec
from cloud_service.finetune.train import main
from cloud_service.storage import FileBlobStore
from latentlink.codec.container import CaptureMeta
from latentlink.data.datasets import CAMVID_CLASSES
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.segmenter import SegmenterConfig, build_segmenter
from latentlink.models.segmenter_weights import load_segmenter, save_segmenter
from tests.cloud.servers import REPO

SIZE = (32, 48)
FRAMES = 5


@pytest.fixture
def spec_file(tmp_path: Path, codec) -> Path:
    """Five synthetic frames and exact labels in a blob store, a base model, and the spec."""
    runner, _ = codec
    blobs = FileBlobStore(tmp_path / "blobs")
    examples = []
    for seed in range(FRAMES):
        image, label = synthetic_scene(*SIZE, seed)
        meta = CaptureMeta(vehicle="car", frame=str(seed), ts=0.0)
        blobs.put(f"latents/{seed}", runner.encode(image, meta))
        blobs.put(f"labels/{seed}", images.encode_png(label))
        examples.append(Example(frame_id=seed + 1, latent_key=f"latents/{seed}",
                                label_key=f"labels/{seed}"))
    config = SegmenterConfig(depth=runner.config.depth)
    torch.manual_seed(0)
    save_segmenter(build_segmenter(config), config, tmp_path / "base.pt",
                   codec_id=runner.codec_id, class_names=CAMVID_CLASSES, provenance={})
    hp = Hyperparameters(iterations=3, batch_size=2, holdout_fraction=0.4, seed=1)
    train, holdout = split_holdout(examples, hp.holdout_fraction, hp.seed)
    spec = TrainSpec(data_dir=str(tmp_path), base_weights=str(tmp_path / "base.pt"),
                     depth=config.depth, codec_id=runner.codec_id,
                     class_names=list(CAMVID_CLASSES), train=train, holdout=holdout,
                     hyperparameters=hp, out=str(tmp_path / "out"))
    path = tmp_path / "spec.json"
    path.write_text(spec.model_dump_json())
    return path


def test_holdout_split_is_deterministic() -> None:
    examples = [Example(frame_id=i, latent_key="", label_key="") for i in range(10)]
    first = split_holdout(examples, 0.3, seed=7)
    assert first == split_holdout(list(reversed(examples)), 0.3, seed=7)
    assert len(first[1]) == 3 and not {e.frame_id for e in first[0]} & {e.frame_id
                                                                           for e in first[1]}
    assert first != split_holdout(examples, 0.3, seed=8)


def test_standalone_run_registers_and_promotes(spec_file: Path, codec) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two spinning OpenMP threads crawl on a busy two-core machine
    try:
        main(["--job-spec", str(spec_file)])
    finally:
        torch.set_num_threads(threads)
    out = spec_file.parent / "out"
    result = json.loads((out / "result.json").read_text())
    assert result["metrics"]["frames"] == 2 and len(result["checksums"]) == 1
    _, _, meta = load_segmenter(out / "weights.pt")
    assert meta["provenance"]["train_frames"] == result["lineage"]["train_frames"]

    env = {"LATENTLINK_CODEC_WEIGHTS": str(codec[1]), "LATENTLINK_DEVICE": "cpu",
           "LATENTLINK_SEGMENTER_WEIGHTS": "untrained"}
    registered = CliRunner().invoke(cli, ["register-model", str(out), "--data-dir",
                                          str(spec_file.parent), "--promote"], env=env)
    assert registered.exit_code == 0, registered.output
    assert "registered version 1" in registered.output
    assert "promoted: mean Dice" in registered.output  # either way, decided on held-out Dice


def test_two_gloo_ranks_agree_and_rank0_writes_once(spec_file: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1",  # this tree's code, not an installed copy's
           "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "cloud_service.finetune.train", "--job-spec", str(spec_file)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[:3000]
    out = spec_file.parent / "out"
    assert done.stdout.count(str(out)) == 1  # only rank 0 wrote (and said so)
    checksums = json.loads((out / "result.json").read_text())["checksums"]
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert sorted(p.name for p in out.iterdir()) == ["result.json", "weights.pt"]


def test_class_weights_reach_the_loss_and_the_lineage(spec_file: Path) -> None:
    spec = TrainSpec.model_validate_json(spec_file.read_text())
    checksums = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for weighting in ("none", "sqrt-median-frequency"):
            hp = spec.hyperparameters.model_copy(update={"class_weights": weighting})
            out = spec_file.parent / weighting
            variant = spec.model_copy(update={"hyperparameters": hp, "out": str(out)})
            path = spec_file.parent / f"{weighting}.json"
            path.write_text(variant.model_dump_json())
            main(["--job-spec", str(path)])
            result = json.loads((out / "result.json").read_text())
            assert result["lineage"]["hyperparameters"]["class_weights"] == weighting
            checksums[weighting] = result["checksums"][0]
    finally:
        torch.set_num_threads(threads)
    assert checksums["none"] != checksums["sqrt-median-frequency"]
