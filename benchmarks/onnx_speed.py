"""net_C under ONNX Runtime: frames/s at 480×360 and 1024×2048 with 1 and 2 threads.

Printed beside each model's MAC count (torch.utils.flop_counter) and this machine's measured peak
(a large float32 matmul through torch at the same thread count), so the achieved fraction of peak
tells whether a stem is compute-bound or memory-bound. Stems are measured side by side in one run.

    python benchmarks/onnx_speed.py --json results/onnx_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from latentlink.codec.onnx_compressor import OnnxCompressor
from latentlink.evaluation.complexity import module_macs
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.export import export_compressor

SIZES = {"480x360": (360, 480), "1024x2048": (1024, 2048)}


def count_macs(codec: Codec, height: int, width: int) -> int:
    with torch.no_grad():
        return module_macs(codec.compressor, torch.zeros(1, 3, height, width))[""]


def peak_macs_per_s(threads: int, size: int = 2048, repeats: int = 5) -> float:
    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return size**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_session(session: OnnxCompressor, image: np.ndarray, repeats: int) -> float:
    session.compress(image)
    return statistics.median(_timed(lambda: session.compress(image)) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--stems", default="paper,edge")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    rows = []
    threads_list = [int(t) for t in args.threads.split(",")]
    peaks = {t: peak_macs_per_s(t) for t in threads_list}
    with tempfile.TemporaryDirectory() as tmp:
        for stem in args.stems.split(","):
            codec = Codec(CodecConfig(depth=args.depth, stem=stem)).eval()
            path = export_compressor(codec, Path(tmp) / f"{stem}.onnx")
            for threads in threads_list:
                session = OnnxCompressor(path, threads=threads)
                for label, (height, width) in SIZES.items():
                    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                    seconds = time_session(session, image, args.repeats)
                    macs = count_macs(codec, height, width)
                    rows.append(
                        {
                            "stem": stem,
                            "threads": threads,
                            "size": label,
                            "ms": 1000 * seconds,
                            "fps": 1 / seconds,
                            "gmacs": macs / 1e9,
                            "fraction_of_peak": macs / seconds / peaks[threads],
                        }
                    )
    print(
        "peak (torch fp32 matmul): "
        + ", ".join(f"{t} thread(s) {p / 1e9:.1f} GMAC/s" for t, p in peaks.items())
    )
    print(
        f"{'stem':<6}{'threads':>8}{'size':>11}{'GMACs':>8}{'ms':>9}{'frames/s':>10}{'% peak':>8}"
    )
    for r in rows:
        print(
            f"{r['stem']:<6}{r['threads']:>8}{r['size']:>11}{r['gmacs']:>8.2f}{r['ms']:>9.1f}"
            f"{r['fps']:>10.2f}{100 * r['fraction_of_peak']:>8.1f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"peak_macs_per_s": peaks, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
