"""Continual fine-tuning through the real HTTP API: annotations, jobs, the registry's promotion
gate both ways, rollback, hot swap under load, cancellation, and restart settling."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sqlalchemy import select

from cloud_service import images
from cloud_service.cli import main as cli
from cloud_service.db.models import FinetuneJob
from cloud_service.db.session import make_engine, make_sessions
from cloud_service.finetune.importer import CITYSCAPES_SUFFIXES, label_files
from cloud_service.finetune.registry import ModelRegistry
from cloud_service.finetune.spec import TrainSpec
from cloud_service.ml import load_models
from cloud_service.storage import make_blob_store
from latentlink.data.synthetic import synthetic_scene
from tests.cloud.servers import (
    FRAME_SIZE,
    MSGPACK,
    LiveServer,
    live_server,
    server_settings,
)

FRAMES = 8
PNG = {"content-type": "image/png"}
QUICK = {"iterations": 40, "lr": 0.01, "batch_size": 4, "holdout_fraction": 0.25, "seed": 3}


def upload_labelled(server: LiveServer, make_container, count: int, prefix: str) -> list[int]:
    """Upload ``count`` synthetic frames from car-1 and label each exactly; their ids."""
    ids = []
    with server.client(server.tokens["car-1"]) as car, server.admin as admin:
        for seed in range(count):
            body = make_container("car-1", f"{prefix}-{seed}", seed=seed)
            frame_id = car.post("/frames", content=body, headers=MSGPACK).json()["id"]
            _, label = synthetic_scene(*FRAME_SIZE, seed)
            answer = admin.put(f"/frames/{frame_id}/annotation",
                               content=images.encode_png(label), headers=PNG)
            assert answer.status_code == 200, answer.text
            ids.append(frame_id)
    return ids


def wait_job(server: LiveServer, job_id: int, states: tuple[str, ...], limit: float = 45
             ) -> dict:
    deadline = time.monotonic() + limit
    with server.admin as admin:
        while True:
            job = admin.get(f"/jobs/{job_id}").json()
            if job["state"] in states:
                return job
            assert time.monotonic() < deadline, f"job stuck: {job}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory, codec, make_container
          ) -> Iterator[tuple[LiveServer, dict]]:
    """A server whose first fine-tuning job (on exact labels) has finished."""
    settings = server_settings(tmp_path_factory.mktemp("finetune"), codec[1])
    with live_server(settings) as server:
        upload_labelled(server, make_container, FRAMES, "tune")
        with server.admin as admin:
            answer = admin.post("/jobs/finetune", json={"hyperparameters": QUICK})
        assert answer.status_code == 202, answer.text
        yield server, wait_job(server, answer.json()["id"], ("succeeded", "failed"), 90)


def test_annotation_validation(tuned, make_container) -> None:
    server, _ = tuned
    with server.client(server.tokens["car-2"]) as car:
        frame_id = car.post("/frames", content=make_container("car-2", "odd"),
                            headers=MSGPACK).json()["id"]
        label = np.zeros(FRAME_SIZE, np.uint8)
        assert car.put(f"/frames/{frame_id}/annotation", content=images.encode_png(label),
                       headers=PNG).status_code == 403
    with server.admin as admin:
        def put(pixels: np.ndarray, headers: dict = PNG, source: str = "human"):
            return admin.put(f"/frames/{frame_id}/annotation", content=images.encode_png(pixels),
                             headers=headers, params={"source": source})

        assert put(np.zeros((8, 8), np.uint8)).status_code == 422  # wrong size
        assert "classes" in put(np.full(FRAME_SIZE, 42, np.uint8)).json()["detail"]
        assert put(np.zeros((*FRAME_SIZE, 3), np.uint8)).status_code == 422  # RGB
        assert put(label, headers=MSGPACK).status_code == 415
        assert put(label, source="guess").status_code == 422
        assert admin.put(f"/frames/{frame_id}/annotation", content=b"not a png",
                         headers=PNG).status_code == 422
        assert admin.put("/frames/999999/annotation", content=images.encode_png(label),
                         headers=PNG).status_code == 404
        ignored = label.copy()
        ignored[:4] = 11  # CamVid's ignore index
        assert put(ignored).json()["source"] == "human"
        assert put(ignored, source="pseudo").json()["source"] == "pseudo"


def test_job_improves_and_is_promoted(tuned) -> None:
    server, job = tuned
    assert job["state"] == "succeeded", job
    metrics = job["metrics"]
    assert metrics["dice"] > metrics["base"]["dice"]
    assert metrics["promoted"] and metrics["frames"] == 2
    with server.admin as admin:
        listing = admin.get("/models").json()
    assert listing["serving"] == job["version"]
    (version,) = [item for item in listing["items"] if item["version"] == job["version"]]
    assert version["serving"] and len(version["lineage"]["train_frames"]) == FRAMES - 2
    assert version["lineage"]["hyperparameters"]["seed"] == QUICK["seed"]
    # no weighting asked for, and the untrained base was trained with none
    assert version["lineage"]["hyperparameters"]["class_weights"] == "none"


def test_gate_refuses_worse_force_and_rollback(tuned) -> None:
    server, job = tuned
    registry = _offline_registry(server)
    good = registry.version(job["version"])
    model = registry.load(good)
    zeroed = model.model
    with torch.no_grad():
        for parameter in zeroed.head.parameters():
            parameter.zero_()
    worse = registry.register(zeroed, model.config, good.codec_id, model.class_names,
                              {}, {**good.lineage, "note": "classifier zeroed"})
    with server.admin as admin:
        refused = admin.post(f"/models/{worse.version}/promote")
        assert refused.status_code == 409 and "does not beat" in refused.json()["detail"]
        assert admin.get("/models").json()["serving"] == good.version
        forced = admin.post(f"/models/{worse.version}/promote", params={"force": "true"})
        assert forced.status_code == 200 and forced.json()["promoted"]
        assert admin.get("/models").json()["serving"] == worse.version
        assert admin.post("/models/rollback").json()["version"] == good.version
        assert admin.get("/models").json()["serving"] == good.version
        assert admin.post("/models/9999/promote").status_code == 404


def test_hot_swap_under_concurrent_uploads(tuned, make_container) -> None:
    server, job = tuned
    bodies = [make_container("car-3", f"swap-{i}", seed=100 + i) for i in range(24)]

    def upload(body: bytes) -> int:
        with server.client(server.tokens["car-3"]) as car:
            return car.post("/frames", content=body, headers=MSGPACK).status_code

    with ThreadPoolExecutor(6) as pool, server.admin as admin:
        results = pool.map(upload, bodies)
        for _ in range(3):  # swap back and forth between two versions while frames arrive
            assert admin.post("/models/rollback").status_code == 200
            assert admin.post(f"/models/{job['version']}/promote",
                              params={"force": "true"}).status_code == 200
        assert list(results) == [201] * len(bodies)
    deadline = time.monotonic() + 30
    with server.admin as admin:
        while True:
            items = admin.get("/frames", params={"vehicle": "car-3"}).json()["items"]
            if all(item["segmentation"]["status"] == "done" for item in items):
                break
            assert time.monotonic() < deadline, items
            time.sleep(0.1)


def test_cancel_queued_and_running(tuned) -> None:
    server, _ = tuned
    long = {**QUICK, "iterations": 100_000}
    with server.admin as admin:
        running = admin.post("/jobs/finetune", json={"hyperparameters": long}).json()["id"]
        queued = admin.post("/jobs/finetune", json={"hyperparameters": long}).json()["id"]
        assert admin.post(f"/jobs/{queued}/cancel").json()["state"] == "cancelled"
        wait_job(server, running, ("running",))
        assert admin.post(f"/jobs/{running}/cancel").json()["cancel_requested"]
        assert wait_job(server, running, ("cancelled", "failed"))["state"] == "cancelled"
        assert admin.post(f"/jobs/{running}/cancel").status_code == 409
        assert admin.get("/jobs/424242").status_code == 404
        assert server.client(server.tokens["car-1"]).get(f"/jobs/{running}").status_code == 403


def test_job_without_labels_fails_with_reason(tuned) -> None:
    server, _ = tuned
    with server.admin as admin:
        job_id = admin.post("/jobs/finetune", json={"source": "pseudo", "vehicle": "car-1"}
                            ).json()["id"]
    job = wait_job(server, job_id, ("failed", "succeeded"))
    assert job["state"] == "failed" and "labelled frames" in job["error"]


def test_restart_settles_an_abandoned_job_and_keeps_serving(tuned, codec) -> None:
    server, job = tuned
    sessions = make_sessions(make_engine(server.settings.sqlalchemy_url))
    with sessions.begin() as session:
        abandoned = FinetuneJob(state="running", request={}, progress=0.5,
                                cancel_requested=False, created_at=time.time(),
                                started_at=time.time())
        alive = FinetuneJob(state="running", request={}, progress=0.5, cancel_requested=False,
                            created_at=time.time(), started_at=time.time(),
                            heartbeat_at=time.time())  # another replica's, still beating
        session.add_all([abandoned, alive])
    settings = server_settings(server.settings.data_dir, codec[1])
    with live_server(settings, vehicles=()) as second, second.admin as admin:
        settled = wait_job(second, abandoned.id, ("failed",))
        assert "interrupted" in settled["error"]
        assert admin.get(f"/jobs/{alive.id}").json()["state"] == "running"
        assert admin.get("/models").json()["serving"] == job["version"]
    with sessions.begin() as session:
        session.get(FinetuneJob, alive.id).state = "cancelled"
        assert session.scalar(select(FinetuneJob).where(FinetuneJob.state == "running")) is None


def test_cli_import_finetune_and_job(tuned, tmp_path: Path) -> None:
    server, _ = tuned
    folder = tmp_path / "trainannot"
    folder.mkdir()
    for seed in range(FRAMES):
        (folder / f"tune-{seed}.png").write_bytes(
            images.encode_png(synthetic_scene(*FRAME_SIZE, seed)[1]))
    (folder / "never-uploaded.png").write_bytes(images.encode_png(np.zeros((4, 4), np.uint8)))
    data_dir = ["--data-dir", str(server.settings.data_dir)]
    runner = CliRunner()
    imported = runner.invoke(cli, ["import-annotations", str(folder), *data_dir,
                                   "--dataset", "camvid", "--source", "pseudo"])
    assert imported.exit_code == 0, imported.output
    assert "matched 8, unmatched 1, invalid 0" in imported.output
    queued = runner.invoke(cli, ["finetune", *data_dir, "--source", "pseudo",
                                 "--iterations", "2", "--seed", "5"])
    assert queued.exit_code == 0, queued.output
    job_id = int(queued.output.split()[-1])
    job = wait_job(server, job_id, ("succeeded", "failed"))
    assert job["state"] == "succeeded", job
    shown = runner.invoke(cli, ["job", str(job_id), *data_dir])
    assert json.loads(shown.output)["request"]["source"] == "pseudo"
    assert runner.invoke(cli, ["job", "999999", *data_dir]).exit_code == 1

    env = {"LATENTLINK_CODEC_WEIGHTS": str(server.settings.codec_weights[0]),
           "LATENTLINK_SEGMENTER_WEIGHTS": "untrained", "LATENTLINK_DEVICE": "cpu"}
    written = runner.invoke(cli, ["finetune", *data_dir, "--source", "pseudo", "--vehicle",
                                  "car-1", "--spec-out", str(tmp_path / "spec"),
                                  "--holdout-fraction", "0.5"], env=env)
    assert written.exit_code == 0, written.output
    spec = TrainSpec.model_validate_json((tmp_path / "spec" / "spec.json").read_text())
    assert len(spec.holdout) == len(spec.train) == FRAMES // 2
    assert Path(spec.base_weights).is_file()


def test_cityscapes_label_files_prefer_train_ids(tmp_path: Path) -> None:
    city = tmp_path / "gtFine" / "train" / "aachen"
    city.mkdir(parents=True)
    for suffix in CITYSCAPES_SUFFIXES:
        (city / f"aachen_000000_000019{suffix}").write_bytes(b"")
    (city / "aachen_000000_000019_gtFine_color.png").write_bytes(b"")
    found = label_files(tmp_path, "cityscapes")
    assert found == {"aachen_000000_000019": city / "aachen_000000_000019_gtFine_labelTrainIds.png"}


def _offline_registry(server: LiveServer) -> ModelRegistry:
    """A registry on the server's database and blobs, as a second process would open it."""
    settings = server.settings
    models = load_models(settings)
    return ModelRegistry(make_sessions(make_engine(settings.sqlalchemy_url)),
                         make_blob_store(settings), Path(settings.data_dir) / "offline-models",
                         models.device, models.segmenter, lambda segmenter: None)


