"""The spool: durable, ordered, crash-repairing, one agent at a time, and capped by a policy."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from edge_agent.outbox import LEDGER, Spool, SpoolError, entries_in, inspect


def frame(i: int, size: int = 1000) -> tuple[str, bytes]:
    return f"f-{i:03d}", bytes([i % 256]) * size


def test_frames_come_out_oldest_first_and_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for i in range(3):
        spool.put(*frame(i))
    entry, data = spool.take(timeout=0)
    assert (entry.frame_id, data) == frame(0)
    spool.acknowledge(entry, 201)
    instance = spool.instance_id
    spool.close()

    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.instance_id == instance
    assert [reopened.take(timeout=0)[0].frame_id] == ["f-001"]
    assert reopened.seen("f-000") and reopened.seen("f-002") and not reopened.seen("f-003")
    state = inspect(tmp_path)
    assert (state.pending, state.counters.uploaded) == (2, 1)
    assert state.counters.last_upload["frame"] == "f-000"


def test_a_frame_in_flight_is_not_handed_out_twice(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put(*frame(0))
    entry, _ = spool.take(timeout=0)
    assert spool.take(timeout=0) is None
    spool.release(entry)
    assert spool.take(timeout=0)[0] == entry


def test_start_up_repairs_what_a_crash_left(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put("spooled-not-remembered", b"x" * 10, remember=False)  # crash before the ledger
    spool.put("remembered", b"y" * 10)
    spool.close()
    with open(tmp_path / LEDGER, "a") as ledger:
        ledger.write("torn-li")  # an append cut short
    (tmp_path / "tmp" / "half-written.llc.part").write_bytes(b"partial")
    (tmp_path / "rejected" / "0000000000000009-gone.json").write_text("{}")

    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.seen("spooled-not-remembered") and reopened.seen("remembered")
    assert not reopened.seen("torn-li")
    assert (tmp_path / LEDGER).read_text().endswith("\n")
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "rejected").iterdir()) == []


def test_one_agent_per_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    with pytest.raises(SpoolError, match="in use by another edge-agent"):
        Spool(tmp_path, max_bytes=1 << 20)
    assert inspect(tmp_path).agent_pid is not None
    spool.close()
    Spool(tmp_path, max_bytes=1 << 20).close()


def test_rejection_keeps_the_frame_and_the_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.put(*frame(0))
    entry, _ = spool.take(timeout=0)
    spool.reject(entry, 401, "unknown token")
    reason = json.loads((tmp_path / "rejected" / entry.name).with_suffix(".json").read_text())
    assert (reason["frame"], reason["status"], reason["reason"]) == ("f-000", 401, "unknown token")
    assert (tmp_path / "rejected" / entry.name).read_bytes() == frame(0)[1]
    assert spool.status().rejected == 1 and spool.depth == 0


def test_the_cap_drops_rejected_then_oldest_pending_but_never_in_flight_or_newest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, max_bytes=5000)
    spool.put(*frame(0))
    rejected, _ = spool.take(timeout=0)
    spool.reject(rejected, 422, "unknown codec")
    spool.put(*frame(1))
    in_flight, _ = spool.take(timeout=0)
    for i in range(2, 5):
        spool.put(*frame(i))
    with caplog.at_level(logging.WARNING, logger="edge_agent.outbox"):
        spool.put(*frame(5))  # 5 pending + a rejected frame with its reason: over 5000 bytes
        spool.put(*frame(6))
    assert spool.status().rejected == 0
    remaining = [e.frame_id for e in entries_in(tmp_path / "pending")]
    assert remaining == ["f-001", "f-003", "f-004", "f-005", "f-006"]
    assert in_flight.frame_id in remaining
    assert spool.status().pending_bytes <= 5000
    assert spool.counters.dropped == 2
    assert [r.frame for r in caplog.records] == ["f-000", "f-002"]
    assert json.loads((tmp_path / "state.json").read_text())["dropped"] == 2
