"""Fixtures for the edge agent: a tiny codec as ONNX, frame folders, the real cloud service on
loopback, and the agent itself as a real subprocess (``python -m edge_agent``).

The cloud side is the colleague's service, configured the way its own tests configure it (a
seeded, untrained d=1 codec and its helpers come from ``tests.cloud.conftest``), with
segmentation off: the agent's tests are about delivery, and the segmenter would only cost CPU.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from cloud_service.core.config import Settings
from cloud_service.main import create_app
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.export import export_compressor
from tests.cloud import conftest as cloud_conftest
from tests.cloud.servers import (
    ADMIN_TOKEN,
    add_vehicle,
    bearer,
    free_port,
    server_settings,
    wait_ready,
)
from tests.conftest import write_png

codec = cloud_conftest.codec
"""The cloud tests' seeded, untrained d=1 codec (a session fixture), so both sides agree."""
hermetic_environment = cloud_conftest.hermetic_environment
"""The cloud's settings left in the shell must not reach the servers started here either."""

REPO = Path(__file__).resolve().parents[2]
FRAME_SIZE = (64, 96)
FAST_RETRIES = ("--backoff-initial-s", "0.05", "--backoff-max-s", "0.4")


@pytest.fixture(scope="session")
def onnx_model(codec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny codec's net_C as ONNX, with its codec id in the metadata."""
    runner, _ = codec
    return export_compressor(runner.codec, tmp_path_factory.mktemp("model") / "net_c.onnx")


def write_frames(folder: Path, count: int, seed: int = 0) -> list[str]:
    """``count`` synthetic PNGs named frame_000.png …; returns the file names."""
    names = [f"frame_{i:03d}.png" for i in range(count)]
    for i, name in enumerate(names):
        write_png(folder / name, synthetic_scene(*FRAME_SIZE, seed + i)[0])
    return names


class Cloud:
    """The cloud service on a loopback port it keeps when restarted (``servers.threaded_server``
    picks a new port each time, and the agent must find the server where it was)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings), host="127.0.0.1", port=self.port, log_level="critical"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_ready(self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            self._server = None

    def register(self, vehicle: str) -> str:
        """A new vehicle's token."""
        return add_vehicle(self.settings.data_dir, vehicle)

    def frame_ids(self, vehicle: str) -> list[str]:
        """The frame ids the server stores for ``vehicle`` (one per stored row)."""
        return [item["frame"] for item in self.frames(vehicle)]

    def frames(self, vehicle: str) -> list[dict]:
        """The records the server stores for ``vehicle``."""
        response = httpx.get(
            f"{self.url}/frames",
            params={"vehicle": vehicle, "limit": 1000},
            headers=bearer(ADMIN_TOKEN),
            timeout=10,
        )
        response.raise_for_status()
        page = response.json()
        assert page["next"] is None
        return page["items"]


@contextlib.contextmanager
def running_cloud(data_dir: Path, codec_path: Path) -> Iterator[Cloud]:
    cloud = Cloud(server_settings(data_dir, codec_path, segmentation=False))
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="session")
def cloud(codec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """One server for the tests that do not stop it; each test registers its own vehicle."""
    with running_cloud(tmp_path_factory.mktemp("cloud"), codec[1]) as server:
        yield server


def agent_env() -> dict[str, str]:
    """The environment without LATENTLINK_* variables, so only the test's flags count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LATENTLINK_")}


@dataclass
class AgentRunner:
    """Builds and runs ``python -m edge_agent run`` for one vehicle against one server
    (``model`` None: without ``--model``, the agent's default)."""

    model: Path | None
    url: str
    vehicle: str
    token: str
    spool: Path
    extra: list[str] = field(default_factory=list)

    def argv(self, source: str | Path, *flags: str) -> list[str]:
        return [
            "run",
            "--source",
            str(source),
            "--server",
            self.url,
            "--token",
            self.token,
            "--vehicle-id",
            self.vehicle,
            "--spool",
            str(self.spool),
            *(["--model", str(self.model)] if self.model is not None else []),
            "--threads",
            "1",
            "--log-format",
            "json",
            *FAST_RETRIES,
            *self.extra,
            *flags,
        ]

    def start(self, source: str | Path, *flags: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_agent", *self.argv(source, *flags)],
            cwd=REPO,
            env=agent_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, source: str | Path, *flags: str, timeout: float = 60) -> tuple[int, str]:
        """Run to completion (add --once); returns (exit status, log)."""
        process = self.start(source, *flags)
        try:
            _, log = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        return process.returncode, log


@pytest.fixture
def make_agent(onnx_model: Path, tmp_path: Path):
    """``make_agent(cloud, vehicle)`` → an :class:`AgentRunner` with a fresh vehicle and spool."""

    def make(cloud: Cloud, vehicle: str, token: str | None = None) -> AgentRunner:
        token = token if token is not None else cloud.register(vehicle)
        return AgentRunner(onnx_model, cloud.url, vehicle, token, tmp_path / "spool")

    return make


def wait_for(condition, timeout: float = 30, interval: float = 0.05) -> None:
    """Poll ``condition()`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(interval)
