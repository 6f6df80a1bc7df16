"""The agent's shipped net_C (ONNX) is the shipped default codec's, and stays so.

The ONNX file is exported once (docs/weights.md has the command) and committed, because the
vehicle image has no torch to export it; this test is what notices when the weights change and
the export was not redone.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config import SHIPPED_MODEL, AgentSettings
from latentlink.codec.onnx_compressor import OnnxCompressor
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import load_codec, resolve_weights


@pytest.fixture(scope="module")
def shipped() -> tuple[OnnxCompressor, TorchCodec]:
    codec, _ = load_codec(resolve_weights("default", depth=2))
    return OnnxCompressor(SHIPPED_MODEL, threads=1), TorchCodec(codec.eval())


def test_the_agent_runs_the_shipped_model_by_default() -> None:
    assert AgentSettings.model_fields["model"].default == SHIPPED_MODEL
    assert SHIPPED_MODEL.is_file()


def test_its_codec_is_the_shipped_default_codec(shipped) -> None:
    session, runner = shipped
    assert session.info.codec_id == runner.codec_id
    assert (session.info.depth, session.info.bits) == (runner.config.depth, runner.config.bits)
    assert session.info.quantizer == runner.config.quantizer


def test_it_computes_what_the_weights_compute(shipped) -> None:
    session, runner = shipped
    image, _ = synthetic_scene(72, 96, 3)
    expected = runner.compress(image)
    got = session.compress(image)
    assert got.shape == expected.shape
    assert float(np.abs(got - expected).max()) < 1e-3
