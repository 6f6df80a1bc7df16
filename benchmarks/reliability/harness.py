"""Servers and containers for the reliability suite: a real ``cloud-service serve`` process
with its log and data dir, registered vehicles, and containers relabelled per vehicle/frame."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from click.testing import CliRunner

from cloud_service.cli import main as cli
from latentlink.codec import container
from latentlink.codec.container import CaptureMeta, FrameHeader
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import load_codec, resolve_weights

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "reliability-admin"
COMMAND = [sys.executable, "-m", "cloud_service.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A data dir, its vehicles' tokens, and the serving process (when running)."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    tokens: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def register(self, *vehicles: str) -> None:
        """``cloud-service add-vehicle`` for each, in this process (a subprocess each would
        cost a second apiece for 32 vehicles)."""
        for name in vehicles:
            added = CliRunner().invoke(cli, ["add-vehicle", name, "--data-dir",
                                             str(self.data_dir)], env=self.env)
            if added.exit_code != 0:
                raise RuntimeError(added.output)
            self.tokens[name] = added.output.strip().splitlines()[-1]

    def start(self, timeout: float = 120) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*COMMAND, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port),
                 "--log-level", "info"], cwd=REPO, env=self.env, stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError("server not ready")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)

    def peak_rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback")

    def frames(self, vehicle: str | None = None) -> list[dict]:
        """Every stored frame's record (of ``vehicle`` only, when given), as the admin sees
        them, all pages."""
        items, cursor = [], None
        with self.client(ADMIN_TOKEN) as admin:
            while True:
                params = {"limit": 1000, **({"vehicle": vehicle} if vehicle else {}),
                          **({"cursor": cursor} if cursor else {})}
                page = admin.get("/frames", params=params).json()
                items += page["items"]
                cursor = page["next"]
                if cursor is None:
                    return items

    def client(self, token: str, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout,
                            headers={"authorization": f"Bearer {token}"})


@contextlib.contextmanager
def server(data_dir: Path, codec_spec: str, vehicles: tuple[str, ...] = (),
           **settings: str) -> Iterator[Server]:
    """A registered, started server; killed at the end."""
    env = {**os.environ, "LATENTLINK_CODEC_WEIGHTS": codec_spec, "LATENTLINK_DEVICE": "cpu",
           "LATENTLINK_ADMIN_TOKEN": ADMIN_TOKEN}
    env.pop("DATABASE_URL", None)
    env.update({f"LATENTLINK_{name.upper()}": value for name, value in settings.items()})
    data_dir.mkdir(parents=True, exist_ok=True)
    live = Server(data_dir, env)
    live.register(*vehicles)
    live.start()
    try:
        yield live
    finally:
        live.kill()


Template = tuple[FrameHeader, bytes]


def load_runner(weights: str, depth: int) -> tuple[TorchCodec, str]:
    """The codec (to make containers) and its weights file (for the servers)."""
    path = resolve_weights(weights, depth=depth)
    codec, _ = load_codec(path)
    return TorchCodec(codec), str(path)


def templates(runner: TorchCodec, size: tuple[int, int], count: int) -> list[Template]:
    """Coded synthetic scenes, ready to be relabelled."""
    coded = []
    for seed in range(count):
        image, _ = synthetic_scene(*size, seed)
        body = runner.encode(image, CaptureMeta(vehicle="template", frame="t", ts=0.0))
        coded.append(container.read_header(body))
    return coded


def relabel(template: Template, vehicle: str, frame: str) -> bytes:
    """The template's payload under another vehicle, frame id and time (no re-coding)."""
    header, payload = template
    meta = header.meta.model_copy(update={"vehicle": vehicle, "frame": frame, "ts": time.time()})
    return container.assemble(header.model_copy(update={"meta": meta}), payload)
