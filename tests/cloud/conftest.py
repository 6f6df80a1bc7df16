"""Fixtures for the cloud service: a tiny codec, containers, and real servers on loopback.

Servers are real uvicorn servers on free loopback ports, spoken to with httpx: in a thread of
the test process where that is enough (fast: torch is imported once), in a subprocess where the
test must kill it. PostgreSQL is a throwaway cluster started by ``pg.sh``; S3 is moto's server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import torch
import uvicorn
from click.testing import CliRunner

from cloud_service.cli import main as cli
from cloud_service.core.config import Settings
from cloud_service.main import create_app
from latentlink.codec.container import CaptureMeta
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import save_codec

REPO = Path(__file__).resolve().parents[2]
PG_SCRIPT = Path(__file__).with_name("pg.sh")
ADMIN_TOKEN = "admin-token-for-tests"
FRAME_SIZE = (64, 96)
MSGPACK = {"content-type": "application/x-msgpack"}
READY_TIMEOUT_S = 60
BODY_LIMIT = 256 * 1024
LATENT_LIMIT = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def codec(tmp_path_factory: pytest.TempPathFactory) -> tuple[TorchCodec, Path]:
    """A seeded, untrained d=1 codec saved as a weights file: small, fast, real bitstreams."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = Codec(CodecConfig(depth=1))
    path = tmp_path_factory.mktemp("weights") / "codec_test_d1.pt"
    save_codec(model, path, provenance={"purpose": "cloud service tests"})
    return TorchCodec(model), path


@pytest.fixture(scope="session")
def make_container(codec: tuple[TorchCodec, Path]):
    """``make_container(vehicle, frame, ts=..., seed=..., size=...)`` → container bytes."""
    runner, _ = codec

    def make(vehicle: str, frame: str, ts: float = 1_700_000_000.0, seed: int = 0,
             size: tuple[int, int] = FRAME_SIZE) -> bytes:
        image, _ = synthetic_scene(*size, seed)
        return runner.encode(image, CaptureMeta(vehicle=vehicle, frame=frame, ts=ts))

    return make


def add_vehicle(data_dir: Path, name: str, env: dict[str, str] | None = None) -> str:
    """Register a vehicle through the CLI; returns its token (the output's last line)."""
    result = CliRunner().invoke(cli, ["add-vehicle", name, "--data-dir", str(data_dir)], env=env)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@dataclass
class LiveServer:
    """A running server's address, settings and its vehicles' tokens."""

    settings: Settings
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=bearer(token) if token else {}, timeout=30)

    @property
    def admin(self) -> httpx.Client:
        return self.client(ADMIN_TOKEN)


def wait_ready(url: str, process: subprocess.Popen | None = None) -> None:
    """Poll /readyz until 200; fail early if the server process died."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {READY_TIMEOUT_S}s")


@contextlib.contextmanager
def threaded_server(settings: Settings) -> Iterator[str]:
    """A uvicorn server for ``settings`` in a thread; yields its URL once it accepts requests
    (the models may still be loading)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def live_server(settings: Settings, vehicles: tuple[str, ...] = ("car-1", "car-2", "car-3"),
                env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Register ``vehicles``, then serve ``settings`` from a thread until the block ends."""
    tokens = {name: add_vehicle(settings.data_dir, name, env) for name in vehicles}
    with threaded_server(settings) as url:
        wait_ready(url)
        yield LiveServer(settings, url, tokens)


def server_settings(data_dir: Path, codec_path: Path, **overrides: object) -> Settings:
    """Settings for a test server: the tiny codec, fast batching, an admin token."""
    values = dict(data_dir=data_dir, codec_weights=[str(codec_path)], admin_token=ADMIN_TOKEN,
                  batch_size=4, batch_timeout_ms=5, sweep_interval_s=0.5, device="cpu",
                  max_body_bytes=BODY_LIMIT, max_latent_bytes=LATENT_LIMIT)
    values.update(overrides)
    return Settings(**values)



@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, codec) -> Iterator[LiveServer]:
    """The embedded configuration (SQLite + files), shared by the API tests."""
    settings = server_settings(tmp_path_factory.mktemp("embedded"), codec[1])
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; skips where no server binaries exist."""
    if "PG_BIN" not in os.environ and not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin or PG_BIN)")
    folder = tempfile.mkdtemp(prefix="latentlink-pg-")
    os.chmod(folder, 0o755)
    started = subprocess.run(["bash", str(PG_SCRIPT), "start", folder, str(free_port())],
                             capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start PostgreSQL: {started.stderr.strip()[-500:]}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(PG_SCRIPT), "stop", folder], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-API server on loopback with a bucket named 'frames'."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import boto3

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="frames")
    try:
        yield url
    finally:
        server.stop()


@contextlib.contextmanager
def server_process(data_dir: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, str]]:
    """``cloud-service serve`` as a real subprocess (for tests that kill it)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud_service.cli", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stderr.close()