def test_import_matches_edge_agent_folder_ids(tuned, make_container, tmp_path: Path) -> None:
    """The edge agent names folder frames FILE.EXT-HASH; CamVid labels are FILE.EXT."""
    server, _ = tuned
    with server.client(server.tokens["car-1"]) as car:
        for frame in ("cam_01.png-1a2b3c4d", "camX01.png-99999999"):
            body = make_container("car-1", frame, seed=1)
            assert car.post("/frames", content=body, headers=MSGPACK).status_code == 201
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "cam_01.png").write_bytes(images.encode_png(synthetic_scene(*FRAME_SIZE, 1)[1]))
    result = CliRunner().invoke(cli, ["import-annotations", str(folder), "--data-dir",
                                      str(server.settings.data_dir), "--dataset", "camvid"])
    assert result.exit_code == 0, result.output
    # "_" is not a wildcard: camX01.png-… is not labelled by cam_01.png.
    assert "matched 1, unmatched 0, invalid 0" in result.output


def test_pseudo_labels_come_from_a_latent_teacher(tuned, codec, tmp_path: Path) -> None:
    from latentlink.data.datasets import CAMVID_CLASSES
    from latentlink.models.segmenter import SegmenterConfig, build_segmenter
    from latentlink.models.segmenter_weights import save_segmenter

    server, _ = tuned
    runner, _ = codec
    data_dir = ["--data-dir", str(server.settings.data_dir)]
    config = SegmenterConfig(depth=runner.config.depth)
    teacher, stranger = tmp_path / "teacher.pt", tmp_path / "stranger.pt"
    for path, codec_id in ((teacher, runner.codec_id), (stranger, "0" * 16)):
        save_segmenter(build_segmenter(config), config, path, codec_id=codec_id,
                       class_names=CAMVID_CLASSES, provenance={})
    labelled = CliRunner().invoke(cli, ["pseudo-label", str(teacher), *data_dir,
                                        "--vehicle", "car-1"])
    assert labelled.exit_code == 0, labelled.output
    with server.admin as admin:
        frames = admin.get("/frames", params={"vehicle": "car-1", "limit": 1000}).json()["total"]
    assert f"pseudo-labelled {frames} frames" in labelled.output
    refused = CliRunner().invoke(cli, ["pseudo-label", str(stranger), *data_dir])
    assert refused.exit_code == 1 and "0000000000000000" in refused.output


def test_a_job_continues_its_base_models_class_weighting(tuned) -> None:
    """Unset, a job's class weighting is the one its base model was trained with (the shipped
    segmenter's sqrt-median-frequency, say); one asked for explicitly wins."""
    server, _ = tuned

    def lineage_weighting(hyperparameters: dict, base_version: int | None = None) -> tuple:
        body = {"hyperparameters": {**QUICK, **hyperparameters}, "base_version": base_version}
        with server.admin as admin:
            answer = admin.post("/jobs/finetune", json=body)
            assert answer.status_code == 202, answer.text
            job = wait_job(server, answer.json()["id"], ("succeeded", "failed"), 90)
            assert job["state"] == "succeeded", job
            (version,) = [item for item in admin.get("/models").json()["items"]
                          if item["version"] == job["version"]]
        return job["version"], version["lineage"]["hyperparameters"]["class_weights"]

    weighted, weighting = lineage_weighting({"class_weights": "sqrt-median-frequency"})
    assert weighting == "sqrt-median-frequency"
    assert lineage_weighting({}, base_version=weighted)[1] == "sqrt-median-frequency"
    assert lineage_weighting({"class_weights": "none"}, base_version=weighted)[1] == "none"
