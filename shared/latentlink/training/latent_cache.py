"""net_C's latents of a data set split, computed once and kept on disk as the cloud stores them.

The paper's inference routine (Sec. II-A): frames are compressed once, "these representations
are saved and used for training net_seg,D′". The cache therefore holds exactly what a frame
container carries: the n-bit integer codes with the per-frame minimum δ and maximum Δ (eqs. 2
and 4) and the original frame size, never the float latent. Training reads int2float(codes), so
the segmenter sees the values it will receive in service. Huffman coding is lossless and left
out.

One ``.npz`` file per (codec id, n, data set, split, orientation), at
``<cache_dir>/<codec id>/n<n>/<dataset>-<split>[-mirrored].npz``. "Mirrored" holds the latents of
the horizontally flipped frames: a flipped latent is not the latent of the flipped frame (net_C's
filters are not symmetric), so flip augmentation needs latents that net_C really produced. A file
is reused when its codec id, n and frame names match the request, and rebuilt otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from latentlink.codec.quantize import Quantized, float2int, int2float
from latentlink.data.datasets import list_samples, load_rgb
from latentlink.models.inference import TorchCodec

CACHE_FORMAT = "latentlink-latent-cache/1"


class LatentCacheError(ValueError):
    """A cache file is unreadable or belongs to another codec, bit length or frame list."""


@dataclass(frozen=True)
class LatentFrame:
    """One frame as the cloud holds it: integer latent, its range, and the frame's size."""

    name: str
    quantized: Quantized
    size: tuple[int, int]

    def latent(self) -> np.ndarray:
        """int2float(codes): the float32 16×h×w latent the segmenter consumes."""
        return int2float(self.quantized)


def cache_path(cache_dir: Path | str, codec_id: str, bits: int, dataset: str, split: str,
               mirrored: bool = False) -> Path:
    suffix = "-mirrored" if mirrored else ""
    return Path(cache_dir) / codec_id / f"n{bits}" / f"{dataset}-{split}{suffix}.npz"


def encode_frames(runner: TorchCodec, frames: Iterable[tuple[str, np.ndarray]]
                  ) -> list[LatentFrame]:
    """net_C, then float2int at the runner's n, for (name, uint8 H×W×3) pairs."""
    return [LatentFrame(name, float2int(runner.compress(image), runner.config.bits,
                                              runner.config.quantizer),
                        (int(image.shape[0]), int(image.shape[1])))
            for name, image in frames]


def save_latents(path: Path, frames: list[LatentFrame], codec_id: str) -> None:
    """Write atomically (a killed run never leaves a half-written cache behind)."""
    if not frames:
        raise ValueError("no frames to cache")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        np.savez(
            fh,
            format=np.array(CACHE_FORMAT), codec_id=np.array(codec_id),
            bits=np.array(frames[0].quantized.bits),
            names=np.array([f.name for f in frames]),
            sizes=np.array([f.size for f in frames], dtype=np.int64),
            shapes=np.array([f.quantized.codes.shape for f in frames], dtype=np.int64),
            low=np.array([f.quantized.low for f in frames], dtype=np.float32),
            high=np.array([f.quantized.high for f in frames], dtype=np.float32),
            codes=np.concatenate([f.quantized.codes.ravel() for f in frames]),
        )
    tmp.replace(path)


def load_latents(path: Path, codec_id: str, bits: int) -> list[LatentFrame]:
    """Read a cache file, refusing one made by another codec or at another n."""
    try:
        with np.load(path, allow_pickle=False) as blob:
            data = {key: blob[key] for key in blob.files}
    except (OSError, ValueError, EOFError) as error:
        raise LatentCacheError(f"cannot read latent cache {path}: {error}") from error
    if str(data.get("format")) != CACHE_FORMAT:
        raise LatentCacheError(f"{path} is not a latent cache ({CACHE_FORMAT})")
    if str(data["codec_id"]) != codec_id or int(data["bits"]) != bits:
        raise LatentCacheError(f"{path} holds latents of codec {data['codec_id']} at "
                               f"n={int(data['bits'])}, not of codec {codec_id} at n={bits}")
    ends = np.cumsum([int(np.prod(shape)) for shape in data["shapes"]])
    chunks = np.split(data["codes"], ends[:-1])
    return [
        LatentFrame(str(name), Quantized(chunk.reshape(shape), float(low), float(high), bits),
                    (int(size[0]), int(size[1])))
        for name, chunk, shape, low, high, size in zip(
            data["names"], chunks, data["shapes"], data["low"], data["high"], data["sizes"],
            strict=True)
    ]


def cached_latents(runner: TorchCodec, dataset: str, data_root: Path | str, split: str,
                   cache_dir: Path | str, *, mirrored: bool = False,
                   show_progress: bool = True) -> list[LatentFrame]:
    """The split's latents from the cache, computing and storing them on the first call."""
    samples = list_samples(dataset, data_root, split)
    path = cache_path(cache_dir, runner.codec_id, runner.config.bits, dataset, split, mirrored)
    images = (load_rgb(s.image) for s in samples)
    pairs = ((s.name, image[:, ::-1] if mirrored else image) for s, image in zip(samples, images,
                                                                                 strict=True))
    return cached_encode(runner, path, [s.name for s in samples], pairs,
                         desc=f"net_C latents of {dataset}/{split}", show_progress=show_progress)


def cached_encode(runner: TorchCodec, path: Path, names: list[str],
                  pairs: Iterable[tuple[str, np.ndarray]], *, desc: str,
                  show_progress: bool = True) -> list[LatentFrame]:
    """Latents of ``pairs`` (name, frame) from the cache file ``path`` when it holds exactly
    ``names`` for this codec, else net_C on every frame, stored there for the next run."""
    bits = runner.config.bits
    if path.is_file():
        frames = load_latents(path, runner.codec_id, bits)
        if [f.name for f in frames] == names:
            return frames
    frames = encode_frames(runner, tqdm(pairs, total=len(names), disable=not show_progress,
                                        leave=False, desc=desc))
    save_latents(path, frames, runner.codec_id)
    return frames
