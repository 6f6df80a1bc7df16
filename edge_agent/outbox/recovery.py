"""Opening a spool folder, whatever ended the last run: take it over, and repair what a crash left.

A crash (or power loss) can leave half-written files in ``tmp/`` (deleted), a rejection's reason
whose container was never moved beside it (deleted: the frame is still pending), a torn last
line in the ledger (cut off: that append never completed) and an unreadable ``state.json``
(counters restart at 0). Frames spooled but missing from the ledger are added to it by the
spool once its ledger is open (:class:`edge_agent.outbox.store.Spool`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from pathlib import Path
from typing import TextIO

from edge_agent.outbox.layout import (
    CONTAINER_SUFFIX,
    INSTANCE,
    LOCK,
    REASON_SUFFIX,
    STATE,
    TMP,
    Counters,
    Entry,
    entries_in,
)
from latentlink.durable import write_atomically

log = logging.getLogger(__name__)


class SpoolError(RuntimeError):
    """The spool folder cannot be used (not writable, or in use by another agent)."""


def acquire_lock(root: Path) -> TextIO:
    """The lock file, flocked (the kernel releases it if the process dies); its content is our
    pid, for ``edge-agent status``. Raises :class:`SpoolError` if another agent holds it."""
    handle = open(root / LOCK, "a+")  # noqa: SIM115 (held for the spool's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise SpoolError(f"spool {root} is in use by another edge-agent (pid {holder})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def release_lock(handle: TextIO) -> None:
    """Unlock, leaving no pid behind: "not running" for ``edge-agent status``."""
    handle.truncate(0)
    handle.close()


def clear_tmp(root: Path) -> None:
    for leftover in (root / TMP).iterdir():
        leftover.unlink()


def scan(folder: Path) -> list[Entry]:
    """The containers in ``folder``, oldest first, after deleting reasons without a container."""
    for reason in folder.glob(f"*{REASON_SUFFIX}"):
        if not reason.with_suffix(CONTAINER_SUFFIX).exists():
            reason.unlink()  # the reason of a rejection whose move did not complete
    return entries_in(folder)


def load_counters(root: Path) -> Counters:
    try:
        return Counters(**json.loads((root / STATE).read_text()))
    except FileNotFoundError:
        return Counters()
    except (ValueError, TypeError) as error:
        log.warning("spool state unreadable; counters restart at 0", extra={"error": str(error)})
        return Counters()


def instance_id(root: Path) -> str:
    """This spool's random id, made on first use."""
    path = root / INSTANCE
    if not path.exists():
        write_atomically(path, secrets.token_hex(4).encode(), root / TMP)
    return path.read_text().strip()
