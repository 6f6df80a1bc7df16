"""Tests of the Huffman coder's context mode (mode 2): round trips, mode choice, hostile input."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from latentlink.codec import container, huffman
from latentlink.codec.huffman import MODE_CONTEXT, MODE_PER_CHANNEL, HuffmanError
from tests.test_huffman import FAST, BitWriter, decode_or_huffman_error, header


def varying_scale_latent(seed: int, shape: tuple[int, int, int] = (16, 45, 60)) -> np.ndarray:
    """uint8 planes, Laplacian around 128 whose scale changes by blocks: quiet and busy areas.

    That is what real latents look like to the context mode (flat sky vs. textured road), so
    the neighbours' distance from the mode predicts the next symbol's spread.
    """
    rng = np.random.default_rng(seed)
    channels, height, width = shape
    blocks = rng.choice([0.05, 0.5, 8.0], (channels, -(-height // 8), -(-width // 8)))
    scale = np.kron(blocks, np.ones((8, 8)))[:, :height, :width]
    return np.clip(np.round(128 + rng.laplace(0.0, scale)), 0, 255).astype(np.uint8)


def iid_latent(seed: int, shape: tuple[int, int, int] = (16, 45, 60)) -> np.ndarray:
    """The same marginals per channel, but spatially independent: no context can help."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.05, 0.5, 8.0], shape[0])[:, None, None]
    return np.clip(np.round(128 + rng.laplace(0.0, scale, shape)), 0, 255).astype(np.uint8)


def round_trip(symbols: np.ndarray, bits: int, mode: int = -1) -> bytes:
    payload = huffman._encode(symbols, bits, symbols.shape[0], mode)
    decoded = huffman.decode(payload, bits, symbols.size, symbols.shape[0])
    np.testing.assert_array_equal(decoded, symbols.reshape(-1))
    return payload


# ---------------------------------------------------------------------------------------------
# round trips and mode choice


