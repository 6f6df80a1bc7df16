"""Real servers for the cloud service's tests, and what tests need to talk to them.

Servers are real uvicorn servers on free loopback ports, spoken to with httpx: in a thread of
the test process where that is enough (fast: torch is imported once), in a subprocess where the
test must kill it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from cloud_service.cli import main as cli
from cloud_service.core.config import UNTRAINED_SEGMENTER, Settings
from cloud_service.main import create_app
from cloud_service.server import uvicorn_config

REPO = Path(__file__).resolve().parents[2]
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
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings, host="127.0.0.1",
                                           port=port, log_level="critical"))
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
    """Settings for a test server: the tiny codec and the seeded untrained segmenter of its
    depth, fast batching, an admin token."""
    values = dict(data_dir=data_dir, codec_weights=[str(codec_path)], admin_token=ADMIN_TOKEN,
                  segmenter_weights=UNTRAINED_SEGMENTER,
                  batch_size=4, batch_timeout_ms=5, sweep_interval_s=0.5, device="cpu",
                  max_body_bytes=BODY_LIMIT, max_latent_bytes=LATENT_LIMIT)
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def server_process(data_dir: Path, env: dict[str, str], log_level: str = "warning"
                   ) -> Iterator[tuple[subprocess.Popen, str]]:
    """``cloud-service serve`` as a real subprocess (for tests that kill it); its output goes
    to ``server.log`` in the data dir and is shown if it fails to start."""
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cloud_service.cli", "serve", "--data-dir", str(data_dir),
             "--port", str(port), "--log-level", log_level],
            cwd=REPO, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_ready(url, process)
        except (RuntimeError, TimeoutError) as error:
            raise AssertionError(f"{error}:\n{log_path.read_text()[-3000:]}") from error
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def scrape(server: LiveServer) -> dict[tuple[str, tuple], float]:
    """Every /metrics sample as {(name, sorted labels): value}."""
    with server.client() as client:
        text = client.get("/metrics").text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample of a :func:`scrape`, 0 when absent."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
