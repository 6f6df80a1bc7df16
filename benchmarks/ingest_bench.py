"""Sustained ``POST /frames`` throughput and latency of the cloud service, on loopback.

For each frame size, and with segmentation off then on, this starts a real ``cloud-service
serve`` process on a fresh data dir (SQLite + files, fsync on every commit), registers a
vehicle, and has N concurrent httpx clients upload distinct frames for a fixed time. Latency is
client-observed (request sent → response read). The frames are the shipped codec's containers
of synthetic scenes; each upload gets a new frame id by re-assembling the container with other
capture metadata (``container.assemble``: the CRC covers only the Huffman payload, so the
payload is reused as is, never re-coded).

    python benchmarks/ingest_bench.py --duration 10 --json results/ingest_bench.json

Everything runs on one machine: the clients' CPU time competes with the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

from latentlink.codec import container
from latentlink.codec.container import CaptureMeta, FrameHeader
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import load_codec, resolve_weights

REPO = Path(__file__).resolve().parents[1]
VEHICLE = "bench-1"
SIZES = {"360x480": (360, 480), "1024x2048": (1024, 2048)}
"""Height × width: CamVid's and Cityscapes' frames."""


@dataclass
class PhaseResult:
    size: str
    segmentation: bool
    clients: int
    seconds: float
    frames: int
    errors: int
    frames_per_s: float
    p50_ms: float
    p99_ms: float
    mean_container_bytes: float
    compression_factor: float
    segmented_per_s: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


Template = tuple[FrameHeader, bytes]
"""A coded frame as (header, Huffman payload), ready to be re-labelled."""


def make_templates(codec: TorchCodec, size: tuple[int, int], count: int) -> list[Template]:
    """Coded frames of ``count`` distinct scenes."""
    templates = []
    for seed in range(count):
        image, _ = synthetic_scene(*size, seed)
        body = codec.encode(image, CaptureMeta(vehicle=VEHICLE, frame="template", ts=0.0))
        templates.append(container.read_header(body))
    return templates


def relabel(template: Template, frame: str) -> bytes:
    """The template's container with another frame id and the current time."""
    header, payload = template
    meta = header.meta.model_copy(update={"frame": frame, "ts": time.time()})
    return container.assemble(header.model_copy(update={"meta": meta}), payload)


def start_server(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str, str]:
    """Register the vehicle, start ``cloud-service serve``; (process, url, vehicle token)."""
    command = [sys.executable, "-m", "cloud_service.cli"]
    added = subprocess.run([*command, "add-vehicle", VEHICLE, "--data-dir", str(data_dir)],
                           cwd=REPO, env=env, capture_output=True, text=True, check=True)
    token = added.stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [*command, "serve", "--data-dir", str(data_dir), "--port", str(port),
         "--log-level", "warning"], cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, token
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise TimeoutError("server not ready after 120 s")


def segmented_total(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'^latentlink_frames_segmented_total\{status="done"\} (\S+)$', text, re.M)
    return float(found[0]) if found else 0.0


async def load(url: str, token: str, templates: list[Template], clients: int, warmup: float,
               duration: float) -> tuple[list[float], int, float]:
    """Upload from ``clients`` coroutines; latencies (s) of 201s after warm-up, errors, span."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    headers = {"authorization": f"Bearer {token}", "content-type": container.MEDIA_TYPE}

    async def uploader(worker: int) -> None:
        """One client with one keep-alive connection (a vehicle); httpx's pool scans all its
        connections per request, so one shared 32-connection client costs the CPU it measures."""
        nonlocal errors
        sent = 0
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60,
                                     limits=httpx.Limits(max_connections=1)) as client:
            while (now := time.perf_counter()) < stop_at:
                body = relabel(templates[(worker + sent) % len(templates)], f"w{worker}-{sent}")
                sent += 1
                begun = time.perf_counter()
                response = await client.post("/frames", content=body)
                ended = time.perf_counter()
                if now < measure_from:
                    continue
                if response.status_code == 201:
                    latencies.append(ended - begun)
                else:
                    errors += 1

    await asyncio.gather(*(uploader(worker) for worker in range(clients)))
    return latencies, errors, time.perf_counter() - measure_from


def run_phase(codec_weights: str, size_name: str, templates: list[Template], segmentation: bool,
              args: argparse.Namespace) -> PhaseResult:
    # The untrained segmenter costs what a trained one does and fits every codec measured here.
    env = {**os.environ, "LATENTLINK_CODEC_WEIGHTS": codec_weights,
           "LATENTLINK_SEGMENTER_WEIGHTS": "untrained",
           "LATENTLINK_SEGMENTATION": str(segmentation).lower(), "LATENTLINK_DEVICE": args.device,
           "LATENTLINK_MAX_BODY_BYTES": str(64 * 1024 * 1024)}
    env.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as data_dir:
        process, url, token = start_server(Path(data_dir), env)
        try:
            before = segmented_total(url)
            latencies, errors, span = asyncio.run(
                load(url, token, templates, args.clients, args.warmup, args.duration))
            segmented = segmented_total(url) - before
        finally:
            process.terminate()
            process.wait(timeout=60)
    sizes = [len(relabel(t, "w00-0000")) for t in templates]
    height, width = SIZES[size_name]
    milliseconds = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return PhaseResult(
        size=size_name, segmentation=segmentation, clients=args.clients, seconds=round(span, 2),
        frames=len(latencies), errors=errors, frames_per_s=round(len(latencies) / span, 1),
        p50_ms=round(float(np.percentile(milliseconds, 50)), 1),
        p99_ms=round(float(np.percentile(milliseconds, 99)), 1),
        mean_container_bytes=round(float(np.mean(sizes))),
        compression_factor=round(3 * height * width / float(np.mean(sizes)), 1),
        segmented_per_s=round(segmented / span, 1),
    )


def print_table(results: list[PhaseResult]) -> None:
    header = (f"{'frame H×W':>10} {'segm.':>5} {'clients':>7} {'frames/s':>9} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'errors':>6} {'bytes':>8} {'CF':>6} {'segm./s':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.size:>10} {'on' if r.segmentation else 'off':>5} {r.clients:>7} "
              f"{r.frames_per_s:>9} {r.p50_ms:>7} {r.p99_ms:>7} {r.errors:>6} "
              f"{r.mean_container_bytes:>8} {r.compression_factor:>6} {r.segmented_per_s:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES),
                        help=f"Comma-separated frame sizes from {', '.join(SIZES)}.")
    parser.add_argument("--segmentation", default="off,on",
                        help="Phases to run: off, on, or both (default, in that order).")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="Measured seconds/phase.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Unmeasured seconds first.")
    parser.add_argument("--templates", type=int, default=4, help="Distinct scenes per size.")
    parser.add_argument("--weights", default="default", help="Codec weights (default: shipped).")
    parser.add_argument("--depth", type=int, default=2, help="Depth of 'default' weights.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    args = parser.parse_args()

    weights = resolve_weights(args.weights, depth=args.depth)
    codec = TorchCodec(load_codec(weights)[0])
    results = []
    for size_name in args.sizes.split(","):
        templates = make_templates(codec, SIZES[size_name], args.templates)
        for mode in args.segmentation.split(","):
            result = run_phase(str(weights), size_name, templates, mode == "on", args)
            results.append(result)
            print(f"{size_name}, segmentation {mode}: {result.frames_per_s} frames/s, "
                  f"p99 {result.p99_ms} ms", flush=True)
    print()
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
                   "load_average": os.getloadavg()}
        args.json.write_text(json.dumps({"machine": machine, "codec": codec.codec_id,
                                         "results": [asdict(r) for r in results]}, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
