import math
import zlib

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlink.codec import container
from latentlink.codec.container import CaptureMeta, ContainerError, ContainerLimits, encode_latent
from latentlink.codec.frames import latent_shape

META = CaptureMeta(vehicle="car-7", frame="000123", ts=1_700_000_000.5, camera="front")
CODEC_ID = "0123456789abcdef"


def make_container(height=72, width=100, depth=2, bits=8, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    latent = rng.laplace(0.3, 0.05, latent_shape(height, width, depth)).astype(np.float32)
    return encode_latent(
        latent, bits=bits, codec_id=CODEC_ID, depth=depth, image_size=(height, width), meta=META
    )


def tamper(data: bytes, **changes) -> bytes:
    body = msgpack.unpackb(data, raw=False)
    body.update(changes)
    return msgpack.packb({k: v for k, v in body.items() if v is not ...}, use_bin_type=True)


@pytest.mark.parametrize("bits", [1, 4, 8, 12, 16])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_round_trip(bits, depth):
    rng = np.random.default_rng(bits)
    latent = rng.normal(size=latent_shape(37, 53, depth)).astype(np.float32)
    data = encode_latent(
        latent, bits=bits, codec_id=CODEC_ID, depth=depth, image_size=(37, 53), meta=META
    )
    frame = container.unpack(data)
    assert frame.header.meta == META and frame.header.size == (37, 53)
    assert frame.quantized.codes.shape == latent_shape(37, 53, depth)
    from latentlink.codec.quantize import float2int

    np.testing.assert_array_equal(frame.quantized.codes, float2int(latent, bits).codes)
    assert frame.compression_factor == pytest.approx(3 * 37 * 53 / len(data))


@pytest.mark.parametrize(("bits", "per_symbol"), [(1, 1), (8, 1), (9, 2), (16, 2)])
def test_latent_bytes_follow_the_bit_length(bits, per_symbol):
    header, _ = container.read_header(make_container(bits=bits))
    assert header.latent_bytes == header.symbols * per_symbol


def test_assemble_relabels_a_frame_without_recoding_it():
    original = make_container()
    header, payload = container.read_header(original)
    meta = META.model_copy(update={"frame": "000124"})
    relabelled = container.assemble(header.model_copy(update={"meta": meta}), payload)
    frame = container.unpack(relabelled)
    assert frame.header.meta.frame == "000124"
    assert frame.header.model_copy(update={"meta": META}) == header
    np.testing.assert_array_equal(
        frame.quantized.codes, container.unpack(original).quantized.codes
    )
    assert container.assemble(header, payload) == original
    with pytest.raises(ContainerError, match="CRC"):
        container.assemble(header, payload[:-1])


def test_header_overhead_is_small():
    data = make_container()
    _, payload = container.read_header(data)
    assert len(data) - len(payload) < 180


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\xc1", "not a msgpack"),
        (msgpack.packb([1, 2, 3]), "must be a msgpack map"),
        (msgpack.packb({"v": 1}), "'huff'"),
    ],
)
def test_garbage_is_rejected_with_a_reason(data, reason):
    with pytest.raises(ContainerError, match=reason):
        container.unpack(data)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"v": 2}, "schema version"),
        ({"codec": "XYZ"}, "codec"),
        ({"d": 7}, "d"),
        ({"n": 0}, "n"),
        ({"shape": [16, 10, 10]}, "does not match"),
        ({"shape": [16, 9]}, "shape"),
        ({"lo": 2.0, "hi": 1.0}, "exceeds maximum"),
        ({"lo": math.nan}, "lo"),
        ({"size": [0, 100]}, "positive"),
        ({"crc": 12345}, "CRC"),
        ({"meta": {"vehicle": "a b", "frame": "1", "ts": 0}}, "vehicle"),
        ({"meta": {"vehicle": "a", "frame": "1", "ts": 0, "x": 1}}, "Extra inputs"),
        ({"extra": 1}, "Extra inputs"),
        ({"huff": "text"}, "'huff'"),
    ],
)
def test_bad_fields_are_rejected_with_a_reason(changes, reason):
    with pytest.raises(ContainerError, match=reason):
        container.unpack(tamper(make_container(), **changes))


def test_lies_about_shape_are_caught_before_decoding():
    data = make_container()
    big = tamper(data, size=[720, 1000], shape=[16, 45, 63])
    with pytest.raises(ContainerError):
        container.unpack(big)


def test_limits_are_checked_before_decoding():
    data = make_container()
    with pytest.raises(ContainerError, match="above the limit"):
        container.unpack(data, ContainerLimits(max_bytes=100))
    huge = tamper(data, size=[100_000, 100_000], shape=[16, 12500, 12500])
    with pytest.raises(ContainerError, match="limit"):
        container.unpack(huge)


def test_corrupt_payload_with_matching_crc_is_a_container_error():
    body = msgpack.unpackb(make_container(), raw=False)
    body["huff"] = body["huff"][: len(body["huff"]) // 2]
    body["crc"] = zlib.crc32(body["huff"])
    with pytest.raises(ContainerError, match="Huffman"):
        container.unpack(msgpack.packb(body, use_bin_type=True))


def test_truncations_never_escape_as_other_errors():
    data = make_container()
    for cut in range(0, len(data), max(1, len(data) // 97)):
        with pytest.raises(ContainerError):
            container.unpack(data[:cut])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_raise_only_container_errors(blob):
    with pytest.raises(ContainerError):
        container.unpack(blob)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 7))
def test_bit_flips_raise_only_container_errors_or_decode(position, bit):
    data = bytearray(make_container(height=40, width=40))
    data[position % len(data)] ^= 1 << bit
    try:
        frame = container.unpack(bytes(data))
    except ContainerError:
        return
    assert frame.quantized.codes.size == frame.header.symbols


def test_pack_rejects_wrong_latent_shape():
    from latentlink.codec.quantize import float2int

    with pytest.raises(ValueError, match="16×h×w"):
        container.pack(
            float2int(np.zeros((8, 2, 2), np.float32), 8),
            codec_id=CODEC_ID,
            depth=2,
            image_size=(16, 16),
            meta=META,
        )
