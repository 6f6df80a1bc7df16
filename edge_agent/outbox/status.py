"""What a spool holds, as a snapshot: from the running spool, or read from disk by
``edge-agent status`` without locking the folder (the agent may be running)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge_agent.outbox.layout import (
    LOCK,
    PENDING,
    REASON_SUFFIX,
    REJECTED,
    STATE,
    Counters,
    entries_in,
    mtime_or_none,
    size_or_none,
)
from edge_agent.outbox.recovery import SpoolError


@dataclass(frozen=True)
class SpoolStatus:
    """A snapshot for ``edge-agent status``, the metrics endpoint and the progress line."""

    pending: int
    pending_bytes: int
    rejected: int
    rejected_bytes: int
    counters: Counters = field(default_factory=Counters)
    oldest_pending_at: float | None = None
    agent_pid: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def inspect(root: Path) -> SpoolStatus:
    """The spool's state read from disk, without locking it (the agent may be running)."""
    if not (root / PENDING).is_dir():
        raise SpoolError(f"{root} is not a spool folder (no {PENDING}/ in it)")
    pending, rejected = entries_in(root / PENDING), entries_in(root / REJECTED)
    reasons = sum(size_or_none(p) or 0 for p in (root / REJECTED).glob(f"*{REASON_SUFFIX}"))
    try:
        counters = Counters(**json.loads((root / STATE).read_text()))
    except (OSError, ValueError, TypeError):
        counters = Counters()
    return SpoolStatus(
        pending=len(pending),
        pending_bytes=sum(e.size for e in pending),
        rejected=len(rejected),
        rejected_bytes=sum(e.size for e in rejected) + reasons,
        counters=counters,
        oldest_pending_at=mtime_or_none(root / PENDING / pending[0].name) if pending else None,
        agent_pid=_running_agent(root),
    )


def _running_agent(root: Path) -> int | None:
    """The pid in the lock file if that process is alive (a killed agent leaves a stale pid)."""
    try:
        pid = int((root / LOCK).read_text().strip())
        os.kill(pid, 0)
    except PermissionError:  # alive, but another user's
        return pid
    except (OSError, ValueError):
        return None
    return pid
