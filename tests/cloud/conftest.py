"""Fixtures for the cloud service: a tiny codec, containers, and real servers on loopback
(:mod:`tests.cloud.servers`); PostgreSQL is a throwaway cluster started by ``pg.sh``, S3 is
moto's server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cloud_service.core.config import Settings
from latentlink.codec.container import CaptureMeta
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import load_codec, save_codec
from tests.cloud.servers import FRAME_SIZE, LiveServer, free_port, live_server, server_settings

PG_SCRIPT = Path(__file__).with_name("pg.sh")


@pytest.fixture(scope="session", autouse=True)
def hermetic_environment() -> Iterator[None]:
    """Tests configure servers explicitly; settings left in the shell (a DATABASE_URL, say) must
    not leak into them or into the server subprocesses."""
    with pytest.MonkeyPatch.context() as patch:
        for name in Settings.env_names().values():
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def codec(tmp_path_factory: pytest.TempPathFactory) -> tuple[TorchCodec, Path]:
    """A seeded, untrained d=1 codec saved as a weights file: small, fast, real bitstreams."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = Codec(CodecConfig(depth=1))
    path = tmp_path_factory.mktemp("weights") / "codec_test_d1.pt"
    save_codec(model, path, provenance={"purpose": "cloud service tests"})
    return TorchCodec(load_codec(path)[0]), path  # what the service loads (net_D in float16)


@pytest.fixture(scope="session")
def make_container(codec: tuple[TorchCodec, Path]):
    """``make_container(vehicle, frame, ts=..., seed=..., size=...)`` → container bytes."""
    runner, _ = codec

    def make(vehicle: str, frame: str, ts: float = 1_700_000_000.0, seed: int = 0,
             size: tuple[int, int] = FRAME_SIZE) -> bytes:
        image, _ = synthetic_scene(*size, seed)
        return runner.encode(image, CaptureMeta(vehicle=vehicle, frame=frame, ts=ts))

    return make


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
