"""The on-disk store-and-forward queue: every frame is on disk before it is sent.

Layout of a spool folder::

    pending/<seq>-<frame id>.llc     containers waiting for the server's acknowledgement
    rejected/<seq>-<frame id>.llc    containers the server refused (4xx), never retried, with
    rejected/<seq>-<frame id>.json   the server's status and reason beside each
    tmp/                             half-written files; emptied at start-up
    ledger.log                       ids of the frames ever spooled from a replayable source
    state.json                       counters and the last upload, for ``edge-agent status``
    instance                         a random id of this spool (synthetic frame ids use it)
    lock                             held (flock) by the one agent using the spool; its pid

Guarantees. A container is written to ``tmp/``, fsynced, renamed into ``pending/`` and the
folder fsynced before it is offered for upload, so an acknowledged-to-the-pipeline frame
survives a crash or power loss; it is deleted only after the server answered 201 or 200. The
deletion is not fsynced: if it is lost, the frame is resent and the server answers 200 (same
vehicle, frame id and bytes), so nothing is stored twice. ``seq`` orders frames oldest first.

After the container is durable, its id is appended to the ledger (fsynced); a replayable
source skips ledger ids on restart, so frames already taken in are neither lost nor re-encoded.
A crash between the two writes is repaired at start-up: ids found in ``pending/`` or
``rejected/`` but missing from the ledger are added before anything else runs. The ledger grows
by one line (≈ 60 bytes) per frame of a replayable source; live-camera ids are not recorded.

Cap. When the spool's bytes exceed ``max_bytes`` after a frame is added, the oldest rejected
frames are deleted first (they will never be sent), then the oldest pending ones, never the
one being uploaded nor the newest. Every drop is logged (warning) and counted in
``state.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

from latentlink.durable import fsync_dir, write_atomically

log = logging.getLogger(__name__)

PENDING, REJECTED, TMP = "pending", "rejected", "tmp"
LEDGER, STATE, INSTANCE, LOCK = "ledger.log", "state.json", "instance", "lock"
CONTAINER_SUFFIX, REASON_SUFFIX = ".llc", ".json"


class SpoolError(RuntimeError):
    """The spool folder cannot be used (not writable, or in use by another agent)."""


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
        size = _size_or_none(path)
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


class Spool:
    """The queue of containers between the encoder and the uploader; thread-safe.

    One agent per spool: the constructor takes an exclusive lock (released by the kernel if
    the process dies), recovers from a crash and raises :class:`SpoolError` if it cannot.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = root, max_bytes
        self._mutex = threading.Condition()
        self._pending_bytes = self._rejected_bytes = 0
        self._pending: OrderedDict[int, Entry] = OrderedDict()
        self._rejected: OrderedDict[int, tuple[Entry, int]] = OrderedDict()
        self._in_flight: int | None = None
        self._closed = False
        try:
            self._open()
        except OSError as error:
            raise SpoolError(f"cannot use spool folder {root}: {error}") from error

    # -- start-up ------------------------------------------------------------------------------

    def _open(self) -> None:
        """Lock, clean up and load the spool, repairing what a crash left."""
        root = self.root
        for name in (PENDING, REJECTED, TMP):
            (root / name).mkdir(parents=True, exist_ok=True)
        self._lock_file = self._acquire_lock()
        for leftover in (root / TMP).iterdir():
            leftover.unlink()
        for entry in self._scan(PENDING):
            self._add_pending(entry)
        for entry in self._scan(REJECTED):
            reason = self._path(REJECTED, entry).with_suffix(REASON_SUFFIX)
            self._add_rejected(entry, _size_or_none(reason) or 0)
        self._next_seq = 1 + max([*self._pending, *self._rejected], default=0)
        self.counters = self._load_counters()
        self.instance_id = self._instance_id()
        self._ledger_ids = self._load_ledger()
        self._ledger = open(root / LEDGER, "a", encoding="ascii")  # noqa: SIM115 (kept open)
        spooled = [e.frame_id for e in self._pending.values()]
        spooled += [e.frame_id for e, _ in self._rejected.values()]
        for frame_id in spooled:
            if frame_id not in self._ledger_ids:
                self._remember(frame_id)

    def _acquire_lock(self) -> TextIO:
        """The lock file, flocked; its content is our pid, for ``edge-agent status``."""
        handle = open(self.root / LOCK, "a+")  # noqa: SIM115 (held for the spool's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise SpoolError(
                f"spool {self.root} is in use by another edge-agent (pid {holder})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    def _scan(self, folder: str) -> list[Entry]:
        for reason in (self.root / folder).glob(f"*{REASON_SUFFIX}"):
            if not reason.with_suffix(CONTAINER_SUFFIX).exists():
                reason.unlink()  # the reason of a rejection whose move did not complete
        return entries_in(self.root / folder)

    def _load_counters(self) -> Counters:
        try:
            return Counters(**json.loads((self.root / STATE).read_text()))
        except FileNotFoundError:
            return Counters()
        except (ValueError, TypeError) as error:
            log.warning(
                "spool state unreadable; counters restart at 0", extra={"error": str(error)}
            )
            return Counters()

    def _instance_id(self) -> str:
        path = self.root / INSTANCE
        if not path.exists():
            write_atomically(path, secrets.token_hex(4).encode(), self.root / TMP)
        return path.read_text().strip()

    def _load_ledger(self) -> set[str]:
        path = self.root / LEDGER
        if not path.exists():
            return set()
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):  # a torn last line: that append never completed
            data = data[: data.rfind(b"\n") + 1]
            with open(path, "r+b") as handle:
                handle.truncate(len(data))
        return set(data.decode("ascii").split())

    # -- the queue -----------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Frames waiting for upload (the one in flight included)."""
        return len(self._pending)

    def seen(self, frame_id: str) -> bool:
        """Whether this frame was spooled before (by this run or an earlier one)."""
        with self._mutex:
            return frame_id in self._ledger_ids

    def put(self, frame_id: str, data: bytes, *, remember: bool = True) -> Entry:
        """Store a container durably and offer it for upload; ``remember`` adds it to the ledger."""
        with self._mutex:
            entry = Entry(self._next_seq, frame_id, len(data))
            self._next_seq += 1
        write_atomically(self._path(PENDING, entry), data, self.root / TMP)
        with self._mutex:
            if remember:
                self._remember(frame_id)
            self._add_pending(entry)
            self._enforce_cap(entry)
            self._mutex.notify_all()
        return entry

    def take(self, timeout: float | None = None) -> tuple[Entry, bytes] | None:
        """The oldest pending container, marked in flight; None if none came within ``timeout``."""
        with self._mutex:
            while True:
                if not self._mutex.wait_for(
                    lambda: self._closed or self._available() is not None, timeout
                ):
                    return None
                entry = self._available()
                if entry is None:
                    return None
                try:
                    data = self._path(PENDING, entry).read_bytes()
                except FileNotFoundError:
                    log.warning("spooled frame vanished", extra={"frame": entry.frame_id})
                    self._drop_pending(entry)
                    continue
                self._in_flight = entry.seq
                return entry, data

    def release(self, entry: Entry) -> None:
        """Put an in-flight container back, unsent (shutdown during its retries)."""
        with self._mutex:
            if self._in_flight == entry.seq:
                self._in_flight = None
            self._mutex.notify_all()

    def acknowledge(self, entry: Entry, status: int) -> None:
        """The server has the frame: delete it from the spool."""
        with contextlib.suppress(FileNotFoundError):
            self._path(PENDING, entry).unlink()
        with self._mutex:
            self._drop_pending(entry)
            self._in_flight = None
            if status == 200:
                self.counters.duplicates += 1
            else:
                self.counters.uploaded += 1
            self.counters.last_upload = {
                "frame": entry.frame_id,
                "status": status,
                "at": time.time(),
            }
            self._save_counters()
            self._mutex.notify_all()

    def reject(self, entry: Entry, status: int, reason: str) -> None:
        """The server refused the frame for good: move it to ``rejected/`` with the reason."""
        detail = {"frame": entry.frame_id, "status": status, "reason": reason, "at": time.time()}
        reason_bytes = (json.dumps(detail, indent=2) + "\n").encode()
        target = self._path(REJECTED, entry)
        write_atomically(target.with_suffix(REASON_SUFFIX), reason_bytes, self.root / TMP)
        os.replace(self._path(PENDING, entry), target)
        fsync_dir(target.parent)
        with self._mutex:
            self._drop_pending(entry)
            self._add_rejected(entry, len(reason_bytes))
            self._in_flight = None
            self.counters.rejected += 1
            self._save_counters()
            self._enforce_cap(None)
            self._mutex.notify_all()

    def note_error(self, message: str) -> None:
        """Record the latest transient upload failure for ``edge-agent status``."""
        with self._mutex:
            self.counters.last_error = {"message": message, "at": time.time()}
            self._save_counters()

    def status(self) -> SpoolStatus:
        with self._mutex:
            oldest = next(iter(self._pending.values()), None)
            return SpoolStatus(
                pending=len(self._pending),
                pending_bytes=self._pending_bytes,
                rejected=len(self._rejected),
                rejected_bytes=self._rejected_bytes,
                counters=Counters(**asdict(self.counters)),
                oldest_pending_at=_mtime(self._path(PENDING, oldest)) if oldest else None,
                agent_pid=os.getpid(),
            )

    def close(self) -> None:
        """Wake waiting takers and release the lock; the files stay for the next run."""
        with self._mutex:
            self._closed = True
            self._mutex.notify_all()
        self._ledger.close()
        self._lock_file.truncate(0)  # no pid: "not running" for edge-agent status
        self._lock_file.close()

    # -- internals (called with the mutex held) ------------------------------------------------

    def _add_pending(self, entry: Entry) -> None:
        self._pending[entry.seq] = entry
        self._pending_bytes += entry.size

    def _drop_pending(self, entry: Entry) -> None:
        if self._pending.pop(entry.seq, None) is not None:
            self._pending_bytes -= entry.size

    def _add_rejected(self, entry: Entry, reason_size: int) -> None:
        self._rejected[entry.seq] = (entry, reason_size)
        self._rejected_bytes += entry.size + reason_size

    def _available(self) -> Entry | None:
        return next((e for s, e in self._pending.items() if s != self._in_flight), None)

    def _remember(self, frame_id: str) -> None:
        self._ledger.write(frame_id + "\n")
        self._ledger.flush()
        os.fsync(self._ledger.fileno())
        self._ledger_ids.add(frame_id)

    def _enforce_cap(self, newest: Entry | None) -> None:
        dropped = self.counters.dropped
        while self._pending_bytes + self._rejected_bytes > self.max_bytes:
            if self._rejected:
                entry, reason_size = self._rejected.pop(next(iter(self._rejected)))
                self._rejected_bytes -= entry.size + reason_size
                path = self._path(REJECTED, entry)
                path.with_suffix(REASON_SUFFIX).unlink(missing_ok=True)
                kind = "rejected"
            else:
                entry = next(
                    (
                        e
                        for s, e in self._pending.items()
                        if s != self._in_flight and (newest is None or s != newest.seq)
                    ),
                    None,
                )
                if entry is None:
                    break
                self._drop_pending(entry)
                path, kind = self._path(PENDING, entry), "pending"
            path.unlink(missing_ok=True)
            self.counters.dropped += 1
            log.warning(
                "spool over its cap: dropped the oldest frame",
                extra={
                    "frame": entry.frame_id,
                    "kind": kind,
                    "cap_bytes": self.max_bytes,
                    "spool_bytes": self._pending_bytes + self._rejected_bytes,
                    "dropped_total": self.counters.dropped,
                },
            )
        if self.counters.dropped != dropped:
            self._save_counters()

    def _save_counters(self) -> None:
        data = json.dumps(asdict(self.counters)).encode()
        write_atomically(self.root / STATE, data, self.root / TMP, durable=False)

    def _path(self, folder: str, entry: Entry) -> Path:
        return self.root / folder / entry.name


def _size_or_none(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def entries_in(folder: Path) -> list[Entry]:
    """The containers in ``folder``, oldest first."""
    return sorted(filter(None, map(Entry.parse, folder.iterdir())), key=lambda e: e.seq)


def inspect(root: Path) -> SpoolStatus:
    """The spool's state read from disk, without locking it (the agent may be running)."""
    if not (root / PENDING).is_dir():
        raise SpoolError(f"{root} is not a spool folder (no {PENDING}/ in it)")
    pending, rejected = entries_in(root / PENDING), entries_in(root / REJECTED)
    reasons = sum(_size_or_none(p) or 0 for p in (root / REJECTED).glob(f"*{REASON_SUFFIX}"))
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
        oldest_pending_at=_mtime(root / PENDING / pending[0].name) if pending else None,
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
