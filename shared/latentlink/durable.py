"""Crash-safe file writes, shared by the edge spool and the cloud's file blob store.

A file is written under a temporary name, fsynced, renamed into place (atomic on POSIX) and its
folder fsynced, so after a crash or power loss the path holds either nothing or the complete
bytes, never a torn write; and once the call returns, the rename itself is durable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename or creation in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, tmp_dir: Path | None = None, *,
                     durable: bool = True) -> None:
    """Write ``path`` so that it is either absent or complete, even across a crash.

    ``tmp_dir`` (same file system as ``path``) holds the half-written file, by default
    ``path``'s own folder; ``durable=False`` skips the fsyncs where losing the file is harmless.
    """
    fd, temporary = tempfile.mkstemp(dir=tmp_dir or path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
