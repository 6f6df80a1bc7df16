"""The spool: the on-disk store-and-forward queue between encoder and uploader.

Guarantees. A container is written to ``tmp/``, fsynced, renamed into ``pending/`` and the
folder fsynced before it is offered for upload, so an acknowledged-to-the-pipeline frame
survives a crash or power loss; it is deleted only after the server answered 201 or 200. The
deletion is not fsynced: if it is lost, the frame is resent and the server answers 200 (same
vehicle, frame id and bytes), so nothing is stored twice.

After the container is durable, its id is added to the ledger (:mod:`edge_agent.outbox.ledger`).
A crash between the two writes is repaired at start-up: ids found in ``pending/`` or
``rejected/`` but missing from the ledger are added before anything else runs.

Cap. When the spool's bytes exceed ``max_bytes`` after a frame is added, the oldest rejected
frames are deleted first (they will never be sent), then the oldest pending ones, never the
one being uploaded nor the newest. Every drop is logged (warning) and counted in
``state.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from edge_agent.outbox import recovery
from edge_agent.outbox.layout import (
    LEDGER,
    PENDING,
    REASON_SUFFIX,
    REJECTED,
    STATE,
    TMP,
    Counters,
    Entry,
    mtime_or_none,
    size_or_none,
)
from edge_agent.outbox.ledger import Ledger
from edge_agent.outbox.recovery import SpoolError
from edge_agent.outbox.status import SpoolStatus
from latentlink.durable import fsync_dir, write_atomically

log = logging.getLogger(__name__)


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

    def _open(self) -> None:
        """Lock, clean up and load the spool, repairing what a crash left."""
        root = self.root
        for name in (PENDING, REJECTED, TMP):
            (root / name).mkdir(parents=True, exist_ok=True)
        self._lock_file = recovery.acquire_lock(root)
        recovery.clear_tmp(root)
        for entry in recovery.scan(root / PENDING):
            self._add_pending(entry)
        for entry in recovery.scan(root / REJECTED):
            reason = self._path(REJECTED, entry).with_suffix(REASON_SUFFIX)
            self._add_rejected(entry, size_or_none(reason) or 0)
        self._next_seq = 1 + max([*self._pending, *self._rejected], default=0)
        self.counters = recovery.load_counters(root)
        self.instance_id = recovery.instance_id(root)
        self._ledger = Ledger(root / LEDGER)
        spooled = [e.frame_id for e in self._pending.values()]
        spooled += [e.frame_id for e, _ in self._rejected.values()]
        for frame_id in spooled:
            if frame_id not in self._ledger:
                self._ledger.add(frame_id)

    @property
    def depth(self) -> int:
        """Frames waiting for upload (the one in flight included)."""
        return len(self._pending)

    def seen(self, frame_id: str) -> bool:
        """Whether this frame was spooled before (by this run or an earlier one)."""
        with self._mutex:
            return frame_id in self._ledger

    def put(self, frame_id: str, data: bytes, *, remember: bool = True) -> Entry:
        """Store a container durably and offer it for upload; ``remember`` adds it to the ledger."""
        with self._mutex:
            entry = Entry(self._next_seq, frame_id, len(data))
            self._next_seq += 1
        write_atomically(self._path(PENDING, entry), data, self.root / TMP)
        with self._mutex:
            if remember:
                self._ledger.add(frame_id)
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
                oldest_pending_at=mtime_or_none(self._path(PENDING, oldest)) if oldest else None,
                agent_pid=os.getpid(),
            )

    def close(self) -> None:
        """Wake waiting takers and release the lock; the files stay for the next run."""
        with self._mutex:
            self._closed = True
            self._mutex.notify_all()
        self._ledger.close()
        recovery.release_lock(self._lock_file)

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
