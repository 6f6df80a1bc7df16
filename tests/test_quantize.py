import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from latentlink.codec.quantize import Quantized, float2int, int2float

finite_floats = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(1, 6)),
        elements=finite_floats,
    ),
    st.integers(1, 16),
)
def test_round_trip_error_is_at_most_half_a_step(latent, bits):
    q = float2int(latent, bits)
    assert q.codes.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert int(q.codes.max()) <= 2**bits - 1
    restored = int2float(q)
    step = (q.high - q.low) / (2**bits - 1)
    assert np.all(np.abs(restored - latent) <= step / 2 + 1e-4 * max(1.0, abs(q.high), abs(q.low)))


def test_matches_the_papers_equations():
    latent = np.array([[[0.0, 0.25, 0.5, 1.0]]], dtype=np.float32)
    q = float2int(latent, 2)  # (2^2 - 1) · (x - 0) / (1 - 0) = [0, .75, 1.5, 3] → round half up
    assert q.codes.tolist() == [[[0, 1, 2, 3]]]
    assert (q.low, q.high) == (0.0, 1.0)
    assert int2float(q).ravel().tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_extremes_map_to_zero_and_full_scale():
    latent = np.random.default_rng(0).normal(size=(16, 5, 7)).astype(np.float32)
    q = float2int(latent, 8)
    assert q.codes.min() == 0 and q.codes.max() == 255


def test_constant_latent_needs_no_division():
    q = float2int(np.full((16, 2, 3), 0.7, np.float32), 8)
    assert not q.codes.any()
    np.testing.assert_allclose(int2float(q), 0.7, rtol=1e-6)


@pytest.mark.parametrize("bits", [0, 17, 2.5])
def test_rejects_bad_bit_lengths(bits):
    with pytest.raises(ValueError, match="bit length"):
        float2int(np.zeros((1, 1, 1), np.float32), bits)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_rejects_non_finite_latents(bad):
    with pytest.raises(ValueError, match="NaN or infinity"):
        float2int(np.array([[[0.0, bad]]], np.float32), 8)


def test_int2float_checks_bits():
    with pytest.raises(ValueError):
        int2float(Quantized(np.zeros(3, np.uint8), 0.0, 1.0, 0))
