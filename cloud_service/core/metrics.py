"""Prometheus metrics of one service process, in a registry of its own (not the global one), so
that several apps in one process (tests) and the library's defaults never mix.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CF_BUCKETS = (2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 150, 200, 400)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The service's counters, histograms and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.frames_received = Counter(
            "latentlink_frames_received", "Accepted uploads: created (new) or duplicate (a retry).",
            ["result"], registry=registry)
        self.frames_rejected = Counter(
            "latentlink_frames_rejected", "Refused uploads, by HTTP status.", ["status"],
            registry=registry)
        self.bytes_received = Counter(
            "latentlink_bytes_received", "Container bytes of newly stored frames.",
            registry=registry)
        self.compression_factor = Histogram(
            "latentlink_compression_factor", "3·H·W over container bytes of stored frames.",
            buckets=CF_BUCKETS, registry=registry)
        self.decode_seconds = Histogram(
            "latentlink_decode_seconds", "Validating and Huffman-decoding one container.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.ingest_seconds = Histogram(
            "latentlink_ingest_seconds", "POST /frames from body received to committed.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.segment_seconds = Histogram(
            "latentlink_segment_seconds", "Segmenting one micro-batch, masks stored.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.segment_batch_frames = Histogram(
            "latentlink_segment_batch_frames", "Frames per segmenter micro-batch.",
            buckets=BATCH_BUCKETS, registry=registry)
        self.frames_segmented = Counter(
            "latentlink_frames_segmented", "Frames leaving the worker, by final status.",
            ["status"], registry=registry)
        self.queue_depth = Gauge(
            "latentlink_segmentation_queue_depth", "Frames waiting in memory for the segmenter.",
            registry=registry)
        self.segmentation_lag = Gauge(
            "latentlink_segmentation_lag_seconds",
            "Age of the oldest frame not yet segmented (pending or running); 0 when none waits.",
            registry=registry)
        self.models_ready = Gauge(
            "latentlink_models_ready", "1 once the models are loaded.", registry=registry)
        self.device = Gauge(
            "latentlink_device_info", "Device the models run on (value 1), and the segmenter.",
            ["device", "segmenter"], registry=registry)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth at scrape time rather than tracking every put and get."""
        self.queue_depth.set_function(depth)

    def watch_lag(self, lag: Callable[[], float]) -> None:
        """Read the segmentation lag from the database at scrape time."""
        self.segmentation_lag.set_function(lag)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry)
