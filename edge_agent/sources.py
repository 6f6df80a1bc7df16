"""Frame sources: image folders, video files, live cameras and synthetic street scenes.

Every frame gets a *stable id*: the cloud deduplicates uploads on (vehicle, frame id), so a
frame resent after a lost acknowledgement is stored once, and a replayable source (everything
but a live camera) skips, after a restart, the frames its spool has already taken in. The ids:

- folder: ``<file name>-<h>``, where ``<h>`` is 8 hex digits of a BLAKE2b hash of the folder's
  absolute path and the file name (two folders with the same file names never collide);
  timestamp: the file's modification time.
- video: ``<stem>-<h>-<index>``, ``<h>`` hashing the file's absolute path, ``<index>`` the frame
  number; timestamp: the file's modification time plus index / frame rate.
- synthetic: ``synthetic-<spool instance>-<index>``; timestamp: capture time.
- camera: ``<camera name>-<capture time in µs>``; timestamp: capture time. Not replayable.

Video files and cameras are read with OpenCV (``opencv-python-headless``), imported only when
such a source is opened, so a folder- or synthetic-fed agent does not need it.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from latentlink.data.datasets import IMAGE_SUFFIXES, load_rgb
from latentlink.data.synthetic import synthetic_scene

log = logging.getLogger(__name__)

SYNTHETIC_SPEC = re.compile(r"^synthetic(?::(\d+))?$")
CAMERA_READ_FAILURES = 50
"""Consecutive failed camera reads (≈5 s) before the camera counts as gone."""

Skip = Callable[[str], bool]


class SourceError(ValueError):
    """The source cannot be opened or has failed; the message says why."""


@dataclass(frozen=True)
class Capture:
    """One captured frame: its stable id, the RGB pixels and the capture time (Unix s)."""

    frame_id: str
    image: np.ndarray
    ts: float


class Source(ABC):
    """A sequence of frames; ``frames`` stops when the source is exhausted or ``stop`` is set."""

    replayable = True
    """Whether the same frames come again after a restart (so already-spooled ones are skipped)."""

    @abstractmethod
    def frames(self, skip: Skip, stop: threading.Event) -> Iterator[Capture]:
        """Yield the frames whose ``skip(frame_id)`` is false, without decoding the others."""

    def close(self) -> None:  # noqa: B027 (a no-op for sources that hold no device or file)
        """Release the device or file."""


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def _safe(name: str, limit: int) -> str:
    """``name`` in the container's frame-id alphabet, at most ``limit`` characters."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:limit]


class FolderSource(Source):
    """Images of one folder in name order; with ``watch``, new files as they appear."""

    def __init__(self, folder: Path, *, watch: bool = False, interval_s: float = 1.0) -> None:
        self.folder = folder.resolve()
        self.watch = watch
        self.interval_s = interval_s

    def __str__(self) -> str:
        return f"folder {self.folder}" + (" (watched)" if self.watch else "")

    def frame_id(self, name: str) -> str:
        return f"{_safe(name, 100)}-{_digest(f'{self.folder}/{name}')}"

    def frames(self, skip: Skip, stop: threading.Event) -> Iterator[Capture]:
        taken: set[str] = set()
        # A watched file is taken once its size and mtime are unchanged for one scan, so a
        # file still being written is not read half-way.
        signatures: dict[str, tuple[int, int]] = {}
        while not stop.is_set():
            for entry in self._listing():
                if entry.name in taken:
                    continue
                frame_id = self.frame_id(entry.name)
                if skip(frame_id):
                    taken.add(entry.name)
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:  # deleted since the listing
                    continue
                if self.watch:
                    signature = (stat.st_size, stat.st_mtime_ns)
                    if signatures.get(entry.name) != signature:
                        signatures[entry.name] = signature
                        continue
                    del signatures[entry.name]
                taken.add(entry.name)
                image = self._load(Path(entry.path))
                if image is not None:
                    yield Capture(frame_id, image, stat.st_mtime)
                if stop.is_set():
                    return
            if not self.watch:
                return
            stop.wait(self.interval_s)

    def _listing(self) -> list[os.DirEntry]:
        try:
            with os.scandir(self.folder) as entries:
                found = [
                    e
                    for e in entries
                    if not e.name.startswith(".")
                    and Path(e.name).suffix.lower() in IMAGE_SUFFIXES
                    and e.is_file()
                ]
        except OSError as error:
            if not self.watch:
                raise SourceError(f"cannot list {self.folder}: {error}") from error
            log.warning("cannot list the watched folder", extra={"error": str(error)})
            return []
        return sorted(found, key=lambda e: e.name)

    @staticmethod
    def _load(path: Path) -> np.ndarray | None:
        """The image, or None (logged) when the file is not a readable image."""
        try:
            return load_rgb(path)
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            log.warning("skipping unreadable image", extra={"path": str(path), "error": str(error)})
            return None


