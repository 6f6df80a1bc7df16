import pytest
import torch

from latentlink.models.compressor import (
    Codec,
    CodecConfig,
    Compressor,
    Decompressor,
    count_parameters,
)
from latentlink.models.quantization import simulate_quantization, soft_entropy_bits

# The paper's Table I: net_C 0.12M / 0.19M / 0.27M parameters for d = 1, 2, 3; net_D 0.31M at d=2.
EXPECTED_NET_C = {1: 121_808, 2: 195_664, 3: 269_520}


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_parameter_counts_match_the_paper(depth):
    assert count_parameters(Compressor(depth)) == EXPECTED_NET_C[depth]


def test_decompressor_size_at_depth_two():
    assert round(count_parameters(Decompressor(2)) / 1e6, 2) == 0.31


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("stem", ["paper", "edge"])
def test_shapes_for_every_depth_and_stem(depth, stem):
    factor = 2 ** (depth + 1)
    codec = Codec(CodecConfig(depth=depth, stem=stem)).eval()
    x = torch.rand(2, 3, 3 * factor, 5 * factor)
    out = codec(x)
    assert out["latent"].shape == (2, 16, 3, 5)
    assert out["x_hat"].shape == x.shape
    assert float(out["x_hat"].detach().min()) >= 0 and float(out["x_hat"].detach().max()) <= 1


def test_edge_stem_is_cheaper():
    assert count_parameters(Compressor(2, "edge")) < count_parameters(Compressor(2, "paper"))


def test_latent_clamp_flag():
    torch.manual_seed(0)
    free = Compressor(2, latent_clamp=False)
    x = torch.rand(1, 3, 32, 32) * 50
    with torch.no_grad():
        unclamped = free(x)
    assert float(unclamped.abs().max()) > 1 or float(unclamped.min()) < 0
    clamped = Compressor(2)
    clamped.load_state_dict(free.state_dict())
    with torch.no_grad():
        y = clamped(x)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_straight_through_quantisation_lands_on_levels_and_passes_gradients():
    latent = torch.rand(2, 16, 4, 4, requires_grad=True)
    latent_hat, _ = simulate_quantization(latent, 4)
    low = latent.detach().amin((1, 2, 3), keepdim=True)
    step = (latent.detach().amax((1, 2, 3), keepdim=True) - low) / 15
    levels = (latent_hat.detach() - low) / step
    assert torch.allclose(levels, levels.round(), atol=1e-3)
    assert float((latent_hat - latent).detach().abs().max()) <= float(step.max()) / 2 + 1e-6
    latent_hat.sum().backward()
    assert torch.allclose(latent.grad, torch.ones_like(latent))


def test_soft_entropy_matches_hard_entropy_on_integer_codes():
    codes = torch.tensor([[0.0, 0.0, 1.0, 3.0]])
    bits = soft_entropy_bits(codes, 2)
    # p = (1/2, 1/4, 1/4) → H = 1.5 bits/symbol, 4 symbols → 6 bits
    assert float(bits) == pytest.approx(6.0, abs=1e-4)


def test_soft_entropy_is_differentiable_and_prefers_concentration():
    codes = torch.tensor([[10.3, 10.4, 40.2, 200.7]], requires_grad=True)
    soft_entropy_bits(codes, 8).sum().backward()
    assert codes.grad is not None and torch.isfinite(codes.grad).all()
    spread = soft_entropy_bits(torch.arange(64.0)[None], 8)
    peaked = soft_entropy_bits(torch.full((1, 64), 7.0), 8)
    assert float(peaked) < float(spread)


@pytest.mark.parametrize("kwargs", [{"depth": 4}, {"bits": 0}, {"stem": "wide"}])
def test_config_validation(kwargs):
    with pytest.raises(ValueError):
        CodecConfig(**kwargs)
