"""/metrics counts what happened: frames and bytes in, rejections, latencies, queue, device."""

from __future__ import annotations

import time

from tests.cloud.servers import MSGPACK, LiveServer, scrape, value


def test_metrics_count_uploads(server: LiveServer, make_container) -> None:
    before = scrape(server)
    body = make_container("car-1", "metrics-1", seed=21)
    with server.client(server.tokens["car-1"]) as car:
        assert car.post("/frames", content=body, headers=MSGPACK).status_code == 201
        assert car.post("/frames", content=body, headers=MSGPACK).status_code == 200
        assert car.post("/frames", content=b"junk", headers=MSGPACK).status_code == 400
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("latentlink_frames_received_total", result="created") == 1
    assert delta("latentlink_frames_received_total", result="duplicate") == 1
    assert delta("latentlink_frames_rejected_total", status="400") == 1
    assert delta("latentlink_bytes_received_total") == len(body)
    assert delta("latentlink_decode_seconds_count") == 1
    assert delta("latentlink_ingest_seconds_count") == 1
    assert delta("latentlink_compression_factor_count") == 1
    assert abs(delta("latentlink_compression_factor_sum") - 3 * 64 * 96 / len(body)) < 1e-6
    assert value(after, "latentlink_device_info", device="cpu", segmenter="untrained") == 1
    assert value(after, "latentlink_models_ready") == 1
    assert ("latentlink_segmentation_queue_depth", ()) in after

    deadline = time.monotonic() + 30
    while delta("latentlink_frames_segmented_total", status="done") < 1:
        assert time.monotonic() < deadline, "the new frame was never segmented"
        time.sleep(0.05)
        after = scrape(server)
    assert delta("latentlink_segment_seconds_count") >= 1
    assert delta("latentlink_segment_batch_frames_sum") >= 1
