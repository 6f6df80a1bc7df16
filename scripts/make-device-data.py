#!/usr/bin/env python3
"""Copy CamVid into a folder small enough to travel to a lent GPU machine (64 MiB in all).

The PNG frames (119 MiB) become JPEG quality 95 without chroma subsampling (≈ 40 dB, far above
any codec operating point we train for); labels stay PNG, since a lossy label is a wrong label,
and the CamVid reader finds ``NAME.png`` beside ``NAME.jpg``. Train is copied whole; of val every
``--val-step``-th frame, enough to select checkpoints (reported figures come from all val frames
on the original PNGs, measured back here). The result is both a CamVid tree and a ``folder``
data set (``train/``, ``val/``), so codec and segmenter training read it alike.

    python scripts/make-device-data.py ../shared/datasets/camvid .devdata
    echo /.devdata/ >> .git/info/exclude   # then name .devdata in the device call's carry
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from PIL import Image


def copy_split(src: Path, dst: Path, split: str, step: int, quality: int) -> int:
    """JPEG copies of every ``step``-th frame of ``split`` and their PNG labels; returns bytes."""
    frames = sorted((src / split).glob("*.png"))[::step]
    if not frames:
        raise SystemExit(f"error: no PNG frames in {src / split}")
    (dst / split).mkdir(parents=True, exist_ok=True)
    (dst / f"{split}annot").mkdir(parents=True, exist_ok=True)
    written = 0
    for frame in frames:
        target = dst / split / f"{frame.stem}.jpg"
        with Image.open(frame) as image:
            image.convert("RGB").save(target, quality=quality, subsampling=0)
        written += target.stat().st_size
        label = src / f"{split}annot" / frame.name
        if label.is_file():
            shutil.copyfile(label, dst / f"{split}annot" / label.name)
            written += label.stat().st_size
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("camvid", type=Path, help="CamVid root (train/, trainannot/, val/, ...)")
    parser.add_argument("out", type=Path, help="folder to write (e.g. .devdata)")
    parser.add_argument("--val-step", type=int, default=4, help="copy every N-th val frame")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of the frames")
    args = parser.parse_args(argv)
    if not (args.camvid / "train").is_dir():
        parser.error(f"{args.camvid} has no train/ folder: not a CamVid root")
    total = sum(copy_split(args.camvid, args.out, split, step, args.quality)
                for split, step in (("train", 1), ("val", args.val_step)))
    print(f"{args.out}: {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
