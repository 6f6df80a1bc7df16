"""The pipeline's threads with stand-ins around a real spool: backpressure and failure."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edge_agent.encoder import EncodedFrame
from edge_agent.outbox import Spool
from edge_agent.pipeline import Agent, Pacer
from edge_agent.sources import Capture, Source
from edge_agent.uploader import Outcome, UploadResult

FRAMES = 30


class FastSource(Source):
    """As many frames as the pipeline will take, as fast as it takes them."""

    def __init__(self) -> None:
        self.yielded = 0

    def frames(self, skip, stop):
        for i in range(FRAMES):
            if stop.is_set():
                return
            self.yielded += 1
            yield Capture(f"f-{i:03d}", np.zeros((8, 8, 3), np.uint8), 0.0)


class SlowEncoder:
    """Takes 5 ms a frame and records how far capture ran ahead of it."""

    def __init__(self, source: FastSource, fail_at: int | None = None) -> None:
        self.source, self.fail_at = source, fail_at
        self.encoded = 0
        self.lead: list[int] = []

    def encode(self, capture: Capture) -> EncodedFrame:
        if self.encoded == self.fail_at:
            raise RuntimeError("the accelerator fell off")
        time.sleep(0.005)
        self.lead.append(self.source.yielded - self.encoded)
        self.encoded += 1
        return EncodedFrame(capture.frame_id, b"x" * 100, (8, 8), 5.0)


class Acknowledging:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, frame_id: str, data: bytes, on_retry=None) -> UploadResult:
        self.sent.append(frame_id)
        return UploadResult(Outcome.ACKNOWLEDGED, 201, 1, 1.0)


def make_agent(tmp_path: Path, fail_at: int | None = None) -> tuple[Agent, SlowEncoder, list]:
    source = FastSource()
    encoder = SlowEncoder(source, fail_at)
    uploader = Acknowledging()
    spool = Spool(tmp_path, max_bytes=1 << 20)
    agent = Agent(
        source=source,
        encoder=encoder,
        spool=spool,
        uploader=uploader,
        stop=threading.Event(),
        once=True,
        queue_size=2,
    )
    return agent, encoder, uploader.sent


def test_a_slow_encoder_holds_capture_back(tmp_path: Path) -> None:
    agent, encoder, sent = make_agent(tmp_path)
    assert agent.run() == 0
    assert sent == [f"f-{i:03d}" for i in range(FRAMES)]
    # queue (2) + the frame in the encoder's hand + the one capture holds while the queue is full
    assert max(encoder.lead) <= 2 + 2
    agent.spool.close()


def test_a_failing_thread_stops_the_agent_with_status_1(tmp_path: Path) -> None:
    agent, _, sent = make_agent(tmp_path, fail_at=3)
    assert agent.run() == 1
    assert sent == ["f-000", "f-001", "f-002"]
    agent.spool.close()


def test_pacing_caps_the_frame_rate() -> None:
    pacer, stop = Pacer(fps=50), threading.Event()
    started = time.monotonic()
    for _ in range(6):
        pacer.wait(stop)
    assert time.monotonic() - started >= 5 / 50 - 0.01
