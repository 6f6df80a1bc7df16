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
                                    CodecConfig(depth=2, arch="factorized"),
                                    CodecConfig(depth=2, arch="factorized", synthesis_blocks=2)],
                         ids=["paper-d1", "paper-d3", "factorized-d2", "grown-factorized-d2"])
def test_tiled_reconstruction_equals_the_whole_pass(config: CodecConfig) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        codec = Codec(config)
        for extra in codec.decompressor.modules():  # grown blocks start as the identity:
            if isinstance(extra, torch.nn.Conv2d):   # make every weight count
                torch.nn.init.normal_(extra.weight, std=0.05)
        runner = TorchCodec(codec)
    image, _ = synthetic_scene(72, 104, 3)  # not a multiple of the tile: ragged edge tiles
    frame = container.unpack(runner.encode(image, container.CaptureMeta(
        vehicle="v", frame="f", ts=1.0)))
    whole = runner.reconstruct(frame, tile=10_000)
    tiled = runner.reconstruct(frame, tile=3)
    assert tiled.shape == whole.shape == (72, 104, 3)
    np.testing.assert_array_equal(tiled, whole)


def test_halo_covers_the_receptive_field_of_each_net_d():
    halos = {blocks: TorchCodec(Codec(CodecConfig(depth=2, arch="factorized",
                                                  synthesis_blocks=blocks))).halo
             for blocks in (0, 2)}
    # factorized d = 2: 5.75 latent pixels; two more blocks per coarse scale add 4 + 2 → 11.75
    assert halos == {0: 7, 2: 13}
