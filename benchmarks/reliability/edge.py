"""The edge agent's side of the suite: ``edge-agent run`` killed with SIGKILL while it streams a
folder to a live server, restarted each time, then drained with ``--once``.

The agent is a real subprocess with the shipped ONNX model (or, when the suite runs other
weights, their net_C exported beside the frames, since the server refuses another codec's
frames). Each kill waits until the restarted agent has had a new frame stored and then a random
moment more, so that every kill lands mid-stream (encoding, spooling, uploading or between an
answer and the spool's unlink) rather than in an agent that is still starting or already idle.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from benchmarks.reliability.harness import REPO, Server, server
from edge_agent.config import SHIPPED_MODEL
from edge_agent.outbox.status import inspect
from edge_agent.sources import FolderSource
from latentlink.codec.onnx_compressor import OnnxCompressor
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.export import export_compressor
from latentlink.models.inference import TorchCodec

FRAME_SIZE = (240, 320)
CAPTURE_FPS = "30"
"""Caps how much one life of the agent can stream, so that the folder outlasts the kills on any
machine; above what the agent encodes and uploads on the 2-core test machine, so the cap does
not slow it there."""
PROGRESS_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 300.0


def agent_model(runner: TorchCodec, work: Path) -> Path | None:
    """None when the shipped model is the server's codec (the agent's default), else the
    server codec's net_C exported to ``work``."""
    if OnnxCompressor(SHIPPED_MODEL).info.codec_id == runner.codec_id:
        return None
    return export_compressor(runner.codec, work / "net_c.onnx")


@dataclass
class EdgeAgent:
    """``python -m edge_agent run`` for one vehicle, folder and spool; its log is appended to
    ``log`` across restarts."""

    live: Server
    vehicle: str
    folder: Path
    spool: Path
    model: Path | None
    log: Path

    def start(self, *flags: str) -> subprocess.Popen:
        argv = ["run", "--source", str(self.folder), "--server", self.live.url,
                "--token", self.live.tokens[self.vehicle], "--vehicle-id", self.vehicle,
                "--spool", str(self.spool), "--threads", "1", "--log-format", "json",
                "--backoff-initial-s", "0.05", "--backoff-max-s", "0.4",
                *(["--model", str(self.model)] if self.model is not None else []), *flags]
        # Only the flags configure the agent: the shell's LATENTLINK_* (the server's) stay out.
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTLINK_")}
        with self.log.open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "edge_agent", *argv], cwd=REPO,
                                    env=env, stdout=subprocess.DEVNULL, stderr=log)


def _write_frames(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    names = [f"frame_{i:04d}.png" for i in range(count)]
    for seed, name in enumerate(names):
        Image.fromarray(synthetic_scene(*FRAME_SIZE, seed)[0]).save(folder / name)
    return names


def _wait_for_new_frame(live: Server, vehicle: str, before: int,
                        agent: subprocess.Popen) -> bool:
    """Whether the server stored more than ``before`` frames of ``vehicle`` while the agent
    ran (False: it exited, or made no progress for PROGRESS_TIMEOUT_S)."""
    deadline = time.monotonic() + PROGRESS_TIMEOUT_S
    while time.monotonic() < deadline and agent.poll() is None:
        if len(live.frames(vehicle)) > before:
            return True
        time.sleep(0.05)
    return False


def edge_kill9(work: Path, codec_spec: str, model: Path | None, kills: int,
               frames: int) -> dict:
    """SIGKILL the agent ``kills`` times while it streams a folder of ``frames`` images, then
    run it with ``--once``: every frame stored exactly once, nothing left in the spool."""
    vehicle = "edge-kill-1"
    folder = work / "frames"
    names = _write_frames(folder, frames)
    expected = {FolderSource(folder).frame_id(name) for name in names}
    rng = random.Random(99)
    with server(work / "server", codec_spec, (vehicle,), segmenter_weights="none") as live:
        agent = EdgeAgent(live, vehicle, folder, work / "spool", model, work / "agent.log")
        done, spooled_at_kills = 0, []
        while done < kills and len(live.frames(vehicle)) < frames:
            process = agent.start("--fps", CAPTURE_FPS)
            progressed = _wait_for_new_frame(live, vehicle, len(live.frames(vehicle)), process)
            if progressed:
                time.sleep(rng.uniform(0.0, 0.3))
            alive = process.poll() is None
            process.kill()
            process.wait(timeout=60)
            if not (progressed and alive):
                break  # the agent exited or stopped making progress: the kills fall short
            done += 1
            spooled_at_kills.append(inspect(agent.spool).pending)
        stored_before = len(live.frames(vehicle))
        started = time.monotonic()
        drain = agent.start("--once")
        try:
            code = drain.wait(timeout=DRAIN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            drain.kill()
            code = drain.wait(timeout=60)
        drain_s = time.monotonic() - started
        stored = [row["frame"] for row in live.frames(vehicle)]
    spool = inspect(agent.spool)
    lost = len(expected - set(stored))
    duplicated = len(stored) - len(set(stored))
    unexpected = len(set(stored) - expected)
    return {"kills": done, "frames": frames, "stored": len(stored),
            "spooled_at_kills": spooled_at_kills, "lost": lost, "duplicated": duplicated,
            "unexpected": unexpected, "stored_before_drain": stored_before,
            "pending_after": spool.pending, "rejected_after": spool.rejected,
            "drain_exit": code, "drain_s": round(drain_s, 1),
            "ok": done == kills and lost == duplicated == unexpected == 0
            and spool.pending == spool.rejected == 0 and code == 0}
