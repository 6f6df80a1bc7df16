"""What a new operator gets without configuring models: the shipped codec and segmenter, said
out loud at start-up; and what ``none`` and ``untrained`` mean."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from cloud_service.cli import main as cli
from cloud_service.core.config import Settings
from latentlink.models.segmenter_weights import load_segmenter, resolve_segmenter_weights
from latentlink.models.weights import codec_id, load_codec, resolve_weights
from tests.cloud.servers import (
    ADMIN_TOKEN,
    server_process,
    server_settings,
    threaded_server,
    wait_ready,
)


def test_serve_uses_the_shipped_models_and_says_which(tmp_path: Path) -> None:
    shipped_codec = codec_id(load_codec(resolve_weights("default"))[0])
    weights = resolve_segmenter_weights("default")
    segmenter = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    assert load_segmenter(weights)[2]["codec_id"] == shipped_codec
    env = {"LATENTLINK_DEVICE": "cpu", "LATENTLINK_ADMIN_TOKEN": ADMIN_TOKEN}
    with server_process(tmp_path, env, log_level="info") as (_, url):
        ready = httpx.get(f"{url}/readyz").json()
    assert ready["codecs"] == [shipped_codec]
    assert (ready["segmenter"], ready["segmentation"]) == (segmenter, True)
    log = (tmp_path / "server.log").read_text()
    assert (f"serving on cpu: codecs {shipped_codec} (d=2); segmenter {segmenter} (trained on "
            f"codec {shipped_codec}, d=2), as configured; segmentation on") in log


def test_none_switches_segmentation_off(tmp_path: Path, codec) -> None:
    assert Settings().segmenter_weights == "default"
    assert Settings(segmenter_weights="none").segmentation is False
    with pytest.raises(ValidationError, match="contradicts"):
        Settings(segmenter_weights="none", segmentation=True)
    with threaded_server(server_settings(tmp_path, codec[1], segmenter_weights="none")) as url:
        wait_ready(url)
        ready = httpx.get(f"{url}/readyz").json()
    assert (ready["segmenter"], ready["segmentation"]) == ("untrained", False)


def test_a_segmenter_of_a_codec_not_loaded_is_named_with_the_fix(tmp_path: Path, codec) -> None:
    """Other codec weights with the default segmenter: health says why, and what to set."""
    settings = server_settings(tmp_path, codec[1], segmenter_weights="default")
    with threaded_server(settings) as url:
        deadline = time.monotonic() + 30
        while (health := httpx.get(f"{url}/healthz")).status_code != 503:
            assert time.monotonic() < deadline, health.text
            time.sleep(0.05)
    reason = health.json()["status"]
    assert "not among the loaded codecs" in reason and "LATENTLINK_SEGMENTER_WEIGHTS" in reason


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("cloud-service, version ")
