"""The factorized codec (issue 10): GDN, the per-channel rate model, gains, the unit quantiser."""

import math

import numpy as np
import pytest
import torch

from latentlink.codec import container
from latentlink.codec.entropy import channel_entropy_bits, entropy_bits
from latentlink.codec.quantize import float2int, int2float
from latentlink.data.synthetic import synthetic_scene
from latentlink.models.compressor import Codec, CodecConfig
from latentlink.models.entropy_model import ChannelDensity, quantize_codes
from latentlink.models.gdn import GDN
from latentlink.models.inference import TorchCodec
from latentlink.models.weights import codec_id, load_codec, resolve_weights, save_codec


def test_gdn_follows_its_formula():
    gdn = GDN(3)
    with torch.no_grad():
        gdn.beta_root.copy_(torch.tensor([1.0, 2.0, 0.5]))
        gdn.gamma_root.copy_(torch.tensor([[0.5, 0.0, 0.0], [0.2, 0.3, 0.0], [0.0, 0.0, 0.0]]))
    x = torch.randn(2, 3, 4, 5)
    beta = gdn.beta_root**2 + 1e-6
    gamma = gdn.gamma_root**2
    norm = torch.sqrt(beta.view(1, 3, 1, 1) + torch.einsum("ij,bjhw->bihw", gamma, x**2))
    torch.testing.assert_close(gdn(x), x / norm, rtol=1e-5, atol=1e-6)
    inverse = GDN(3, inverse=True)
    inverse.load_state_dict(gdn.state_dict())
    torch.testing.assert_close(inverse(x), x * norm, rtol=1e-5, atol=1e-6)


def test_density_costs_minus_log2_p_at_integers_and_charges_overshoot():
    density = ChannelDensity(channels=2, bits=3)
    with torch.no_grad():
        density.logits.copy_(torch.log(torch.tensor([[4.0, 2, 1, 1, 0.5, 0.25, 0.125, 0.125],
                                                     [1.0] * 8])))
    probs = torch.softmax(density.logits, 1)
    codes = torch.tensor([[0.0, 1.0], [7.0, 3.0]]).view(1, 2, 2, 1)  # B C h w
    expected = -torch.log2(probs[0, [0, 1]]).sum() - torch.log2(probs[1, [7, 3]]).sum()
    torch.testing.assert_close(density.bits(codes)[0], expected)
    # Half-way between two codes the density interpolates; outside the alphabet it charges more.
    inside = density.bits(torch.full((1, 2, 1, 1), 7.0))
    outside = density.bits(torch.full((1, 2, 1, 1), 9.0))
    # One bit per level of overshoot, in each of the two channels.
    assert float((outside - inside).detach()) == pytest.approx(4.0)


def test_density_learns_each_channels_distribution():
    """Minimising the rate fits the logits: the learned entropy approaches each channel's own."""
    torch.manual_seed(0)
    density = ChannelDensity(channels=2, bits=4)
    skewed = torch.distributions.Categorical(torch.tensor([0.7, 0.2, 0.1])).sample((4096,))
    uniform = torch.randint(0, 16, (4096,))
    codes = torch.stack([skewed + 6, uniform]).float().view(1, 2, 64, 64)
    optimiser = torch.optim.Adam(density.parameters(), lr=0.1)
    for _ in range(300):
        optimiser.zero_grad()
        density.bits(codes).sum().backward()
        optimiser.step()
    learned = density.channel_entropy()
    empirical = channel_entropy_bits(codes[0].long().numpy())
    assert learned.numpy() == pytest.approx(empirical, abs=0.05)
    assert learned[0] < 1.3 < 3.9 < learned[1]


