"""What the Huffman coder's context mode (mode 2) gains on real latents, and what it costs.

Reads the integer latents of a latent cache file (``latentlink.training.latent_cache``: the
n-bit codes net_C produced for a data set split) and codes every frame with each table mode
forced and with the automatic choice, side by side in one run: bytes per frame, the modes the
encoder chose, the order-0 entropy bounds, and encode / decode time (best of --repeats).

    python benchmarks/context_coding.py \\
        runs/latent_cache/90648c230ef70c76/n8/camvid-val.npz --json results/context_coding.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from latentlink.evaluation.huffman_bench import compare_modes, print_modes


def load_codes(path: Path) -> tuple[list[np.ndarray], int, str]:
    """The cache's integer latents (one C×h×w array per frame), their bit length and codec id."""
    with np.load(path) as data:
        sizes = [int(np.prod(shape)) for shape in data["shapes"]]
        chunks = np.split(data["codes"], np.cumsum(sizes)[:-1])
        arrays = [chunk.reshape(shape) for chunk, shape in zip(chunks, data["shapes"], strict=True)]
        return arrays, int(data["bits"]), str(data["codec_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path, help="latent cache .npz file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    arrays, bits, codec_id = load_codes(args.cache)
    channels = int(arrays[0].shape[0])
    result = compare_modes(arrays, bits, channels, args.repeats)
    result.update(cache=str(args.cache), codec_id=codec_id, bits=bits,
                  shape=list(arrays[0].shape))
    print(f"{len(arrays)} frames of {'×'.join(map(str, arrays[0].shape))} codes, n = {bits} "
          f"(codec {codec_id})")
    print_modes(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
