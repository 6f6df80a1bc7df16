"""The cost of a request is bounded before it is paid: frames over the pixel budget are refused
from their header, pictures are rendered a few at a time (503 + Retry-After beyond) and cached,
and the server's peak memory stays under the documented bound when a client sends the largest
frames it may, tiny constant-latent containers that decode to 2048×2048, and asks for their
pictures all at once.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from cloud_service.render import ByteLRU
from latentlink.codec import container
from tests.cloud.servers import ADMIN_TOKEN, MSGPACK, add_vehicle, bearer, server_process

SIDE = 2048
"""The default pixel budget is 2048×2048: the largest frame a client may send."""
PEAK_RSS_BOUND_MIB = 2048
"""docs/cloud.md's bound for the default settings (CPU): ~0.3 GiB of libraries and models, one
segmenter pass over 2048×2048 pixels, two tiled renderings and the picture cache."""
PICTURE_REQUESTS = 6


def constant_container(codec_id: str, depth: int, vehicle: str, frame: str, level: float,
                       size: tuple[int, int] = (SIDE, SIDE)) -> bytes:
    """A container of a few hundred bytes whose latent is one value everywhere."""
    factor = 2 ** (depth + 1)
    latent = np.full((16, -(-size[0] // factor), -(-size[1] // factor)), level, np.float32)
    return container.encode_latent(latent, bits=8, codec_id=codec_id, depth=depth,
                                   image_size=size,
                                   meta=container.CaptureMeta(vehicle=vehicle, frame=frame, ts=1))


def peak_rss_mib(pid: int) -> float:
    """The process's high-water resident set (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def test_largest_frames_and_concurrent_pictures_stay_under_the_memory_bound(
        tmp_path: Path, codec) -> None:
    runner, weights = codec
    env = {"LATENTLINK_CODEC_WEIGHTS": str(weights), "LATENTLINK_ADMIN_TOKEN": ADMIN_TOKEN,
           "LATENTLINK_DEVICE": "cpu", "LATENTLINK_SEGMENTER_WEIGHTS": "untrained",
           "LATENTLINK_RENDER_WAIT_S": "0.2",
           "LATENTLINK_SWEEP_INTERVAL_S": "0.2"}
    token = add_vehicle(tmp_path, "car-1", env)
    depth = runner.config.depth
    bodies = [constant_container(runner.codec_id, depth, "car-1", f"big-{i}", level)
              for i, level in enumerate((0.2, 0.5, 0.8))]
    too_big = constant_container(runner.codec_id, depth, "car-1", "too-big", 0.5,
                                 size=(SIDE + 8, SIDE))
    assert max(len(body) for body in bodies) < 1024

    with server_process(tmp_path, env) as (process, url), \
            httpx.Client(base_url=url, headers=bearer(token), timeout=120) as car:
        refused = car.post("/frames", content=too_big, headers=MSGPACK)
        ids = [car.post("/frames", content=body, headers=MSGPACK).json()["id"] for body in bodies]

        def picture(frame_id: int) -> httpx.Response:
            return car.get(f"/frames/{frame_id}/image")

        with ThreadPoolExecutor(PICTURE_REQUESTS) as pool:
            answers = list(pool.map(picture, [ids[i % len(ids)] for i in range(PICTURE_REQUESTS)]))
        cached_started = time.monotonic()
        again = [picture(frame_id) for frame_id in ids if any(
            a.status_code == 200 and a.url.path.endswith(f"/{frame_id}/image") for a in answers)]
        cached_seconds = time.monotonic() - cached_started

        deadline = time.monotonic() + 180
        while any(car.get(f"/frames/{i}").json()["segmentation"]["status"] != "done"
                  for i in ids):
            assert time.monotonic() < deadline, "the large frames were not segmented"
            time.sleep(0.5)
        peak = peak_rss_mib(process.pid)

    assert refused.status_code == 422
    assert "pixels" in refused.json()["detail"]
    statuses = sorted(answer.status_code for answer in answers)
    assert 200 in statuses and 503 in statuses, statuses  # 2 render at once; the rest are told
    assert set(statuses) <= {200, 503}
    for answer in answers:
        if answer.status_code == 503:
            assert int(answer.headers["retry-after"]) >= 1
        else:
            assert answer.content.startswith(b"\x89PNG")
    assert again and all(a.status_code == 200 for a in again)
    assert cached_seconds < 1.0, "a rendered picture was rendered again"
    assert peak < PEAK_RSS_BOUND_MIB, f"peak RSS {peak:.0f} MiB"


def test_byte_lru_keeps_the_recently_used_under_its_capacity() -> None:
    cache = ByteLRU(10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"1234")  # 12 bytes: b, the least recent, goes
    assert cache.get("b") is None
    assert cache.get("a") == b"1234" and cache.get("c") == b"1234"
    assert cache.size == 8
    cache.put("huge", b"x" * 11)  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("huge") is None and cache.size == 8