@st.composite
def planes(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    bits = draw(st.integers(1, 16))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    top = (1 << bits) - 1
    kind = draw(st.sampled_from(["uniform", "single", "blocks", "laplace", "extremes"]))
    if kind == "uniform":
        values = rng.integers(0, top + 1, shape)
    elif kind == "single":
        values = np.full(shape, draw(st.integers(0, top)))
    elif kind == "blocks":
        values = np.kron(rng.integers(0, top + 1, (shape[0], 4, 4)), np.ones((1, 3, 3)))
        values = values[:, : shape[1], : shape[2]]
        values = np.pad(values, [(0, 0), (0, shape[1] - values.shape[1]),
                                 (0, shape[2] - values.shape[2])], mode="edge")
    elif kind == "laplace":
        scale = rng.uniform(0.05, 30, shape[1:])
        values = np.clip(np.round(rng.laplace(top / 2, scale, shape)), 0, top)
    else:
        values = rng.choice([0, top], shape, p=[0.95, 0.05])
    dtype = np.uint16 if bits > 8 or draw(st.booleans()) else np.uint8
    return values.astype(dtype), bits


@FAST
@given(planes(), st.sampled_from([-1, MODE_CONTEXT]))
def test_round_trip_is_bit_exact(case: tuple[np.ndarray, int], mode: int) -> None:
    symbols, bits = case
    payload = round_trip(symbols, bits, mode)
    if mode == MODE_CONTEXT:
        assert huffman.payload_mode(payload) == MODE_CONTEXT


@pytest.mark.parametrize("seed", range(4))
def test_context_mode_wins_on_spatially_varying_scale(seed: int) -> None:
    symbols = varying_scale_latent(seed)
    payload = round_trip(symbols, 8)
    per_channel = huffman._encode(symbols, 8, 16, MODE_PER_CHANNEL)
    assert huffman.payload_mode(payload) == MODE_CONTEXT
    assert len(payload) < 0.95 * len(per_channel)


@pytest.mark.parametrize("seed", range(4))
def test_context_mode_is_not_chosen_on_iid_noise(seed: int) -> None:
    symbols = iid_latent(seed)
    payload = round_trip(symbols, 8)
    forced = round_trip(symbols, 8, MODE_CONTEXT)
    assert huffman.payload_mode(payload) != MODE_CONTEXT
    assert len(payload) < len(forced)


def test_auto_mode_is_the_smallest_of_all_three() -> None:
    for symbols in (varying_scale_latent(7), iid_latent(7), varying_scale_latent(8)[:, :5, :3]):
        sizes = [len(huffman._encode(symbols, 8, 16, mode)) for mode in (0, 1, 2)]
        assert len(huffman.encode(symbols, 8, 16)) == min(sizes)


def test_wide_alphabet_context_round_trip() -> None:
    symbols = varying_scale_latent(3, (4, 45, 60)).astype(np.uint16) + 30000
    payload = round_trip(symbols, 16)
    assert huffman.payload_mode(payload) == MODE_CONTEXT
    round_trip(symbols[:, :7, :5] * 2, 16, MODE_CONTEXT)


def test_context_mode_needs_planes() -> None:
    symbols = varying_scale_latent(0)
    with pytest.raises(ValueError, match="channels, height, width"):
        huffman._encode(symbols.reshape(16, -1), 8, 16, MODE_CONTEXT)
    assert huffman.payload_mode(huffman.encode(symbols.reshape(-1), 8, 16)) != MODE_CONTEXT


def test_container_round_trip_uses_the_context_mode() -> None:
    codes = varying_scale_latent(5)
    latent = (codes.astype(np.float32) / 255.0)[None]
    data = container.encode_latent(
        latent,
        bits=8,
        quantizer="unit",
        codec_id="0123456789abcdef",
        depth=2,
        image_size=(360, 480),
        meta=container.CaptureMeta(vehicle="vehicle-1", frame="f-1", ts=1.0),
    )
    frame = container.unpack(data)
    np.testing.assert_array_equal(frame.quantized.codes, codes)
    assert huffman.payload_mode(msgpack.unpackb(data)["huff"]) == MODE_CONTEXT
    assert frame.payload_bytes < len(huffman._encode(codes, 8, 16, MODE_PER_CHANNEL))


# ---------------------------------------------------------------------------------------------
# hostile input


def context_payloads() -> list[tuple[bytes, int, int, int]]:
    """Valid mode-2 payloads: sparse and plain contexts, 8- and 16-bit, one and many planes."""
    cases = [
        (varying_scale_latent(11, (4, 12, 16)), 8),
        (varying_scale_latent(12, (1, 20, 9)), 8),
        (varying_scale_latent(13, (2, 10, 10)).astype(np.uint16) * 3, 10),
    ]
    payloads = []
    for symbols, bits in cases:
        payload = round_trip(symbols, bits, MODE_CONTEXT)
        payloads.append((payload, bits, symbols.size, symbols.shape[0]))
    return payloads


def test_thousands_of_mutations_decode_or_raise_and_truncations_always_raise() -> None:
    rng = np.random.default_rng(0)
    rejected = 0
    for payload, bits, count, channels in context_payloads():
        for cut in range(len(payload)):
            with pytest.raises(HuffmanError):
                huffman.decode(payload[:cut], bits, count, channels)
        for _ in range(1200):
            mutated = bytearray(payload)
            kind = rng.integers(4)
            position = int(rng.integers(len(mutated)))
            if kind == 0:
                mutated[position] ^= 1 << int(rng.integers(8))
            elif kind == 1:
                mutated[position] = int(rng.integers(256))
            elif kind == 2:
                del mutated[position]
            else:
                mutated.insert(position, int(rng.integers(256)))
            try:
                out = huffman.decode(bytes(mutated), bits, count, channels)
            except HuffmanError:
                rejected += 1
                continue
            assert out.shape == (count,)
    assert rejected > 0.5 * 3 * 1200  # most damage is caught, not just survived


# a 1×4 plane of 2-bit symbols, K = 2: byte 0, count 4, channels 1, width 4
CONTEXT_HEADER = header(2, 4, 1, MODE_CONTEXT) + bytes([4])


def two_context_plane(ref: int, first: BitWriter, second: BitWriter) -> BitWriter:
    """K - 1 = 1, ref, then the two tables."""
    writer = BitWriter().put(1, 3).put(ref, 2)
    return writer.put(first.value, first.size).put(second.value, second.size)


def sparse_constant(mps: int, other: int) -> BitWriter:
    """A sparse table (k = 0) whose only other symbol is `other`: its codes cost no bits."""
    return BitWriter().put(1, 1).put(mps, 2).put(0, 4).put(other, 2).put(0, 2)


def constant(symbol: int) -> BitWriter:
    return BitWriter().put(0, 1).put(symbol, 2).put(0, 2)


def test_hand_built_context_payload_decodes() -> None:
    # symbol 0: quiet (context 0), run 1 (eg "010") -> mps 0; symbol 1: context 0, the run is
    # used up -> the other symbol, 1; symbols 2, 3: a neighbour is off ref -> context 1 -> 2;
    # at the end context 0 waits for a run: the final run 0 ("1")
    stream = two_context_plane(0, sparse_constant(0, 1), constant(2)).tokens("010" + "1")
    assert huffman.decode(CONTEXT_HEADER + stream.to_bytes(), 2, 4).tolist() == [0, 1, 2, 2]


@pytest.mark.parametrize(
    ("ref", "data", "message"),
    [
        # the final run of context 0 is 1, not 0
        (0, "010" + "010", "final run of a context is not zero"),
        # a run of 5 at the plane's first of 4 symbols
        (0, "00101", "overflows its plane"),
        # ref 3: context 0 only at the first symbol (the others follow a symbol 1 or more
        # away from ref), so a run of 2 there is never used up
        (3, "011", "overflows its context"),
        # the stream ends inside the first run
        (0, "001", "truncated"),
    ],
)
def test_hostile_context_runs_are_rejected(ref: int, data: str, message: str) -> None:
    stream = two_context_plane(ref, sparse_constant(0, 1), constant(2)).tokens(data)
    with pytest.raises(HuffmanError, match=message):
        huffman.decode(CONTEXT_HEADER + stream.to_bytes(), 2, 4)


@pytest.mark.parametrize("width", [0, 3, 5])
def test_width_that_does_not_divide_the_plane_is_rejected(width: int) -> None:
    payload = header(2, 4, 1, MODE_CONTEXT) + bytes([width]) + b"\x00"
    with pytest.raises(HuffmanError, match="width does not divide"):
        huffman.decode(payload, 2, 4)


@FAST
@given(st.binary(max_size=64), st.integers(1, 16), st.integers(1, 3), st.integers(1, 20))
def test_random_bytes_behind_a_context_header_decode_or_raise(
    data: bytes, bits: int, channels: int, width: int
) -> None:
    count = channels * width * 3
    payload = header(bits, count, channels, MODE_CONTEXT) + bytes([width]) + data
    decode_or_huffman_error(payload, bits, count, channels)
