"""Segmenting stored frames again, through the real HTTP API and the CLI: who may, which frames
go back to the queue, that the workers redo them with the serving model, and that none is lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloud_service.cli import main as cli
from latentlink.data.datasets import CAMVID_CLASSES
from latentlink.models.segmenter import SegmenterConfig, build_segmenter
from latentlink.models.segmenter_weights import save_segmenter
from tests.cloud.servers import MSGPACK, LiveServer, live_server, server_settings

T0 = 1_700_000_000.0
PER_VEHICLE = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, codec, make_container
           ) -> Iterator[LiveServer]:
    """A segmenting server holding frames of car-1 and car-2 at T0, T0 + 10, T0 + 20."""
    settings = server_settings(tmp_path_factory.mktemp("resegment"), codec[1],
                               sweep_interval_s=0.2)
    with live_server(settings) as live:
        for vehicle in ("car-1", "car-2"):
            with live.client(live.tokens[vehicle]) as car:
                for i in range(PER_VEHICLE):
                    body = make_container(vehicle, f"r-{i}", ts=T0 + 10 * i, seed=i)
                    assert car.post("/frames", content=body, headers=MSGPACK).status_code == 201
        settle(live)
        yield live


def frames(server: LiveServer) -> list[dict]:
    with server.admin as admin:
        return admin.get("/frames", params={"limit": 1000}).json()["items"]


def settle(server: LiveServer, limit: float = 30) -> list[dict]:
    """Wait until no frame is pending or running; the frames."""
    deadline = time.monotonic() + limit
    while True:
        items = frames(server)
        if all(item["segmentation"]["status"] not in ("pending", "running") for item in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def test_selected_frames_are_segmented_again_and_none_is_lost(server: LiveServer) -> None:
    before = settle(server)
    assert len(before) == 2 * PER_VEHICLE
    assert {item["segmenter"] for item in before} == {"untrained"}
    with server.admin as admin:
        answer = admin.post("/frames/resegment", json={"vehicle": "car-1", "since": T0 + 5,
                                                       "segmenter": "untrained"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"queued": PER_VEHICLE - 1}
        none = admin.post("/frames/resegment", json={"segmenter": "0123456789abcdef"})
        assert none.json() == {"queued": 0}
    after = settle(server)
    assert [item["id"] for item in after] == [item["id"] for item in before]
    assert all(item["segmentation"]["status"] == "done" for item in after)
    with server.admin as admin:
        for item in after:
            assert admin.get(f"/frames/{item['id']}/segmentation").status_code == 200


def test_only_operators_may_and_bad_selections_are_422(server: LiveServer) -> None:
    with server.client(server.tokens["car-1"]) as car:
        assert car.post("/frames/resegment", json={"vehicle": "car-1"}).status_code == 403
    with server.client() as anonymous:
        assert anonymous.post("/frames/resegment", json={}).status_code == 401
    with server.admin as admin:
        for body in ({"vehicles": "car-1"}, {"since": "yesterday"}, {"version": 0},
                     {"vehicle": "car 1"}):
            answer = admin.post("/frames/resegment", json=body)
            assert answer.status_code == 422, (body, answer.text)
        # Schema-valid selections whose criteria cannot hold together select nothing.
        for body in ({"since": T0 + 10, "until": T0}, {"since": T0, "until": T0}):
            answer = admin.post("/frames/resegment", json=body)
            assert answer.json() == {"queued": 0}, (body, answer.text)
        bad_json = admin.post("/frames/resegment", content=b"{nope",
                              headers={"content-type": "application/json"})
        assert bad_json.status_code == 422
        missing = admin.post("/frames/resegment", json={"version": 999})
        assert missing.status_code == 404 and "no model version 999" in missing.text
    with server.client(server.tokens["car-1"]) as car:  # the token is checked before the body
        assert car.post("/frames/resegment", content=b"{nope",
                        headers={"content-type": "application/json"}).status_code == 403


def test_the_cli_queues_the_same_selection(server: LiveServer) -> None:
    data_dir = ["--data-dir", str(server.settings.data_dir)]
    settle(server)
    result = CliRunner().invoke(cli, ["resegment", *data_dir, "--vehicle", "car-2",
                                      "--until", str(T0 + 15)])
    assert result.exit_code == 0, result.output
    assert f"queued {PER_VEHICLE - 1} frames for segmentation" in result.output
    bad = CliRunner().invoke(cli, ["resegment", *data_dir, "--since", "soon"])
    assert bad.exit_code == 2 and "since" in bad.output
    settle(server)


def test_a_promotion_can_segment_recent_frames_with_the_new_model(
        server: LiveServer, codec, tmp_path: Path) -> None:
    """Register a version, promote it with resegment_since: the frames captured since then
    come back segmented by it, the older ones keep their masks."""
    runner, codec_path = codec
    out = tmp_path / "run"
    out.mkdir()
    config = SegmenterConfig(depth=runner.config.depth)
    save_segmenter(build_segmenter(config), config, out / "weights.pt",
                   codec_id=runner.codec_id, class_names=CAMVID_CLASSES, provenance={})
    (out / "result.json").write_text(json.dumps(
        {"metrics": {}, "base_metrics": {}, "lineage": {"holdout": []}}))
    env = {"LATENTLINK_CODEC_WEIGHTS": str(codec_path), "LATENTLINK_DEVICE": "cpu",
           "LATENTLINK_SEGMENTER_WEIGHTS": "untrained"}
    registered = CliRunner().invoke(cli, ["register-model", str(out), "--data-dir",
                                          str(server.settings.data_dir)], env=env)
    assert registered.exit_code == 0, registered.output
    settle(server)
    with server.admin as admin:
        version = admin.get("/models").json()["items"][-1]
        answer = admin.post(f"/models/{version['version']}/promote",
                            params={"force": "true", "resegment_since": T0 + 5})
        assert answer.status_code == 200, answer.text
        assert answer.json()["resegmented"] == 2 * (PER_VEHICLE - 1)
    by_time = {item["ts"]: item["segmenter"] for item in settle(server)}
    assert by_time == {T0: "untrained", T0 + 10: version["name"], T0 + 20: version["name"]}
