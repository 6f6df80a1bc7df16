"""The running agent's figures, each defined once as a Prometheus metric, and where they are shown.

Shown three ways: the progress line (a terminal), ``/metrics`` (an optional local endpoint, in the
exposition format that ``prometheus-client`` writes, as the cloud's does) and the spool's
``state.json`` for ``edge-agent status`` (kept by the spool itself, across restarts). What the
spool and the capture queue hold is read from them when scraped, not copied into counters here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_agent.outbox import Spool, SpoolStatus

log = logging.getLogger(__name__)

PREFIX = "latentlink_edge_"
SMOOTHING = 0.2
"""Weight of the newest sample in the moving averages (≈ the last 10 frames)."""


def current(metric: Counter | Gauge) -> float:
    """The value of an unlabelled counter or gauge (prometheus-client has no public getter)."""
    return metric.collect()[0].samples[0].value


class MovingAverage:
    """A gauge holding the exponential moving average of a per-frame figure."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            old = current(self.gauge)
            self.gauge.set(value if old == 0 else old + SMOOTHING * (value - old))

    @property
    def value(self) -> float:
        return current(self.gauge)


class SpoolCollector(Collector):
    """The spool's figures, from one :meth:`Spool.status` snapshot per scrape."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def collect(self) -> Iterator[Metric]:
        state = self._spool.status()
        yield CounterMetricFamily(
            PREFIX + "spool_frames_dropped",
            "Frames deleted because the spool was over its cap (kept across restarts).",
            value=state.counters.dropped,
        )
        gauges = (
            ("spool_pending_frames", "Frames waiting for the server's acknowledgement.",
             state.pending),
            ("spool_pending_bytes", "Bytes of the frames waiting.", state.pending_bytes),
            ("spool_rejected_frames", "Frames the server refused, kept in rejected/.",
             state.rejected),
            ("last_upload_timestamp_seconds", "When the server last acknowledged a frame.",
             (state.counters.last_upload or {}).get("at", 0)),
        )
        for name, description, value in gauges:
            yield GaugeMetricFamily(PREFIX + name, description, value=value)


class Metrics:
    """The agent's counters and gauges, updated by the pipeline's threads (prometheus-client's
    metrics are thread-safe), in a registry of their own rather than the library's global one,
    so that several agents in one process (tests) never mix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started_at = time.time()
        self.captured = self._counter("frames_captured", "Frames taken from the source.")
        self.encoded = self._counter("frames_encoded", "Frames encoded and spooled.")
        self.acknowledged = self._counter(
            "frames_acknowledged", "Frames the server acknowledged (201, or 200 for a resend).")
        self.rejected = self._counter("frames_rejected", "Frames the server refused for good.")
        self.retries = self._counter("upload_retries", "Failed upload attempts, each retried.")
        self.bytes_sent = self._counter("bytes_sent", "Container bytes the server acknowledged.")
        self.encode_ms = self._average(
            "encode_milliseconds", "Encoding time of a frame (moving average).")
        self.compression_factor = self._average(
            "compression_factor", "3·H·W over container bytes (moving average).")
        self.upload_ms = self._average(
            "upload_milliseconds", "Upload time of a frame, retries included (moving average).")
        self.queue_depth = Gauge(
            PREFIX + "capture_queue_depth", "Frames captured and waiting for the encoder.",
            registry=self.registry)

    def _counter(self, name: str, description: str) -> Counter:
        return Counter(PREFIX + name, description, registry=self.registry)

    def _average(self, name: str, description: str) -> MovingAverage:
        return MovingAverage(Gauge(PREFIX + name, description, registry=self.registry))

    def watch(self, spool: Spool, queued: Callable[[], int]) -> None:
        """Read the spool and the capture queue's length at scrape time."""
        self.queue_depth.set_function(queued)
        self.registry.register(SpoolCollector(spool))

    def render(self) -> bytes:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry)


def progress_text(metrics: Metrics, spool: SpoolStatus, queued: int) -> str:
    """One terminal line: throughput, what waits where, and the latest averages."""
    elapsed = max(time.time() - metrics.started_at, 1e-9)
    acknowledged = current(metrics.acknowledged)
    return (
        f"captured {current(metrics.captured):.0f}  encoded {current(metrics.encoded):.0f}  "
        f"uploaded {acknowledged:.0f}  rejected {spool.counters.rejected}  "
        f"queue {queued}  spool {spool.pending} ({spool.pending_bytes / 1e6:.1f} MB)  "
        f"CF {metrics.compression_factor.value:.0f}  encode {metrics.encode_ms.value:.0f} ms  "
        f"{acknowledged / elapsed:.1f} frames/s"
    )


class MetricsServer:
    """``GET /metrics`` and ``GET /healthz`` on a daemon thread."""

    def __init__(self, host: str, port: int, render: Callable[[], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, kind = render(), CONTENT_TYPE_LATEST
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
