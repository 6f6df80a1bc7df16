"""Frame sources: order, stable ids, skipping without decoding, watching, and spec parsing."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edge_agent.sources import (
    FolderSource,
    SourceError,
    SyntheticSource,
    VideoSource,
    open_source,
)
from tests.edge.conftest import FRAME_SIZE, write_frames


def never(_: str) -> bool:
    return False


def test_a_folder_is_read_in_name_order_with_stable_distinct_ids(tmp_path: Path) -> None:
    names = write_frames(tmp_path / "a", 3)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "zz_broken.png").write_bytes(b"not a png")
    captures = list(FolderSource(tmp_path / "a").frames(never, threading.Event()))
    assert [c.frame_id for c in captures] == [
        FolderSource(tmp_path / "a").frame_id(n) for n in names
    ]
    assert captures[0].image.shape == (*FRAME_SIZE, 3) and captures[0].image.dtype == np.uint8
    assert captures[0].frame_id.startswith("frame_000.png-")
    assert FolderSource(tmp_path / "b").frame_id(names[0]) != captures[0].frame_id


def test_skipped_frames_are_not_decoded(tmp_path: Path, monkeypatch) -> None:
    write_frames(tmp_path, 3)
    source = FolderSource(tmp_path)
    loaded: list[Path] = []
    monkeypatch.setattr(FolderSource, "_load", staticmethod(lambda p: loaded.append(p) or None))
    done = source.frame_id("frame_001.png")
    list(source.frames(lambda frame_id: frame_id == done, threading.Event()))
    assert [p.name for p in loaded] == ["frame_000.png", "frame_002.png"]


def test_a_watched_folder_picks_up_new_files_once_they_are_complete(tmp_path: Path) -> None:
    write_frames(tmp_path, 1)
    stop = threading.Event()
    frames = FolderSource(tmp_path, watch=True, interval_s=0.05).frames(never, stop)
    assert next(frames).frame_id.startswith("frame_000.png")
    write_frames(tmp_path, 2)  # frame_000 again (already taken) and a new frame_001
    assert next(frames).frame_id.startswith("frame_001.png")
    stop.set()
    assert list(frames) == []


def test_synthetic_frames_are_numbered_per_spool_instance() -> None:
    source = SyntheticSource(3, FRAME_SIZE, instance=lambda: "abcd1234")
    captures = list(source.frames(lambda i: i.endswith("1"), threading.Event()))
    assert [c.frame_id for c in captures] == [
        "synthetic-abcd1234-0000000",
        "synthetic-abcd1234-0000002",
    ]


def test_a_video_file_is_read_frame_by_frame(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2", reason="video sources need opencv-python-headless")
    path = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, FRAME_SIZE[::-1])
    for i in range(4):
        writer.write(np.full((*FRAME_SIZE, 3), 40 * i, np.uint8))
    writer.release()
    source = open_source(str(path))
    assert isinstance(source, VideoSource)
    captures = list(source.frames(lambda i: i.endswith("0000001"), threading.Event()))
    source.close()
    assert [c.frame_id[-7:] for c in captures] == ["0000000", "0000002", "0000003"]
    assert captures[1].ts - captures[0].ts == pytest.approx(0.2)
    assert captures[2].image.shape == (*FRAME_SIZE, 3)


@pytest.mark.parametrize(
    ("spec", "watch", "message"),
    [
        ("{tmp}/missing", False, "no such path"),
        ("{tmp}/frames/frame_000.png", False, "single image"),
        ("synthetic", True, "--watch needs a folder"),
    ],
)
def test_bad_sources_are_explained(tmp_path: Path, spec: str, watch: bool, message: str) -> None:
    write_frames(tmp_path / "frames", 1)
    with pytest.raises(SourceError, match=message):
        open_source(spec.format(tmp=tmp_path), watch=watch)


def test_source_specs() -> None:
    assert isinstance(open_source("synthetic:5"), SyntheticSource)
    assert open_source("synthetic").count is None