def _opencv() -> ModuleType:
    try:
        import cv2
    except ImportError as error:
        raise SourceError(
            "video files and cameras are read with OpenCV: pip install opencv-python-headless"
        ) from error
    return cv2


class VideoSource(Source):
    """The frames of a video file, in order."""

    def __init__(self, path: Path) -> None:
        self._cv2 = _opencv()
        self.path = path.resolve()
        self._capture = self._cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise SourceError(f"cannot open video {path} (not a video OpenCV can decode?)")
        self._start = self.path.stat().st_mtime
        self._fps = self._capture.get(self._cv2.CAP_PROP_FPS) or 0.0
        self._prefix = f"{_safe(self.path.stem, 80)}-{_digest(str(self.path))}"

    def __str__(self) -> str:
        return f"video {self.path}"

    def frames(self, skip: Skip, stop: threading.Event) -> Iterator[Capture]:
        for index in itertools.count():
            if stop.is_set():
                return
            frame_id = f"{self._prefix}-{index:07d}"
            if skip(frame_id):
                if not self._capture.grab():  # advances without decoding
                    return
                continue
            ok, bgr = self._capture.read()
            if not ok:
                return
            ts = self._start + (index / self._fps if self._fps > 0 else 0.0)
            yield Capture(frame_id, self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), ts)

    def close(self) -> None:
        self._capture.release()


class CameraSource(Source):
    """A live camera: an OpenCV device index or a V4L2 device path."""

    replayable = False

    def __init__(self, device: int | str, name: str) -> None:
        self._cv2 = _opencv()
        self.device, self.name = device, name
        backend = self._cv2.CAP_V4L2 if isinstance(device, str) else self._cv2.CAP_ANY
        self._capture = self._cv2.VideoCapture(device, backend)
        if not self._capture.isOpened():
            raise SourceError(f"cannot open camera {device}")
        # Keep only the newest frame in the driver: a slow encoder then sees fresh frames
        # rather than a growing backlog.
        self._capture.set(self._cv2.CAP_PROP_BUFFERSIZE, 1)

    def __str__(self) -> str:
        return f"camera {self.device}"

    def frames(self, skip: Skip, stop: threading.Event) -> Iterator[Capture]:
        failures = 0
        while not stop.is_set():
            ok, bgr = self._capture.read()
            if not ok:
                failures += 1
                if failures >= CAMERA_READ_FAILURES:
                    raise SourceError(f"camera {self.device} stopped delivering frames")
                stop.wait(0.1)
                continue
            failures = 0
            ts = time.time()
            frame_id = f"{_safe(self.name, 100)}-{int(ts * 1e6)}"
            yield Capture(frame_id, self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), ts)

    def close(self) -> None:
        self._capture.release()


class SyntheticSource(Source):
    """Generated street scenes (``latentlink.data.synthetic``) for demos: endless or ``count``."""

    def __init__(
        self, count: int | None, size: tuple[int, int], instance: Callable[[], str]
    ) -> None:
        """``instance`` gives the spool's id when the first frame is made: the spool opens
        after the source, so that a source that cannot be opened leaves no folder behind."""
        self.count, self.size, self.instance = count, size, instance

    def __str__(self) -> str:
        height, width = self.size
        return f"synthetic {width}x{height}" + (f", {self.count} frames" if self.count else "")

    def frames(self, skip: Skip, stop: threading.Event) -> Iterator[Capture]:
        indices = range(self.count) if self.count is not None else itertools.count()
        instance = self.instance()
        for index in indices:
            if stop.is_set():
                return
            frame_id = f"synthetic-{instance}-{index:07d}"
            if skip(frame_id):
                continue
            image, _ = synthetic_scene(*self.size, seed=index)
            yield Capture(frame_id, image, time.time())


def open_source(
    spec: str,
    *,
    watch: bool = False,
    watch_interval_s: float = 1.0,
    synthetic_size: tuple[int, int] = (360, 480),
    camera: str = "front",
    instance: Callable[[], str] = lambda: "0",
) -> Source:
    """The source ``spec`` names (see the module docstring); raises :class:`SourceError`."""
    path = Path(spec)
    if watch and not path.is_dir():
        raise SourceError(f"--watch needs a folder source, and {spec!r} is not a folder")
    if match := SYNTHETIC_SPEC.match(spec):
        return SyntheticSource(int(match[1]) if match[1] else None, synthetic_size, instance)
    device = spec.removeprefix("camera:")
    if device.isdigit():
        return CameraSource(int(device), camera)
    if spec.startswith(("camera:", "/dev/video")):
        return CameraSource(device, camera)
    if path.is_dir():
        return FolderSource(path, watch=watch, interval_s=watch_interval_s)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            raise SourceError(f"{spec} is a single image; give the folder that holds it")
        return VideoSource(path)
    raise SourceError(
        f"source {spec!r} is neither a folder, a file, a camera nor synthetic[:N] (no such path)"
    )
