"""What the agent shows: JSON log lines, the metrics endpoint, the status command."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.logs import JsonFormatter, TextFormatter
from edge_agent.metrics import Metrics, MetricsServer, progress_text, prometheus_text
from edge_agent.spool import Spool


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


def test_metrics_endpoint_and_progress_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put("f-1", b"x" * 500)
    metrics = Metrics()
    metrics.count("encoded", 3)
    metrics.observe("compression_factor", 60.0)
    metrics.observe("compression_factor", 70.0)
    server = MetricsServer(
        "127.0.0.1", 0, lambda: prometheus_text(metrics.snapshot(), spool.status(), queued=1)
    )
    try:
        url = f"http://127.0.0.1:{server.address[1]}"
        text = httpx.get(f"{url}/metrics").text
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        server.close()
    assert "latentlink_edge_frames_encoded_total 3" in text
    assert "latentlink_edge_spool_pending_frames 1" in text
    assert "latentlink_edge_compression_factor 62.0" in text
    line = progress_text(metrics.snapshot(), spool.status(), queued=1)
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
