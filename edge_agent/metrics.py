"""The running agent's figures: counters and moving averages, and where they are shown.

Shown three ways: the progress line (a terminal), ``/metrics`` in Prometheus' text format (an
optional local endpoint, stdlib ``http.server`` so the vehicle needs no extra package), and the
spool's ``state.json`` for ``edge-agent status`` (kept by the spool itself).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_agent.spool import SpoolStatus

log = logging.getLogger(__name__)

SMOOTHING = 0.2
"""Weight of the newest sample in the moving averages (≈ the last 10 frames)."""


@dataclass
class Figures:
    """Counters since start-up and exponential moving averages of per-frame figures."""

    captured: int = 0
    encoded: int = 0
    acknowledged: int = 0
    rejected: int = 0
    retries: int = 0
    bytes_sent: int = 0
    encode_ms: float = 0.0
    compression_factor: float = 0.0
    upload_ms: float = 0.0
    started_at: float = field(default_factory=time.time)


class Metrics:
    """Thread-safe :class:`Figures`, updated by the pipeline's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures = Figures()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self._figures, name, getattr(self._figures, name) + amount)

    def observe(self, name: str, value: float) -> None:
        with self._lock:
            old = getattr(self._figures, name)
            setattr(self._figures, name, value if old == 0 else old + SMOOTHING * (value - old))

    def snapshot(self) -> Figures:
        with self._lock:
            return Figures(**asdict(self._figures))


def progress_text(figures: Figures, spool: SpoolStatus, queued: int) -> str:
    """One terminal line: throughput, what waits where, and the latest averages."""
    elapsed = max(time.time() - figures.started_at, 1e-9)
    return (
        f"captured {figures.captured}  encoded {figures.encoded}  "
        f"uploaded {figures.acknowledged}  rejected {spool.counters.rejected}  "
        f"queue {queued}  spool {spool.pending} ({spool.pending_bytes / 1e6:.1f} MB)  "
        f"CF {figures.compression_factor:.0f}  encode {figures.encode_ms:.0f} ms  "
        f"{figures.acknowledged / elapsed:.1f} frames/s"
    )


def prometheus_text(figures: Figures, spool: SpoolStatus, queued: int) -> str:
    """The figures in Prometheus' text exposition format."""
    counters = {
        "frames_captured": figures.captured,
        "frames_encoded": figures.encoded,
        "frames_acknowledged": figures.acknowledged,
        "frames_rejected": figures.rejected,
        "upload_retries": figures.retries,
        "bytes_sent": figures.bytes_sent,
        "spool_frames_dropped": spool.counters.dropped,
    }
    gauges = {
        "capture_queue_depth": queued,
        "spool_pending_frames": spool.pending,
        "spool_pending_bytes": spool.pending_bytes,
        "spool_rejected_frames": spool.rejected,
        "encode_milliseconds": figures.encode_ms,
        "compression_factor": figures.compression_factor,
        "upload_milliseconds": figures.upload_ms,
        "last_upload_timestamp_seconds": (spool.counters.last_upload or {}).get("at", 0),
    }
    lines = []
    for kind, values in (("counter", counters), ("gauge", gauges)):
        for name, value in values.items():
            metric = f"latentlink_edge_{name}" + ("_total" if kind == "counter" else "")
            lines += [f"# TYPE {metric} {kind}", f"{metric} {value}"]
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` and ``GET /healthz`` on a daemon thread."""

    def __init__(self, host: str, port: int, render: Callable[[], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, kind = render().encode(), "text/plain; version=0.0.4"
                elif self.path == "/healthz":
                    body, kind = b"ok\n", "text/plain"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes are not worth a log line each."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.address = self._server.server_address
        threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics endpoint listening", extra={"url": f"http://{host}:{self.address[1]}"})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
