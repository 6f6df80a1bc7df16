"""net_D on tiles with a halo gives the same picture as net_D on the whole latent, for every
codec architecture and depth, including tiles cut off at the frame's edges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlink.codec import container
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.inference import TorchCodec


@pytest.mark.parametrize("config", [CodecConfig(depth=1), CodecConfig(depth=3),
                                    CodecConfig(depth=2, arch="factorized")],
                         ids=["paper-d1", "paper-d3", "factorized-d2"])
def test_tiled_reconstruction_equals_the_whole_pass(config: CodecConfig) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        runner = TorchCodec(Codec(config))
    image, _ = synthetic_scene(72, 104, 3)  # not a multiple of the tile: ragged edge tiles
    frame = container.unpack(runner.encode(image, container.CaptureMeta(
        vehicle="v", frame="f", ts=1.0)))
    whole = runner.reconstruct(frame, tile=10_000)
    tiled = runner.reconstruct(frame, tile=3)
    assert tiled.shape == whole.shape == (72, 104, 3)
    np.testing.assert_array_equal(tiled, whole)
