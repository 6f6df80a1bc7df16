"""Hostile containers: what two readers could read differently is refused, with a reason.

A container is read by the cloud, by the edge's tools and by any msgpack tool an operator points
at a stored blob. Duplicate keys, trailing bytes, values of the wrong type and ``lo``/``hi``
that do not fit float32 would let those readers disagree, or decode to NaN; the fuzzing at the
end shows that every mutated container is either refused with a reason or decodes to the frame
that a plain msgpack reader sees too.
"""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentlink.codec import container
from latentlink.codec.container import CaptureMeta, ContainerError, encode_latent
from latentlink.codec.frames import latent_shape
from latentlink.codec.quantize import int2float

META = CaptureMeta(vehicle="car-a", frame="000042", ts=1_700_000_000.25, camera="front")
SIZE = (24, 40)


def good_container() -> bytes:
    rng = np.random.default_rng(3)
    latent = rng.laplace(0.0, 0.5, latent_shape(*SIZE, 1)).astype(np.float32)
    return encode_latent(latent, bits=6, codec_id="0123456789abcdef", depth=1, image_size=SIZE,
                         meta=META)


GOOD = good_container()
FIELDS = msgpack.unpackb(GOOD, raw=False)


class Pairs(list):
    """A msgpack map written pair by pair, so that a key can appear twice."""


def encode(value: object) -> bytes:
    """msgpack bytes of ``value``, writing :class:`Pairs` (at any depth) in their order."""
    if isinstance(value, Pairs):
        packer = msgpack.Packer(use_bin_type=True)
        return packer.pack_map_header(len(value)) + b"".join(
            encode(key) + encode(item) for key, item in value)
    if isinstance(value, dict):
        return encode(Pairs(value.items()))
    return msgpack.packb(value, use_bin_type=True)


def as_pairs(fields: dict) -> Pairs:
    return Pairs((key, as_pairs(value) if isinstance(value, dict) else value)
                 for key, value in fields.items())


def refusal(data: bytes) -> str:
    """The reason ``data`` is refused (the test fails if it is accepted or raises otherwise)."""
    with pytest.raises(ContainerError) as caught:
        container.unpack(data)
    return str(caught.value)


def with_fields(**changes: object) -> bytes:
    return encode({**FIELDS, **changes})


def test_the_base_container_is_accepted() -> None:
    assert container.unpack(GOOD).header.meta == META


def test_a_top_level_key_given_twice_is_refused() -> None:
    pairs = as_pairs(FIELDS)
    pairs.append(("n", FIELDS["n"]))  # the same value: a duplicate is refused, not compared
    assert "'n' appears twice" in refusal(encode(pairs))


def test_a_second_vehicle_in_meta_is_refused() -> None:
    """B then A: a reader taking the first key sees B, one taking the last sees A."""
    meta = Pairs([("vehicle", "car-b"), ("vehicle", "car-a"), ("frame", "1"), ("ts", 1.0)])
    pairs = Pairs((key, meta if key == "meta" else value) for key, value in FIELDS.items())
    assert "'vehicle' appears twice" in refusal(encode(pairs))


def test_a_binary_key_is_refused() -> None:
    pairs = as_pairs(FIELDS)
    pairs.append((b"extra", 1))
    assert "not a string" in refusal(encode(pairs))


@pytest.mark.parametrize("tail", [b"\x00", b"\xc0" * 7, msgpack.packb({"v": 1})])
def test_bytes_after_the_map_are_refused(tail: bytes) -> None:
    assert f"{len(tail)} bytes follow" in refusal(GOOD + tail)


def test_an_unknown_key_is_refused() -> None:
    assert "surprise" in refusal(with_fields(surprise=1))


def f32(value: float) -> float:
    return float(np.float32(value))


F32_MAX = float(np.finfo(np.float32).max)


@pytest.mark.parametrize(("lo", "hi", "phrase"), [
    (-1e39, 1e39, "outside float32's range"),
    (f32(-3e38), f32(3e38), "overflows float32"),
    (-F32_MAX, F32_MAX, "overflows float32"),
    (0.1, 1.0, "not a float32 value"),
])
def test_lo_and_hi_must_fit_float32(lo: float, hi: float, phrase: str) -> None:
    assert phrase in refusal(with_fields(lo=lo, hi=hi))


