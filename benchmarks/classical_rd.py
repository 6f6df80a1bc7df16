"""Classical codecs (JPEG, WebP, AVIF) at fixed compression factors on a folder of frames.

This produces the baseline numbers LatentLink is compared against: every frame is encoded by
each codec at the highest quality that still reaches each target CF (``encode_at_cf``), and
PSNR/SSIM are averaged over frames. Frames are read in sorted file-name order, so a given
``--limit`` always selects the same frames.

Example::

    python benchmarks/classical_rd.py --frames-dir /path/to/camvid/val --limit 20 \\
        --json results/classical_rd.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, features

from latentlink.evaluation.classical import AVIF_SPEED, CLASSICAL_CODECS, WEBP_METHOD, encode_at_cf
from latentlink.evaluation.metrics import psnr, ssim


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames-dir", type=Path, required=True, help="folder of *.png frames")
    parser.add_argument("--limit", type=int, default=None, help="first N frames (default: all)")
    parser.add_argument("--cf", type=float, nargs="+", default=[16.0, 30.0, 66.0],
                        help="target compression factors (default: 16 30 66)")
    parser.add_argument("--codecs", nargs="+", choices=CLASSICAL_CODECS,
                        default=list(CLASSICAL_CODECS), help="codecs to run (default: all)")
    parser.add_argument("--avif-speed", type=int, default=AVIF_SPEED, choices=range(11),
                        metavar="0..10", help=f"libaom speed (default: {AVIF_SPEED})")
    parser.add_argument("--json", type=Path, default=None, help="write per-frame results here")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if min(args.cf) <= 0:
        parser.error("--cf values must be positive")
    return args


def load_frames(folder: Path, limit: int | None) -> list[tuple[str, np.ndarray]]:
    """Sorted PNGs as uint8 RGB; convert() because some datasets store palette PNGs."""
    paths = sorted(folder.glob("*.png"))[:limit]
    if not paths:
        raise SystemExit(f"no *.png frames in {folder}")
    frames = []
    for path in paths:
        with Image.open(path) as image:
            frames.append((path.name, np.asarray(image.convert("RGB"))))
    return frames


def measure(frame: np.ndarray, codec: str, target_cf: float, avif_speed: int) -> dict:
    """One frame, one codec, one CF: the search's outcome, its quality and its CPU time.

    CPU rather than wall time, because the benchmark often shares its machine with training
    jobs; the encoders run single-threaded, so this is the cost on one core.
    """
    start = time.process_time()
    result = encode_at_cf(frame, codec, target_cf, avif_speed=avif_speed)
    cpu_seconds = time.process_time() - start
    return {
        "quality": result.quality,
        "num_bytes": result.num_bytes,
        "cf": result.cf,
        "reached": result.reached,
        "psnr": psnr(frame, result.decoded),
        "ssim": ssim(frame, result.decoded),
        "cpu_seconds": cpu_seconds,
    }


def summarize(rows: list[dict]) -> dict:
    """Means over frames (PSNR is averaged in dB per frame, the usual convention)."""
    return {
        "frames": len(rows),
        "cf": statistics.fmean(r["cf"] for r in rows),
        "psnr": statistics.fmean(r["psnr"] for r in rows),
        "ssim": statistics.fmean(r["ssim"] for r in rows),
        "quality": statistics.fmean(r["quality"] for r in rows),
        "reached_fraction": statistics.fmean(float(r["reached"]) for r in rows),
        "cpu_seconds": statistics.fmean(r["cpu_seconds"] for r in rows),
    }


def format_table(summaries: list[dict]) -> str:
    lines = [
        "| codec | target CF | mean CF | PSNR (dB) | SSIM | mean quality | reached | CPU s/frame |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s['codec']} | {s['target_cf']:g} | {s['cf']:.2f} | {s['psnr']:.2f} | "
            f"{s['ssim']:.4f} | {s['quality']:.1f} | {s['reached_fraction']:.0%} | "
            f"{s['cpu_seconds']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    frames = load_frames(args.frames_dir, args.limit)
    print(f"{len(frames)} frames from {args.frames_dir}", file=sys.stderr)
    per_frame: dict[str, dict[str, list[dict]]] = {}
    summaries = []
    for codec in args.codecs:
        for target_cf in args.cf:
            rows = [{"frame": name, **measure(frame, codec, target_cf, args.avif_speed)}
                    for name, frame in frames]
            per_frame.setdefault(codec, {})[f"{target_cf:g}"] = rows
            summaries.append({"codec": codec, "target_cf": target_cf, **summarize(rows)})
            print(f"  {codec} @ CF {target_cf:g} done", file=sys.stderr)
    print(format_table(summaries))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {
            "frames_dir": str(args.frames_dir),
            "limit": args.limit,
            "avif_speed": args.avif_speed,
            "webp_method": WEBP_METHOD,
            # Sizes at a given quality change between library releases; record them.
            "pillow": PIL.__version__,
            "libjpeg": features.version("jpg"),
            "libwebp": features.version("webp"),
            "libavif": features.version("avif"),
        }
        report = {"settings": settings, "summary": summaries, "per_frame": per_frame}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
