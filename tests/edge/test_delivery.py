"""End to end against the real cloud service on loopback: every frame arrives exactly once.

"Exactly once" is checked on the server: the stored frame ids for the test's vehicle are
exactly the expected ones (the server keeps one row per vehicle and frame id, so a duplicate
upload would show as a re-encoded frame refused with 409 and moved to ``rejected/``, which must
stay empty).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from edge_agent.config import SHIPPED_MODEL
from edge_agent.encoder import FrameEncoder
from edge_agent.pipeline import EXIT_GAVE_UP, EXIT_REJECTED
from edge_agent.retry import Backoff
from edge_agent.sources import Capture, FolderSource
from edge_agent.uploader import Outcome, Uploader
from latentlink.codec.onnx_compressor import OnnxCompressor
from latentlink.data.synthetic import synthetic_scene
from tests.cloud.servers import free_port
from tests.conftest import write_png
from tests.edge.conftest import (
    FRAME_SIZE,
    REPO,
    AgentRunner,
    agent_env,
    running_cloud,
    wait_for,
    write_frames,
)

PROBE = """\
import json, sys
from edge_agent.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    print(json.dumps({"code": exit.code, **{m: m in sys.modules for m in ("torch", "onnx")}}))
"""


def expected_ids(folder: Path, names: list[str]) -> list[str]:
    return sorted(FolderSource(folder).frame_id(name) for name in names)


def spool_files(spool: Path, folder: str) -> list[Path]:
    return sorted((spool / folder).iterdir())


def test_folder_arrives_exactly_once_and_torch_is_never_imported(cloud, make_agent, tmp_path):
    folder = tmp_path / "frames"
    names = write_frames(folder, 9)
    write_png(folder / "odd_size.png", synthetic_scene(61, 93, seed=50)[0])  # not a multiple of 4
    names.append("odd_size.png")
    agent = make_agent(cloud, "edge-once")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *agent.argv(folder, "--once")],
        cwd=REPO,
        env=agent_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"code": 0, "torch": False, "onnx": False}, result.stderr
    assert sorted(cloud.frame_ids("edge-once")) == expected_ids(folder, names)
    sizes = {item["frame"].split(".png")[0]: item["size"] for item in cloud.frames("edge-once")}
    assert sizes["odd_size"] == [61, 93] and sizes["frame_000"] == list(FRAME_SIZE)
    assert spool_files(agent.spool, "pending") == spool_files(agent.spool, "rejected") == []
    encoded = [json.loads(line) for line in result.stderr.splitlines() if "frame encoded" in line]
    assert len(encoded) == 10
    assert {"cf", "encode_ms", "bytes", "queue", "spool"} <= set(encoded[0])


def test_a_server_outage_loses_and_duplicates_nothing(codec, make_agent, tmp_path):
    folder = tmp_path / "frames"
    names = write_frames(folder, 14)
    with running_cloud(tmp_path / "cloud", codec[1]) as cloud:
        agent = make_agent(cloud, "edge-outage")
        process = agent.start(folder, "--once", "--fps", "10")
        wait_for(lambda: len(cloud.frame_ids("edge-outage")) >= 3)
        cloud.stop()
        wait_for(lambda: any((agent.spool / "pending").iterdir()))
        threading.Event().wait(0.8)  # the agent keeps encoding and retrying meanwhile
        cloud.start()
        _, log = process.communicate(timeout=60)
        assert process.returncode == 0, log
        assert sorted(cloud.frame_ids("edge-outage")) == expected_ids(folder, names)
    assert "upload failed; will retry" in log
    assert spool_files(agent.spool, "rejected") == []


def test_kill_9_and_restart_lose_and_duplicate_nothing(codec, make_agent, tmp_path):
    """Killed while frames wait in the spool (the server is away): the restarted agent sends
    those first, then captures only what was never spooled."""
    folder = tmp_path / "frames"
    names = write_frames(folder, 14)
    with running_cloud(tmp_path / "cloud", codec[1]) as cloud:
        agent = make_agent(cloud, "edge-kill")
        process = agent.start(folder, "--fps", "8")
        wait_for(lambda: len(cloud.frame_ids("edge-kill")) >= 3)
        cloud.stop()
        wait_for(lambda: len(list((agent.spool / "pending").iterdir())) >= 2)
        process.kill()
        process.communicate()
        cloud.start()
        assert 3 <= len(cloud.frame_ids("edge-kill")) < len(names), "killed too late"
        code, log = agent.run(folder, "--once")
        assert code == 0, log
        assert sorted(cloud.frame_ids("edge-kill")) == expected_ids(folder, names)
    assert spool_files(agent.spool, "pending") == spool_files(agent.spool, "rejected") == []


def test_sigterm_finishes_the_frame_in_hand_and_keeps_the_spool(cloud, make_agent, tmp_path):
    folder = tmp_path / "frames"
    names = write_frames(folder, 12)
    agent = make_agent(cloud, "edge-term")
    process = agent.start(folder, "--fps", "6")
    wait_for(lambda: len(cloud.frame_ids("edge-term")) >= 2)
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=30)
    assert process.returncode == 0, log
    assert "finishing the frame in hand" in log and "edge agent stopped" in log
    assert len(cloud.frame_ids("edge-term")) < len(names)
    code, log = agent.run(folder, "--once")
    assert code == 0, log
    assert sorted(cloud.frame_ids("edge-term")) == expected_ids(folder, names)


def test_a_bad_token_sends_frames_to_rejected_with_the_reason(cloud, make_agent, tmp_path):
    folder = tmp_path / "frames"
    write_frames(folder, 3)
    cloud.register("edge-badtoken")
    agent = make_agent(cloud, "edge-badtoken", token="not-the-token")
    code, log = agent.run(folder, "--once")
    assert code == EXIT_REJECTED, log
    reasons = [json.loads(p.read_text()) for p in (agent.spool / "rejected").glob("*.json")]
    assert len(reasons) == 3 and len(list((agent.spool / "rejected").glob("*.llc"))) == 3
    assert {(r["status"], r["reason"]) for r in reasons} == {(401, "unknown token")}
    assert spool_files(agent.spool, "pending") == []
    assert cloud.frame_ids("edge-badtoken") == []
    assert "frame rejected by the server" in log
    status = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "--spool", str(agent.spool), "--json"],
        cwd=REPO,
        env=agent_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(status.stdout)["counters"]["rejected"] == 3


def test_once_gives_up_on_an_absent_server_and_keeps_the_frames(tmp_path):
    """Nothing listens at the server's address: ``--once`` stops after ``--once-timeout-s``
    with status 4 instead of retrying for ever, and the frames wait in the spool. No
    ``--model``: the agent runs the shipped net_C, and says so."""
    folder = tmp_path / "frames"
    write_frames(folder, 3)
    agent = AgentRunner(None, f"http://127.0.0.1:{free_port()}", "edge-away", "t",
                        tmp_path / "spool")
    started = time.monotonic()
    code, log = agent.run(folder, "--once", "--once-timeout-s", "1.5")
    assert code == EXIT_GAVE_UP, log
    assert time.monotonic() - started < 30
    assert "giving up (--once)" in log
    assert len(spool_files(agent.spool, "pending")) == 3
    started_line = json.loads(next(line for line in log.splitlines()
                                   if "edge agent started" in line))
    shipped = OnnxCompressor(SHIPPED_MODEL).info.codec_id
    assert (started_line["model"], started_line["codec"]) == (str(SHIPPED_MODEL), shipped)


class LoseFirstAnswer(httpx.BaseTransport):
    """Delivers each request, but the first answer never reaches the agent (a dropped link)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not self.lost:
            self.lost = True
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_resend_after_a_lost_acknowledgement_is_stored_once(cloud, onnx_model):
    token = cloud.register("edge-lost-ack")
    encoder = FrameEncoder(onnx_model, vehicle="edge-lost-ack", camera="front", threads=1)
    frame = encoder.encode(Capture("lost-ack-0", synthetic_scene(*FRAME_SIZE, 7)[0], 1.7e9))
    uploader = Uploader(
        cloud.url,
        token,
        stop=threading.Event(),
        backoff=Backoff(0.01, 0.02),
        transport=LoseFirstAnswer(),
    )
    try:
        result = uploader.send(frame.frame_id, frame.data)
    finally:
        uploader.close()
    assert (result.outcome, result.status, result.attempts) == (Outcome.ACKNOWLEDGED, 200, 2)
    assert cloud.frame_ids("edge-lost-ack") == ["lost-ack-0"]
