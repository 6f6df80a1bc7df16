"""``ledger.log``: the ids of the frames ever spooled from a replayable source.

After a container is durable, its id is appended (fsynced); a replayable source skips ledger ids
on restart, so frames already taken in are neither lost nor re-encoded. The ledger grows by one
line (≈ 60 bytes) per frame of a replayable source; live-camera ids are not recorded.
"""

from __future__ import annotations

import os
from pathlib import Path


class Ledger:
    """The ledger file, open for appending, and the ids in it; not thread-safe (the spool
    serialises access)."""

    def __init__(self, path: Path) -> None:
        self._ids = _read_repaired(path)
        self._file = open(path, "a", encoding="ascii")  # noqa: SIM115 (kept open)

    def __contains__(self, frame_id: str) -> bool:
        return frame_id in self._ids

    def add(self, frame_id: str) -> None:
        """Record ``frame_id`` durably (fsynced before returning)."""
        self._file.write(frame_id + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._ids.add(frame_id)

    def close(self) -> None:
        self._file.close()


def _read_repaired(path: Path) -> set[str]:
    """The ids in the file, after cutting off a torn last line (an append that never completed)."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as handle:
            handle.truncate(len(data))
    return set(data.decode("ascii").split())