def test_the_widest_accepted_range_decodes_to_finite_latents() -> None:
    edge = f32(1.5e38)
    frame = container.unpack(with_fields(lo=-edge, hi=edge))
    assert np.isfinite(int2float(frame.quantized)).all()


@pytest.mark.parametrize(("changes", "field"), [
    ({"lo": "0.5"}, "lo"),
    ({"d": True}, "d"),
    ({"n": 6.0}, "n"),
    ({"crc": str(FIELDS["crc"])}, "crc"),
    ({"meta": {**FIELDS["meta"], "ts": "1700000000"}}, "meta.ts"),
])
def test_values_must_already_have_their_type(changes: dict, field: str) -> None:
    assert f"{field}:" in refusal(with_fields(**changes))


@pytest.mark.parametrize("size", [[2**40, 8], [2**63, 2**63], [8, -(2**63)]])
def test_sizes_beyond_any_column_are_refused(size: list[int]) -> None:
    assert "frame size" in refusal(with_fields(size=size))


@pytest.mark.parametrize("data", [b"\x91" * 3000 + b"\xc0", b"\xc1", b"\x81\xa1v"])
def test_msgpack_failures_carry_a_reason(data: bytes) -> None:
    reason = refusal(data)
    assert reason.split(":", 1)[1].strip(), reason


# --- fuzzing --------------------------------------------------------------------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=8,
)
top_keys = st.sampled_from([*FIELDS, "extra"])
meta_keys = st.sampled_from([*FIELDS["meta"], "extra"])


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A container with up to three structural changes, then perhaps bytes flipped, cut or
    added."""
    pairs = as_pairs(FIELDS)
    meta = next(value for key, value in pairs if key == "meta")
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from([pairs, meta]))
        key = draw(top_keys if target is pairs else meta_keys)
        action = draw(st.sampled_from(["set", "delete", "duplicate"]))
        kept = Pairs(pair for pair in target if pair[0] != key)
        if action == "set":  # sometimes a near miss: the original value, moved to the end
            kept.append((key, draw(st.just(dict(target).get(key)) | values)))
        elif action == "duplicate":
            kept.extend([(key, draw(values)), (key, draw(values))])
        target[:] = kept
    data = bytearray(encode(pairs))
    tail = draw(st.sampled_from(["none", "flip", "cut", "append"]))
    if tail == "flip":
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif tail == "cut":
        del data[draw(st.integers(0, len(data) - 1)):]
    elif tail == "append":
        data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def assert_accepted_and_valid(data: bytes, frame: container.Frame) -> None:
    """What the reader accepted is what any msgpack reader sees, and decodes to real numbers."""
    plain = msgpack.unpackb(data, raw=False)
    header = frame.header
    assert plain["meta"]["vehicle"] == header.meta.vehicle
    assert (plain["lo"], plain["hi"]) == (header.lo, header.hi)
    assert tuple(plain["size"]) == header.size and tuple(plain["shape"]) == header.shape
    assert frame.quantized.codes.shape == header.shape
    assert int(frame.quantized.codes.max()) < 2**header.n
    assert np.isfinite(int2float(frame.quantized)).all()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_containers_are_valid_or_refused_with_a_reason(data: bytes) -> None:
    try:
        frame = container.unpack(data)
    except ContainerError as error:
        reason = str(error)
        assert reason.strip() and not reason.rstrip().endswith(":"), repr(reason)
        return
    assert_accepted_and_valid(data, frame)


@settings(max_examples=200, deadline=None)
@given(st.floats(width=64), st.floats(width=64))
def test_any_accepted_latent_range_decodes_to_finite_values(lo: float, hi: float) -> None:
    try:
        frame = container.unpack(with_fields(lo=lo, hi=hi))
    except ContainerError as error:
        assert "lo" in str(error) or "hi" in str(error) or "latent" in str(error), str(error)
        return
    assert np.isfinite(int2float(frame.quantized)).all()
