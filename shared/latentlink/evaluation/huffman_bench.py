"""Our Huffman stage against zlib's Huffman-only deflate: bytes and Msymbols/s on latents.

The acceptance target of the lossless stage is: bytes (dictionaries included) ≤ zlib's with
``compressobj(9, DEFLATED, -15, 9, Z_HUFFMAN_ONLY)`` on the same uint8 symbols, and encode and
decode each ≥ 0.5× zlib's speed.  :func:`compare_with_zlib` measures exactly that on any list of
symbol arrays; :func:`compare_modes` sets the table modes side by side (what the context mode,
mode 2, gains over one table per channel, and what it costs in speed); :func:`main` runs both
on synthetic latent-like frames (real latents: ``latentlink bench-huffman`` and
``benchmarks/context_coding.py``).

Example::

    python -m latentlink.evaluation.huffman_bench
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import numpy as np

from latentlink.codec import huffman
from latentlink.codec.quantize import float2int

ZLIB_LEVEL, ZLIB_WBITS, ZLIB_MEMLEVEL = 9, -15, 9
LATENT_KINDS = ("laplace", "clamped")


def compare_with_zlib(
    symbol_arrays: list[np.ndarray], alphabet_bits: int, channels: int, repeats: int = 5
) -> dict:
    """Bytes and speed of ``huffman.encode/decode`` and zlib Huffman-only on the same arrays.

    Returns ``{"ours": {"bytes", "encode_msym_s", "decode_msym_s"}, "zlib": {...},
    "entropy_bytes", "symbols"}``: bytes summed over the arrays, speeds = total symbols / the
    best of ``repeats`` timings of one pass over all arrays (best-of, because the machine is
    shared and the minimum is the least noisy estimate of the code's own cost).  zlib only
    codes bytes, so for ``alphabet_bits`` > 8 its three entries are ``None`` (skipped).
    Both decoders' outputs are checked once, outside the timings.
    """
    symbols = sum(int(array.size) for array in symbol_arrays)
    ours = _measure(
        symbol_arrays,
        lambda array: huffman.encode(array, alphabet_bits, channels),
        lambda payload, array: huffman.decode(payload, alphabet_bits, array.size, channels),
        repeats,
    )
    if alphabet_bits <= 8:
        as_bytes = [
            np.ascontiguousarray(array, dtype=np.uint8).reshape(-1) for array in symbol_arrays
        ]
        reference = _measure(as_bytes, _zlib_encode, _zlib_decode, repeats)
    else:
        reference = {"bytes": None, "encode_msym_s": None, "decode_msym_s": None}
    return {
        "ours": ours,
        "zlib": reference,
        "entropy_bytes": sum(huffman.entropy_bits(array) for array in symbol_arrays) / 8,
        "symbols": symbols,
        "modes": compare_modes(symbol_arrays, alphabet_bits, channels, repeats),
    }


MODE_NAMES = {
    huffman.MODE_SINGLE: "one table",
    huffman.MODE_PER_CHANNEL: "per channel",
    huffman.MODE_CONTEXT: "context",
}


def compare_modes(
    symbol_arrays: list[np.ndarray], alphabet_bits: int, channels: int, repeats: int = 5
) -> dict:
    """Bytes per frame and speed of each table mode forced, and of the automatic choice.

    Returns ``{"frames", "rows": {name: {"bytes_per_frame", "encode_ms", "decode_ms",
    "encode_msym_s", "decode_msym_s"}}, "chosen": {mode name: share of frames},
    "entropy_bytes_per_frame": {"one table", "per channel"}}`` with ms per frame (best of
    ``repeats``).  The context mode needs channels × h × w arrays; for others it is left out.
    """
    frames = len(symbol_arrays)
    symbols = sum(int(array.size) for array in symbol_arrays)
    planar = all(array.ndim == 3 and array.shape[0] == channels for array in symbol_arrays)
    modes = [huffman.MODE_SINGLE, huffman.MODE_PER_CHANNEL]
    modes += [huffman.MODE_CONTEXT] if planar else []
    rows = {}
    for mode in [*modes, huffman._AUTO]:
        row = _measure(
            symbol_arrays,
            lambda array, mode=mode: huffman._encode(array, alphabet_bits, channels, mode),
            lambda payload, array: huffman.decode(payload, alphabet_bits, array.size, channels),
            repeats,
        )
        rows[MODE_NAMES.get(mode, "auto")] = {
            "bytes_per_frame": row["bytes"] / frames,
            "encode_ms": 1e3 * symbols / row["encode_msym_s"] / 1e6 / frames,
            "decode_ms": 1e3 * symbols / row["decode_msym_s"] / 1e6 / frames,
            "encode_msym_s": row["encode_msym_s"],
            "decode_msym_s": row["decode_msym_s"],
        }
    chosen = [
        huffman.payload_mode(huffman.encode(array, alphabet_bits, channels))
        for array in symbol_arrays
    ]
    return {
        "frames": frames,
        "rows": rows,
        "chosen": {MODE_NAMES[mode]: chosen.count(mode) / frames for mode in modes},
        "entropy_bytes_per_frame": {
            "one table": sum(huffman.entropy_bits(array) for array in symbol_arrays) / 8 / frames,
            "per channel": sum(
                huffman.entropy_bits(plane)
                for array in symbol_arrays
                for plane in np.reshape(array, (channels, -1))
            )
            / 8
            / frames,
        },
    }


def print_modes(result: dict) -> None:
    """The table of :func:`compare_modes`: one row per mode, then the choice and the bounds."""
    base = result["rows"]["per channel"]["bytes_per_frame"]
    print(f"  {'mode':<12} {'B/frame':>9} {'vs per-ch.':>10} {'enc ms':>7} {'dec ms':>7} "
          f"{'enc Msym/s':>10} {'dec Msym/s':>10}")
    for name, row in result["rows"].items():
        print(
            f"  {name:<12} {row['bytes_per_frame']:9.0f} "
            f"{100 * (row['bytes_per_frame'] / base - 1):+9.1f}% {row['encode_ms']:7.2f} "
            f"{row['decode_ms']:7.2f} {row['encode_msym_s']:10.1f} {row['decode_msym_s']:10.1f}"
        )
    shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in result["chosen"].items())
    bounds = result["entropy_bytes_per_frame"]
    print(f"  chosen: {shares}; order-0 entropy per frame: one table {bounds['one table']:.0f} B,"
          f" per channel {bounds['per channel']:.0f} B")


def _measure(
    arrays: list[np.ndarray],
    encode: Callable[[np.ndarray], bytes],
    decode: Callable[[bytes, np.ndarray], np.ndarray],
    repeats: int,
) -> dict:
    """Total bytes and best-of-``repeats`` Msym/s of one encoder/decoder pair over ``arrays``."""
    payloads = [encode(array) for array in arrays]
    for payload, array in zip(payloads, arrays, strict=True):
        if not np.array_equal(decode(payload, array), array.reshape(-1)):
            raise RuntimeError("decoder output differs from the input")
    symbols = sum(int(array.size) for array in arrays)
    encode_s = _best_time(lambda: [encode(array) for array in arrays], repeats)
    pairs = list(zip(payloads, arrays, strict=True))
    decode_s = _best_time(lambda: [decode(payload, array) for payload, array in pairs], repeats)
    return {
        "bytes": sum(len(payload) for payload in payloads),
        "encode_msym_s": symbols / encode_s / 1e6,
        "decode_msym_s": symbols / decode_s / 1e6,
    }


def _best_time(run: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def _zlib_encode(array: np.ndarray) -> bytes:
    compressor = zlib.compressobj(
        ZLIB_LEVEL, zlib.DEFLATED, ZLIB_WBITS, ZLIB_MEMLEVEL, zlib.Z_HUFFMAN_ONLY
    )
    return compressor.compress(array) + compressor.flush()


def _zlib_decode(payload: bytes, array: np.ndarray) -> np.ndarray:
    """zlib's inflate, viewed (zero-copy) as the uint8 symbols it carries."""
    return np.frombuffer(zlib.decompressobj(ZLIB_WBITS).decompress(payload), dtype=np.uint8)


def synthetic_latents(
    kind: str,
    frames: int,
    shape: tuple[int, int, int] = (16, 45, 60),
    bits: int = 8,
    seed: int = 0,
) -> list[np.ndarray]:
    """Latent-like integer frames (channels × H × W), quantised like the codec does.

    ``laplace``: each channel a Laplacian with its own scale (log-uniform over 60×) and offset,
    quantised with the frame's min/max — channels use from a handful to ~100 levels.
    ``clamped``: the same clipped to [0, 1] first, as net_C's output clamp does, so many values
    saturate at 0 and 2^bits − 1 and some channels are almost constant (entropy < 1 bit).
    """
    if kind not in LATENT_KINDS:
        raise ValueError(f"kind must be one of {LATENT_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    return [_synthetic_frame(kind, shape, bits, rng) for _ in range(frames)]


def _synthetic_frame(
    kind: str, shape: tuple[int, int, int], bits: int, rng: np.random.Generator
) -> np.ndarray:
    channels = shape[0]
    if kind == "laplace":
        scales = np.exp(rng.uniform(np.log(0.05), np.log(3.0), channels))
        means = rng.normal(0.0, 0.3, channels)
    else:
        scales = np.exp(rng.uniform(np.log(0.03), np.log(0.5), channels))
        means = rng.uniform(-0.3, 1.3, channels)
    latent = rng.laplace(means[:, None, None], scales[:, None, None], shape)
    if kind == "clamped":
        latent = np.clip(latent, 0.0, 1.0)
    return float2int(latent.astype(np.float32), bits).codes


def _print_row(name: str, row: dict, entropy_bytes: float) -> None:
    if row["bytes"] is None:
        print(f"  {name:<5} (skipped: zlib codes bytes, alphabet_bits > 8)")
        return
    print(
        f"  {name:<5} {row['bytes']:>9} B  {row['bytes'] / entropy_bytes:6.3f}×H  "
        f"enc {row['encode_msym_s']:7.1f} Msym/s  dec {row['decode_msym_s']:7.1f} Msym/s"
    )


def main() -> None:
    """Print ours vs zlib on synthetic frames of both kinds and both frame sizes."""
    cases = [
        ("laplace", 8, (16, 45, 60)),
        ("clamped", 8, (16, 45, 60)),
        ("laplace", 2, (16, 128, 256)),
    ]
    for kind, frames, shape in cases:
        arrays = synthetic_latents(kind, frames, shape, bits=8, seed=1)
        result = compare_with_zlib(arrays, alphabet_bits=8, channels=shape[0])
        entropy = result["entropy_bytes"]
        print(
            f"{kind}: {frames} frames of {'×'.join(map(str, shape))} uint8 "
            f"({result['symbols']} symbols), order-0 entropy {entropy:.0f} B"
        )
        _print_row("ours", result["ours"], entropy)
        _print_row("zlib", result["zlib"], entropy)
        print_modes(result["modes"])
    arrays = synthetic_latents("laplace", 2, (16, 45, 60), bits=12, seed=2)
    result = compare_with_zlib(arrays, alphabet_bits=12, channels=16)
    print(f"laplace, 12-bit: 2 frames ({result['symbols']} symbols)")
    _print_row("ours", result["ours"], result["entropy_bytes"])
    _print_row("zlib", result["zlib"], result["entropy_bytes"])


if __name__ == "__main__":
    main()
