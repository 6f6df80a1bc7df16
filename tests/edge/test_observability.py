"""What the agent shows: JSON log lines, the metrics endpoint, the status command."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.cli import main
from edge_agent.logs import JsonFormatter, TextFormatter
from edge_agent.metrics import Metrics, MetricsServer, progress_text
from edge_agent.outbox import Spool


def record(**fields: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "edge_agent.pipeline", "levelname": "INFO", "msg": "frame encoded", **fields}
    )


def test_json_lines_carry_the_event_fields() -> None:
    line = json.loads(JsonFormatter().format(record(frame="f-1", cf=66.5, encode_ms=41.0)))
    assert (line["level"], line["msg"], line["frame"], line["cf"]) == (
        "info",
        "frame encoded",
        "f-1",
        66.5,
    )
    assert line["ts"].endswith("+00:00")
    assert TextFormatter().format(record(frame="f-1")).endswith("frame encoded frame=f-1")


EXPOSED = [
    "frames_captured_total", "frames_encoded_total", "frames_acknowledged_total",
    "frames_rejected_total", "upload_retries_total", "bytes_sent_total",
    "spool_frames_dropped_total", "capture_queue_depth", "spool_pending_frames",
    "spool_pending_bytes", "spool_rejected_frames", "encode_milliseconds", "compression_factor",
    "upload_milliseconds", "last_upload_timestamp_seconds",
]
"""Every sample the agent exposes, without the ``latentlink_edge_`` prefix."""


def test_metrics_endpoint_and_progress_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put("f-1", b"x" * 500)
    metrics = Metrics()
    metrics.watch(spool, lambda: 1)
    metrics.encoded.inc(3)
    metrics.compression_factor.observe(60.0)
    metrics.compression_factor.observe(70.0)
    server = MetricsServer("127.0.0.1", 0, metrics.render)
    try:
        url = f"http://127.0.0.1:{server.address[1]}"
        text = httpx.get(f"{url}/metrics").text
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/elsewhere").status_code == 404
    finally:
        server.close()
    samples = {
        sample.name.removeprefix("latentlink_edge_"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert set(EXPOSED) <= samples.keys(), set(EXPOSED) - samples.keys()
    assert samples["frames_encoded_total"] == 3
    assert samples["frames_captured_total"] == 0
    assert samples["spool_pending_frames"] == 1
    assert samples["spool_pending_bytes"] == 500
    assert samples["capture_queue_depth"] == 1
    assert samples["compression_factor"] == pytest.approx(62.0)
    line = progress_text(metrics, spool.status(), queued=1)
    assert "encoded 3" in line and "spool 1" in line and "CF 62" in line
    spool.close()


def test_status_reports_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for i in range(2):
        spool.put(f"f-{i}", b"x" * 1000)
    entry, _ = spool.take(timeout=0)
    spool.acknowledge(entry, 201)
    spool.close()
    output = CliRunner().invoke(main, ["status", "--spool", str(tmp_path)]).output
    assert "not running" in output
    assert "pending:     1 frames" in output
    assert "last upload: f-0 → HTTP 201" in output
    assert CliRunner().invoke(main, ["status", "--spool", str(tmp_path / "nope")]).exit_code == 2