def test_rounding_is_straight_through_and_clipped():
    codes = torch.tensor([-3.2, 0.4, 0.6, 254.7, 300.0], requires_grad=True)
    hard = quantize_codes(codes, 256, training=True)
    assert hard.tolist() == [0.0, 0.0, 1.0, 255.0, 255.0]
    hard.sum().backward()
    assert codes.grad.tolist() == [1.0] * 5
    assert quantize_codes(codes, 256, training=False).tolist() == hard.tolist()


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_shapes_and_every_channel_learns(depth):
    torch.manual_seed(depth)
    codec = Codec(CodecConfig(depth=depth, arch="factorized")).train()
    x = torch.rand(2, 3, 64, 96)
    out = codec(x)
    side = 2 ** (depth + 1)
    assert out["latent"].shape == (2, 16, 64 // side, 96 // side)
    assert out["x_hat"].shape == x.shape and out["rate_bits"].shape == (2,)
    loss = ((out["x_hat"] - x) ** 2).mean() + 1e-3 * out["rate_bits"].mean() / x[0, 0].numel()
    loss.backward()
    head = codec.compressor.analysis[-1].weight.grad
    per_channel = head.abs().flatten(1).sum(1)
    assert bool((per_channel > 0).all()), "no channel's gradient is cut by a clamp"
    assert bool((codec.compressor.log_gain.grad != 0).all())
    assert bool((codec.density.logits.grad != 0).any())


def test_zero_latent_sits_on_a_code_not_a_rounding_boundary():
    codec = Codec(CodecConfig(arch="factorized", bits=8))
    y = torch.zeros(1, 16, 2, 2)
    u = (codec.compressor.centre + y) / (codec.compressor.levels - 1)
    codes = float2int(u.numpy()[0], 8, "unit").codes
    assert (codes == 128).all()


def test_unit_quantiser_uses_the_fixed_range_and_clips():
    latent = np.array([[[-0.2, 0.0, 0.5]], [[1.0, 1.3, 0.25]]], dtype=np.float32)
    quantized = float2int(latent, 8, "unit")
    assert (quantized.low, quantized.high) == (0.0, 1.0)
    assert quantized.codes.tolist() == [[[0, 0, 128]], [[255, 255, 64]]]
    assert int2float(quantized)[0, 0, 2] == pytest.approx(128 / 255)
    with pytest.raises(ValueError, match="quantizer"):
        float2int(latent, 8, "per-frame")


def test_factorized_frames_round_trip_through_a_schema_1_container(tmp_path):
    torch.manual_seed(0)
    codec = Codec(CodecConfig(arch="factorized")).eval()
    runner = TorchCodec(codec)
    image, _ = synthetic_scene(48, 64, 3)
    meta = container.CaptureMeta(vehicle="v1", frame="f1", ts=1.0)
    data = runner.encode(image, meta)
    frame = container.unpack(data)
    assert frame.header.v == 1 and (frame.header.lo, frame.header.hi) == (0.0, 1.0)
    expected = float2int(runner.compress(image), 8, "unit").codes
    assert np.array_equal(frame.quantized.codes, expected)
    assert runner.reconstruct(frame).shape == image.shape


def test_weights_keep_the_density_and_paper_ids_do_not_move(tmp_path):
    torch.manual_seed(1)
    codec = Codec(CodecConfig(arch="factorized"))
    with torch.no_grad():
        codec.density.logits.normal_()
    save_codec(codec, tmp_path / "f.pt")
    loaded, _ = load_codec(tmp_path / "f.pt")
    assert torch.equal(loaded.density.logits, codec.density.logits)
    assert codec_id(loaded) == codec_id(codec)
    paper = Codec(CodecConfig())
    factorized_twin = Codec(CodecConfig(arch="factorized"))
    assert codec_id(paper) != codec_id(factorized_twin)


def test_net_d_is_stored_in_half_precision_and_net_c_exactly(tmp_path):
    torch.manual_seed(2)
    codec = Codec(CodecConfig(arch="factorized", synthesis_blocks=1))
    save_codec(codec, str(tmp_path / "sub" / "f.pt"))  # a str path, folder made on the way
    blob = torch.load(tmp_path / "sub" / "f.pt", weights_only=True)
    assert {v.dtype for v in blob["decompressor"].values()} == {torch.float16}
    assert {v.dtype for v in blob["compressor"].values()} == {torch.float32}
    loaded, _ = load_codec(tmp_path / "sub" / "f.pt")
    assert codec_id(loaded) == codec_id(codec)
    assert all(v.dtype == torch.float32 for v in loaded.decompressor.state_dict().values())
    codes = torch.rand(1, 16, 4, 6) * 0.05 + 0.48
    np.testing.assert_allclose(loaded.decompressor(codes).detach().numpy(),
                               codec.eval().decompressor(codes).detach().numpy(), atol=2e-3)


def test_shipped_paper_codec_keeps_its_id():
    """Containers already stored name the paper codec by id: adding 'arch' must not change it."""
    codec, provenance = load_codec(
        resolve_weights("default:paper")
    )
    assert codec.config.arch == "paper"
    assert codec_id(codec) == provenance["codec_id"]


def test_entropy_helpers_agree():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (3, 10, 10))
    codes[1] = 2  # a dead channel
    per_channel = channel_entropy_bits(codes)
    assert per_channel[1] == 0.0
    assert per_channel.sum() * 100 == pytest.approx(
        sum(entropy_bits(channel) for channel in codes)
    )
    assert math.isclose(per_channel[0], 2.0, abs_tol=0.1)


def test_segmenter_input_affine_centres_factorized_codes():
    from latentlink.models.factorized import segmenter_input_affine
    from latentlink.models.segmenter import SegmenterConfig, build_segmenter

    assert segmenter_input_affine("paper", 8) == (0.0, 1.0)
    offset, scale = segmenter_input_affine("factorized", 8)
    codes = torch.tensor([112.0, 128.0, 144.0])
    centred = (codes / 255 - offset) * scale
    torch.testing.assert_close(centred, torch.tensor([-1.0, 0.0, 1.0]))

    torch.manual_seed(0)
    plain = build_segmenter(SegmenterConfig(depth=2)).eval()
    shifted = build_segmenter(SegmenterConfig(depth=2, input_offset=offset,
                                              input_scale=scale)).eval()
    shifted.load_state_dict(plain.state_dict())
    u = torch.randint(100, 156, (1, 16, 8, 8)).float() / 255
    torch.testing.assert_close(shifted(u)["out"], plain((u - offset) * scale)["out"])
