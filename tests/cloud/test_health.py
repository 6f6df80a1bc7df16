"""/healthz, /readyz and uploads while the models load, after loading fails, and once loaded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from cloud_service import runtime as runtime_module
from tests.cloud.servers import MSGPACK, bearer, server_settings, threaded_server, wait_ready


def test_not_ready_until_models_are_loaded(tmp_path: Path, codec, make_container,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_load = runtime_module.load_models

    def slow_load(settings):
        assert release.wait(30)
        return real_load(settings)

    monkeypatch.setattr(runtime_module, "load_models", slow_load)
    with threaded_server(server_settings(tmp_path, codec[1])) as url:
        try:
            assert httpx.get(f"{url}/healthz").status_code == 200
            readyz = httpx.get(f"{url}/readyz")
            assert readyz.status_code == 503 and readyz.json()["ready"] is False
            upload = httpx.post(f"{url}/frames", content=make_container("car-1", "early"),
                                headers={**MSGPACK, **bearer("whatever")})
            assert upload.status_code == 503 and upload.headers["retry-after"]
        finally:
            release.set()
        wait_ready(url)
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["ready"] and ready["segmenter"] == "untrained"
        assert ready["codecs"] == [codec[0].codec_id] and ready["device"] == "cpu"


def test_failed_loading_fails_health(tmp_path: Path, codec,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_load(settings):
        raise RuntimeError("weights are corrupt")

    monkeypatch.setattr(runtime_module, "load_models", broken_load)
    with threaded_server(server_settings(tmp_path, codec[1])) as url:
        for _ in range(200):
            health = httpx.get(f"{url}/healthz")
            if health.status_code == 503:
                break
            time.sleep(0.05)
        assert health.status_code == 503 and "weights are corrupt" in health.json()["status"]
        readyz = httpx.get(f"{url}/readyz")
        assert readyz.status_code == 503 and "weights are corrupt" in readyz.json()["reason"]
