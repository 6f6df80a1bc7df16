"""The edge agent's encode path: frames/s, and the share of time spent outside net_C.

The path is the agent's own (``edge_agent.encoder.FrameEncoder``): net_C under ONNX Runtime →
float2int → Huffman → msgpack container, at 480×360 and 1024×2048 with 1 and 2 intra-op
threads, on synthetic street scenes (noise would misrepresent the Huffman stage). Besides the
end-to-end time, each stage is timed on its own: preprocessing (``frame_to_input``: pad,
transpose, scale), net_C (``session.run``), quantisation (``float2int``) and Huffman + msgpack
(``container.pack``). "outside net_C" is (pre + quantise + pack) / net_C; the aim is < 15 %.

This process stays torch-free, as on the vehicle: without ``--model`` the shipped weights are
exported first by ``python -m latentlink export-onnx`` in a subprocess.

    python benchmarks/edge_encode_bench.py --json results/edge_encode_bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime

from edge_agent.encoder import FrameEncoder
from edge_agent.sources import Capture
from latentlink.codec import container
from latentlink.codec.frames import frame_to_input
from latentlink.codec.quantize import float2int
from latentlink.data.synthetic import synthetic_scene

SIZES = {"480x360": (360, 480), "1024x2048": (1024, 2048)}
REPO = Path(__file__).resolve().parents[1]


STAGES = ("total", "pre", "net_c", "quantise", "pack")


def measure(encoder: FrameEncoder, image: np.ndarray, repeats: int) -> dict:
    """Median ms of the end-to-end encode and of each stage, timed back to back in every
    repetition (after one warm-up) so that all of them see the same machine load."""
    compressor, info = encoder.compressor, encoder.info
    capture = Capture("bench-000001", image, 1.7e9)
    meta = container.CaptureMeta(vehicle="bench", frame="bench-000001", ts=1.7e9)
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for repetition in range(repeats + 1):
        marks = [time.perf_counter()]
        frame = encoder.encode(capture)
        marks.append(time.perf_counter())
        x = frame_to_input(image, info.depth)
        marks.append(time.perf_counter())
        latent = compressor.session.run(None, {compressor.input_name: x})[0][0]
        marks.append(time.perf_counter())
        codes = float2int(latent, info.bits, info.quantizer)
        marks.append(time.perf_counter())
        container.pack(
            codes, codec_id=info.codec_id, depth=info.depth, image_size=image.shape[:2], meta=meta
        )
        marks.append(time.perf_counter())
        if repetition:
            for stage, begin, end in zip(STAGES, marks[:-1], marks[1:], strict=True):
                times[stage].append(1000 * (end - begin))
    ms = {stage: statistics.median(values) for stage, values in times.items()}
    return {
        **{f"{stage}_ms": value for stage, value in ms.items()},
        "fps": 1000 / ms["total"],
        "outside_net_c": (ms["pre"] + ms["quantise"] + ms["pack"]) / ms["net_c"],
        "bytes": len(frame.data),
        "compression_factor": frame.compression_factor,
    }


def exported_model(folder: Path) -> Path:
    path = folder / "net_c.onnx"
    subprocess.run(
        [sys.executable, "-m", "latentlink", "export-onnx", "-o", str(path)],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="net_C ONNX (default: the shipped d=2 codec)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument(
        "--repeats", type=int, default=8, help="timed runs at 480x360 (half at 1024x2048)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    images = {label: synthetic_scene(h, w, seed=1)[0] for label, (h, w) in SIZES.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or exported_model(Path(tmp))
        for threads in (int(t) for t in args.threads.split(",")):
            encoder = FrameEncoder(model, vehicle="bench", camera="front", threads=threads)
            for label, image in images.items():
                repeats = args.repeats if label == "480x360" else max(1, args.repeats // 2)
                rows.append({"threads": threads, "size": label, **measure(encoder, image, repeats)})
    assert "torch" not in sys.modules, "the encode path must not import torch"
    load = os.getloadavg()
    print(
        f"codec {encoder.info.codec_id} (d={encoder.info.depth}, n={encoder.info.bits}), "
        f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} at the end"
    )
    print(
        f"{'threads':>7}{'size':>11}{'frames/s':>10}{'total ms':>10}{'net_C':>9}{'pre':>7}"
        f"{'quant':>7}{'pack':>7}{'outside':>9}{'CF':>6}"
    )
    for r in rows:
        print(
            f"{r['threads']:>7}{r['size']:>11}{r['fps']:>10.2f}{r['total_ms']:>10.1f}"
            f"{r['net_c_ms']:>9.1f}{r['pre_ms']:>7.1f}{r['quantise_ms']:>7.1f}"
            f"{r['pack_ms']:>7.1f}{100 * r['outside_net_c']:>8.1f}%"
            f"{r['compression_factor']:>6.0f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": {
                "cpus": os.cpu_count(),
                "processor": platform.processor(),
                "load_average_end": load,
            },
            "codec": vars(encoder.info),
            "onnxruntime": onnxruntime.__version__,
            "rows": rows,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
