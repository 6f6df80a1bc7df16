"""net_C exported to ONNX matches PyTorch, through a real onnxruntime session."""

import numpy as np
import pytest
import torch

from latentlink.codec import container
from latentlink.codec.onnx_compressor import OnnxCompressor, OnnxModelError
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.export import export_compressor
from latentlink.models.inference import TorchCodec


@pytest.fixture(
    scope="module",
    params=[(1, "paper", "paper"), (2, "paper", "paper"), (3, "edge", "paper"),
            (2, "paper", "factorized"), (3, "paper", "factorized")],
)
def exported(request, tmp_path_factory):
    depth, stem, arch = request.param
    torch.manual_seed(depth)
    codec = Codec(CodecConfig(depth=depth, stem=stem, arch=arch)).eval()
    path = export_compressor(codec, tmp_path_factory.mktemp("onnx") / f"net_c_d{depth}.onnx")
    return TorchCodec(codec), OnnxCompressor(path, threads=1)


@pytest.mark.parametrize("size", [(37, 53), (64, 96), (90, 121)])
def test_parity_with_pytorch(exported, size):
    runner, session = exported
    rng = np.random.default_rng(size[0])
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    expected = runner.compress(image)
    got = session.compress(image)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < 1e-4


def test_metadata_names_the_codec(exported):
    runner, session = exported
    assert session.info.codec_id == runner.codec_id
    assert (session.info.depth, session.info.bits) == (runner.config.depth, runner.config.bits)
    assert session.info.quantizer == runner.config.quantizer


def test_edge_containers_decode_in_the_cloud(exported):
    runner, session = exported
    image, _ = synthetic_scene(45, 70, 1)
    meta = container.CaptureMeta(vehicle="v1", frame="f1", ts=1.0)
    frame = container.unpack(session.encode(image, meta))
    reference = container.unpack(runner.encode(image, meta))
    assert frame.header.codec == runner.codec_id
    agree = np.mean(frame.quantized.codes == reference.quantized.codes)
    assert agree > 0.999, "codes may differ by one step only where float rounding ties"
    assert runner.reconstruct(frame).shape == image.shape


def test_missing_or_foreign_models_are_clear_errors(tmp_path):
    with pytest.raises(OnnxModelError, match="does not exist"):
        OnnxCompressor(tmp_path / "none.onnx")
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not onnx")
    with pytest.raises(OnnxModelError, match="cannot load"):
        OnnxCompressor(bogus)
