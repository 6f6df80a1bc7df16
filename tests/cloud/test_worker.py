"""The segmentation worker: micro-batches of at most B frames, and no frame left behind when its
in-memory queue overflows (the database sweep picks the rest up)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.cloud.servers import MSGPACK, live_server, scrape, server_settings, value

FRAMES = 12
BATCH = 4


def test_micro_batches_and_overflow(tmp_path: Path, codec, make_container) -> None:
    settings = server_settings(tmp_path, codec[1], batch_size=BATCH, batch_timeout_ms=500,
                               queue_size=BATCH, sweep_interval_s=0.2)
    bodies = [make_container("car-1", f"batch-{i}", seed=i) for i in range(FRAMES)]
    with live_server(settings, vehicles=("car-1",)) as server:
        def upload(body: bytes) -> int:
            with server.client(server.tokens["car-1"]) as car:
                return car.post("/frames", content=body, headers=MSGPACK).status_code

        with ThreadPoolExecutor(FRAMES) as pool:
            assert list(pool.map(upload, bodies)) == [201] * FRAMES

        deadline = time.monotonic() + 60
        with server.admin as admin:
            while True:
                items = admin.get("/frames").json()["items"]
                if all(item["segmentation"]["status"] == "done" for item in items):
                    break
                assert time.monotonic() < deadline, "frames left unsegmented"
                time.sleep(0.1)
        samples = scrape(server)

    batches = value(samples, "latentlink_segment_batch_frames_count")
    assert value(samples, "latentlink_segment_batch_frames_sum") == FRAMES
    assert value(samples, "latentlink_segment_batch_frames_bucket", le=f"{BATCH}.0") == batches
    assert batches < FRAMES  # frames were batched, not segmented one by one
