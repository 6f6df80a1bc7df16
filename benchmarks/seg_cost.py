"""What the compressed-domain path saves in the cloud: latent → segmenter versus
latent → net_D → image segmenter, same preset, same batch, measured side by side.

Per frame: MACs (torch.utils.flop_counter, through latentlink.evaluation.complexity) and CPU wall
time (median of --repeats runs, after a warm-up), at 480×360 and 1024×2048. Both paths start from
the dequantised latent the cloud holds, so net_C (on the vehicle) is excluded from both.

    python benchmarks/seg_cost.py --json results/seg_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from latentlink.evaluation.complexity import module_macs
from latentlink.models.compressor import Decompressor
from latentlink.models.segmenter import SegmenterConfig, build_segmenter

SIZES = {"480x360": (360, 480), "1024x2048": (1024, 2048)}


def median_seconds(model, x: torch.Tensor, repeats: int) -> float:
    model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="lite", choices=["lite", "paper"])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    latent_seg = build_segmenter(SegmenterConfig(args.preset, "latent", args.depth)).eval()
    image_seg = build_segmenter(SegmenterConfig(args.preset, "image", args.depth)).eval()
    net_d = Decompressor(args.depth).eval()
    factor = 2 ** (args.depth + 1)
    rows = []
    for label, (height, width) in SIZES.items():
        latent = torch.rand(args.batch, 16, height // factor, width // factor)
        image = torch.rand(args.batch, 3, height, width)
        with torch.no_grad():
            macs_latent = module_macs(latent_seg, latent)[""]
            macs_decoded = module_macs(net_d, latent)[""] + module_macs(image_seg, image)[""]
        with torch.no_grad():
            t_latent = median_seconds(latent_seg, latent, args.repeats)
            t_decoded = median_seconds(torch.nn.Sequential(net_d, image_seg), latent, args.repeats)
        rows.append({"size": label, "batch": args.batch,
                     "latent_gmacs": macs_latent / 1e9 / args.batch,
                     "decoded_gmacs": macs_decoded / 1e9 / args.batch,
                     "latent_ms": 1000 * t_latent / args.batch,
                     "decoded_ms": 1000 * t_decoded / args.batch})
    print(f"{args.preset} preset, d={args.depth}, batch {args.batch}, {args.threads} thread(s); "
          "per frame, from the dequantised latent")
    print(f"{'size':<11}{'latent GMAC':>12}{'net_D+img GMAC':>15}{'saved':>7}"
          f"{'latent ms':>11}{'net_D+img ms':>14}{'saved':>7}")
    for r in rows:
        mac_saving = 1 - r["latent_gmacs"] / r["decoded_gmacs"]
        time_saving = 1 - r["latent_ms"] / r["decoded_ms"]
        print(f"{r['size']:<11}{r['latent_gmacs']:>12.2f}{r['decoded_gmacs']:>15.2f}"
              f"{mac_saving:>7.0%}{r['latent_ms']:>11.0f}{r['decoded_ms']:>14.0f}{time_saving:>7.0%}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"preset": args.preset, "depth": args.depth,
                                         "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
