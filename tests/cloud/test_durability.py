"""``201`` means on disk: frames acknowledged before a SIGKILL are all there after a restart,
and segmentation claimed by the killed process is picked up again once its lease runs out.

The killed server is a real ``cloud-service serve`` process; the restarted one runs in this
process on the same data dir (starting a second interpreter would only cost time).

(SIGKILL leaves the kernel's page cache intact, so this proves that the answer follows the
commit; the fsyncs that protect against power loss are checked by reading the code, not here.)
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import httpx

from tests.cloud.servers import (
    ADMIN_TOKEN,
    MSGPACK,
    add_vehicle,
    bearer,
    live_server,
    server_process,
    server_settings,
)

UPLOADERS = 4
KILL_AFTER = 16


def test_acknowledged_frames_survive_kill_9(tmp_path: Path, codec, make_container) -> None:
    env = {"LATENTLINK_CODEC_WEIGHTS": str(codec[1]), "LATENTLINK_ADMIN_TOKEN": ADMIN_TOKEN,
           "LATENTLINK_SEGMENTER_WEIGHTS": "untrained", "LATENTLINK_DEVICE": "cpu",
           "LATENTLINK_BATCH_TIMEOUT_MS": "200",
           "LATENTLINK_SEGMENTATION_LEASE_S": "1", "LATENTLINK_SWEEP_INTERVAL_S": "0.2"}
    token = add_vehicle(tmp_path, "car-9", env)
    bodies = [make_container("car-9", f"durable-{i}", seed=i) for i in range(KILL_AFTER * 2)]
    acknowledged: dict[str, dict] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def upload(url: str, worker: int) -> None:
        with httpx.Client(base_url=url, headers=bearer(token), timeout=10) as client:
            for body in bodies[worker::UPLOADERS]:
                try:
                    response = client.post("/frames", content=body, headers=MSGPACK)
                except httpx.TransportError:
                    return  # the server was killed mid-request: no promise was made
                if response.status_code == 201:
                    with lock:
                        acknowledged[hashlib.sha256(body).hexdigest()] = response.json()
                        if len(acknowledged) >= KILL_AFTER:
                            enough.set()

    with server_process(tmp_path, env) as (process, url):
        threads = [threading.Thread(target=upload, args=(url, w)) for w in range(UPLOADERS)]
        for thread in threads:
            thread.start()
        assert enough.wait(60), "uploads did not get going"
        process.kill()  # SIGKILL while uploads are still in flight
        for thread in threads:
            thread.join()
        with lock:
            promised = dict(acknowledged)

    restarted = server_settings(tmp_path, codec[1], segmentation_lease_s=1,
                                sweep_interval_s=0.2)
    with live_server(restarted, vehicles=()) as server, server.admin as admin:
        for digest, record in promised.items():
            stored = admin.get(f"/frames/{record['id']}")
            assert stored.status_code == 200, f"acknowledged frame {record['frame']} was lost"
            assert stored.json()["sha256"] == digest
            latent = admin.get(f"/frames/{record['id']}/latent").content
            assert hashlib.sha256(latent).hexdigest() == digest

        deadline = time.monotonic() + 60
        while True:
            items = admin.get("/frames", params={"limit": 1000}).json()["items"]
            statuses = {item["segmentation"]["status"] for item in items}
            if statuses == {"done"}:
                break
            assert time.monotonic() < deadline, f"segmentation never finished: {statuses}"
            time.sleep(0.2)
