"""``python -m benchmarks.reliability [--quick] [--json PATH] [--only NAME,...]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.reliability import __doc__ as SUITE_DOC
from benchmarks.reliability import edge, probes
from benchmarks.reliability.harness import load_runner, templates

PROBES = ("kill9", "edge_kill9", "fuzz", "amplification", "slow", "load")
SIZES = {"quick": dict(kills=3, frames=30, edge_kills=3, edge_frames=45, fuzz=300, pictures=6,
                       per_kind=25, timeout=5.0, vehicles=32, seconds=10.0),
         "full": dict(kills=10, frames=40, edge_kills=10, edge_frames=150, fuzz=5000, pictures=8,
                      per_kind=200, timeout=10.0, vehicles=32, seconds=60.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=SUITE_DOC.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=SUITE_DOC.split("\n\n", 1)[1])
    parser.add_argument("--quick", action="store_true", help="Fewer kills, cases, seconds.")
    parser.add_argument("--only", default=",".join(PROBES), help="Comma-separated probes.")
    parser.add_argument("--weights", default="default", help="Codec weights (default: shipped).")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("results/reliability.json"))
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    chosen = [name for name in args.only.split(",") if name]
    unknown = set(chosen) - set(PROBES)
    if unknown:
        parser.error(f"unknown probes {', '.join(sorted(unknown))}; choose from {PROBES}")

    torch.set_num_threads(1)  # the server processes need the cores; encoding templates is small
    runner, spec = load_runner(args.weights, args.depth)
    scenes = templates(runner, (360, 480), 4)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="reliability-") as scratch:
        work = Path(scratch)
        runs = {
            "kill9": lambda: probes.kill9(work / "kill9", spec, scenes[0], size["kills"],
                                          size["frames"]),
            "edge_kill9": lambda: edge.edge_kill9(
                work / "edge", spec, edge.agent_model(runner, work / "edge"), size["edge_kills"],
                size["edge_frames"]),
            "fuzz": lambda: probes.fuzz(work / "fuzz", spec, scenes, size["fuzz"]),
            "amplification": lambda: probes.amplification(
                work / "amp", spec, runner.codec_id, runner.config.depth, size["pictures"]),
            "slow": lambda: probes.slow_clients(work / "slow", spec, size["per_kind"],
                                                size["timeout"]),
            "load": lambda: probes.fleet_load(work / "load", spec, scenes, size["vehicles"],
                                              size["seconds"]),
        }
        for name in chosen:
            started = time.monotonic()
            results[name] = {**runs[name](), "wall_s": round(time.monotonic() - started, 1)}
            print(f"{name:>14}: {results[name]}", flush=True)

    print()
    print(f"{'probe':>14} {'ok':>4}  figures")
    for name, figures in results.items():
        shown = ", ".join(f"{k}={v}" for k, v in figures.items()
                          if k not in ("ok", "statuses", "spooled_at_kills"))
        print(f"{name:>14} {'yes' if figures['ok'] else 'NO':>4}  {shown}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "mode": "quick" if args.quick else "full", "machine": platform.platform(),
        "cpus": os.cpu_count(), "weights": spec, "results": results}, indent=2) + "\n")
    if not all(figures["ok"] for figures in results.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
