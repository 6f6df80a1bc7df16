"""The spool's on-disk format: what each file in a spool folder is, and how containers are named.

Layout of a spool folder::

    pending/<seq>-<frame id>.llc     containers waiting for the server's acknowledgement
    rejected/<seq>-<frame id>.llc    containers the server refused (4xx), never retried, with
    rejected/<seq>-<frame id>.json   the server's status and reason beside each
    tmp/                             half-written files; emptied at start-up
    ledger.log                       ids of the frames ever spooled from a replayable source
    state.json                       counters and the last upload, for ``edge-agent status``
    instance                         a random id of this spool (synthetic frame ids use it)
    lock                             held (flock) by the one agent using the spool; its pid

``seq`` orders frames oldest first. Everything the queue needs is in the file names, so it is
rebuilt at start-up (and read by ``edge-agent status``) from folder listings alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PENDING, REJECTED, TMP = "pending", "rejected", "tmp"
LEDGER, STATE, INSTANCE, LOCK = "ledger.log", "state.json", "instance", "lock"
CONTAINER_SUFFIX, REASON_SUFFIX = ".llc", ".json"


@dataclass(frozen=True)
class Entry:
    """One spooled container: its place in the queue, frame id and bytes on disk."""

    seq: int
    frame_id: str
    size: int

    @property
    def name(self) -> str:
        return f"{self.seq:016d}-{self.frame_id}{CONTAINER_SUFFIX}"

    @classmethod
    def parse(cls, path: Path) -> Entry | None:
        """The entry a container file stands for; None for another file or a vanished one."""
        seq, dash, frame_id = path.name.removesuffix(CONTAINER_SUFFIX).partition("-")
        if not (path.name.endswith(CONTAINER_SUFFIX) and dash and seq.isdigit() and frame_id):
            return None
        size = size_or_none(path)
        return None if size is None else cls(int(seq), frame_id, size)


@dataclass
class Counters:
    """What ``state.json`` keeps across restarts."""

    uploaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    dropped: int = 0
    last_upload: dict | None = None
    last_error: dict | None = None


def entries_in(folder: Path) -> list[Entry]:
    """The containers in ``folder``, oldest first."""
    return sorted(filter(None, map(Entry.parse, folder.iterdir())), key=lambda e: e.seq)


def size_or_none(path: Path) -> int | None:
    """The file's size; None if it is gone (the agent may delete it while it is listed)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def mtime_or_none(path: Path) -> float | None:
    """When the file was written; None if it is gone."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None
