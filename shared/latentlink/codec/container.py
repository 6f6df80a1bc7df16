"""The frame container: the one wire format between vehicle and cloud ("bitstream plus dictionary").

A container is a msgpack map (schema version 1)::

    {
      "v": 1,                      schema version
      "codec": "9f3c…" (16 hex),   codec id: hash of net_C's weights and configuration
      "d": 2, "n": 8,              digest units and quantisation bit length
      "shape": [16, h, w],         latent shape (channels, height, width)
      "lo": float, "hi": float,    per-frame min δ and max Δ of net_C's output (eqs. 2, 4),
                                   float32 values carried as msgpack float64
      "size": [H, W],              original frame size (the latent covers it padded to 2^(d+1))
      "huff": bytes,               Huffman payload: code-length dictionary(ies) + bitstream
      "crc": uint32,               CRC-32 of "huff"
      "meta": {"vehicle": str, "frame": str, "ts": float (Unix seconds), "camera": str}
    }

Short keys keep the per-frame overhead at about 170 bytes, two fifths of it the capture metadata
(measured in docs/container.md): ≈2% of an 8 KB frame at CF 66. Reading is strict: msgpack limits
are set before unpacking so a hostile body cannot make the reader allocate more than the limits
allow, pydantic validates every field, the latent shape must agree with d and the frame size, and
the CRC must match. Every problem raises :class:`ContainerError` (a ``ValueError``) with the reason.

Strictness also closes parser differentials: two readers of one container must never see two
different frames. So a map may not hold a key twice (one reader would take the first, another the
last), nothing may follow the map, every value must already have the type it is used as (no
string "1.5" read as a float), and ``lo``/``hi`` must be float32 values whose difference fits
float32, since that is the arithmetic :func:`latentlink.codec.quantize.int2float` does.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import msgpack
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from latentlink.codec import huffman
from latentlink.codec.frames import LATENT_CHANNELS
from latentlink.codec.quantize import Quantized, code_dtype, float2int

SCHEMA_VERSION = 1
FLOAT32_MAX = float(np.finfo(np.float32).max)
VEHICLE_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
"""A vehicle's name: in a container, in the cloud's database, its API and its CLI."""
MAX_FRAME_SIDE = 2**31 - 1
"""The largest side any reader can store (a 32-bit integer column); limits sit far below it."""
MEDIA_TYPE = "application/x-msgpack"
"""The HTTP content type a container travels under, on upload and on download."""


class ContainerError(ValueError):
    """The bytes are not a valid frame container; the message says why."""


@dataclass(frozen=True)
class ContainerLimits:
    """Bounds checked before anything proportional to a declared size is allocated."""

    max_bytes: int = 16 * 1024 * 1024
    max_frame_side: int = 8192
    max_symbols: int = LATENT_CHANNELS * 2048 * 2048


class CaptureMeta(BaseModel):
    """Where and when the frame was taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vehicle: str = Field(pattern=VEHICLE_PATTERN)
    frame: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    ts: float = Field(ge=0, le=1e11, allow_inf_nan=False)
    camera: str = Field(default="front", min_length=1, max_length=64)


class FrameHeader(BaseModel):
    """Every container field but the payload, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    v: int
    codec: str = Field(pattern=r"^[0-9a-f]{16}$")
    d: int = Field(ge=1, le=3)
    n: int = Field(ge=1, le=16)
    shape: tuple[int, int, int]
    lo: float = Field(allow_inf_nan=False)
    hi: float = Field(allow_inf_nan=False)
    size: tuple[int, int]
    crc: int = Field(ge=0, lt=2**32)
    meta: CaptureMeta

    @model_validator(mode="after")
    def _consistent(self) -> FrameHeader:
        if self.v != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema version {self.v} (this reader: {SCHEMA_VERSION})")
        _check_float32("lo", self.lo)
        _check_float32("hi", self.hi)
        if self.lo > self.hi:
            raise ValueError(f"latent minimum {self.lo} exceeds maximum {self.hi}")
        if self.hi - self.lo > FLOAT32_MAX:
            raise ValueError(f"latent range hi - lo = {self.hi - self.lo:g} overflows float32")
        height, width = self.size
        if not (1 <= height <= MAX_FRAME_SIDE and 1 <= width <= MAX_FRAME_SIDE):
            raise ValueError(f"frame size {height}×{width} must be positive and below 2**31")
        factor = 2 ** (self.d + 1)
        expected = (LATENT_CHANNELS, math.ceil(height / factor), math.ceil(width / factor))
        if tuple(self.shape) != expected:
            raise ValueError(
                f"latent shape {list(self.shape)} does not match a {height}×{width} "
                f"frame at d={self.d} (expected {list(expected)})"
            )
        return self

    @property
    def symbols(self) -> int:
        return int(np.prod(self.shape))

    @property
    def latent_bytes(self) -> int:
        """Memory of the decoded integer latent (1 byte a symbol for n ≤ 8, else 2), known from
        the header alone so that a reader can refuse a frame before decoding it."""
        return self.symbols * code_dtype(self.n).itemsize


def _check_float32(name: str, value: float) -> None:
    """``value`` must be a float32 value: the decoder computes in float32, so anything else
    would decode to infinities, NaNs, or a range other than the one the header states."""
    if abs(value) > FLOAT32_MAX:
        raise ValueError(f"latent {name} = {value:g} is outside float32's range")
    if float(np.float32(value)) != value:
        raise ValueError(f"latent {name} = {value!r} is not a float32 value")


@dataclass(frozen=True)
class Frame:
    """A decoded container: the validated header and the integer latent (C×h×w)."""

    header: FrameHeader
    quantized: Quantized
    container_bytes: int
    payload_bytes: int
    """Size of the Huffman payload (dictionaries + bitstream), for bits-per-symbol figures."""

    @property
    def compression_factor(self) -> float:
        """3·H·W of the original frame over the container's bytes (everything counted)."""
        height, width = self.header.size
        return 3 * height * width / self.container_bytes


def pack(
    quantized: Quantized,
    *,
    codec_id: str,
    depth: int,
    image_size: tuple[int, int],
    meta: CaptureMeta,
) -> bytes:
    """Huffman-code an integer latent and wrap it, with everything needed to decode it."""
    codes = quantized.codes
    if codes.ndim != 3 or codes.shape[0] != LATENT_CHANNELS:
        raise ValueError(f"latent must be {LATENT_CHANNELS}×h×w, got shape {codes.shape}")
    payload = huffman.encode(codes, quantized.bits, channels=LATENT_CHANNELS)
    header = FrameHeader(
        v=SCHEMA_VERSION,
        codec=codec_id,
        d=depth,
        n=quantized.bits,
        shape=codes.shape,
        lo=float(np.float32(quantized.low)),
        hi=float(np.float32(quantized.high)),
        size=image_size,
        crc=zlib.crc32(payload),
        meta=meta,
    )
    return _serialize(header, payload)


def assemble(header: FrameHeader, payload: bytes) -> bytes:
    """The container of a header and its Huffman payload, the inverse of :func:`read_header`.

    It re-labels a coded frame (another frame id or time, as a load generator needs) without
    decoding and re-coding its latent; the header's CRC must still be the payload's.
    """
    if zlib.crc32(payload) != header.crc:
        raise ContainerError("CRC-32 mismatch: the header is not this payload's")
    return _serialize(header, payload)


def _serialize(header: FrameHeader, payload: bytes) -> bytes:
    body = header.model_dump(mode="python")
    body["shape"], body["size"] = list(body["shape"]), list(body["size"])
    body["huff"] = payload
    return msgpack.packb(body, use_bin_type=True)


def encode_latent(
    latent: np.ndarray,
    *,
    bits: int,
    quantizer: str = "frame",
    codec_id: str,
    depth: int,
    image_size: tuple[int, int],
    meta: CaptureMeta,
) -> bytes:
    """net_C's float output (16×h×w, or 1×16×h×w) → a complete container (Eq. 1 of the paper).

    ``quantizer`` is the codec's (:func:`latentlink.codec.quantize.float2int`): ``frame`` for the
    paper's codecs, ``unit`` for the factorized ones.
    """
    latent = latent[0] if latent.ndim == 4 else latent
    return pack(
        float2int(latent, bits, quantizer),
        codec_id=codec_id,
        depth=depth,
        image_size=image_size,
        meta=meta,
    )


def _unpack_map(data: bytes, limits: ContainerLimits) -> dict:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ContainerError("container must be bytes")
    if len(data) == 0:
        raise ContainerError("empty container")
    if len(data) > limits.max_bytes:
        raise ContainerError(
            f"container is {len(data)} bytes, above the limit of {limits.max_bytes}"
        )
    try:
        body = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,  # tuples, which strict validation takes for the shape and size
            object_pairs_hook=_unique_string_keys,
            max_bin_len=len(data),
            max_str_len=256,
            max_array_len=8,
            max_map_len=16,
            max_ext_len=0,
        )
    except ContainerError:
        raise
    except msgpack.ExtraData as error:
        raise ContainerError(
            f"{len(error.extra)} bytes follow the container's msgpack map"
        ) from error
    except (ValueError, msgpack.UnpackException, TypeError) as error:
        raise ContainerError(f"not a msgpack frame container: {_reason(error)}") from error
    if not isinstance(body, dict):
        raise ContainerError(f"container must be a msgpack map, got {type(body).__name__}")
    return body


def _unique_string_keys(pairs: list[tuple[object, object]]) -> dict:
    """A msgpack map as a dict, refusing what a dict would hide: a key given twice, or a key
    that is not a string (bytes and str keys would otherwise be two different keys)."""
    body: dict[str, object] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise ContainerError(f"map key {_short(key)} is not a string")
        if key in body:
            raise ContainerError(f"key {_short(key)} appears twice in one map")
        body[key] = value
    return body


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _reason(error: Exception) -> str:
    """What was wrong: msgpack raises some errors without a message (a stack too deep, a
    reserved type byte), and a rejection must never be an empty reason."""
    if str(error):
        return str(error)
    named = {msgpack.exceptions.StackError: "maps or arrays nested too deeply",
             msgpack.exceptions.FormatError: "a type byte msgpack does not define (0xc1)",
             msgpack.exceptions.OutOfData: "the data ends inside a value"}
    return named.get(type(error), type(error).__name__)


def read_header(
    data: bytes, limits: ContainerLimits = ContainerLimits()
) -> tuple[FrameHeader, bytes]:
    """Validate everything but the Huffman payload's content; returns (header, payload)."""
    body = _unpack_map(data, limits)
    payload = body.pop("huff", None)
    if not isinstance(payload, bytes):
        raise ContainerError("field 'huff' (the Huffman payload) is missing or not binary")
    try:
        header = FrameHeader.model_validate(body, strict=True)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'container'}: {e['msg']}"
            for e in error.errors()
        )
        raise ContainerError(f"invalid frame header: {problems}") from error
    if max(header.size) > limits.max_frame_side:
        raise ContainerError(
            f"frame size {list(header.size)} exceeds the limit of "
            f"{limits.max_frame_side} pixels per side"
        )
    if header.symbols > limits.max_symbols:
        raise ContainerError(
            f"latent of {header.symbols} symbols exceeds the limit of {limits.max_symbols}"
        )
    if zlib.crc32(payload) != header.crc:
        raise ContainerError("CRC-32 mismatch: the payload is corrupt")
    return header, payload


def unpack(data: bytes, limits: ContainerLimits = ContainerLimits()) -> Frame:
    """Validate a container and Huffman-decode its integer latent."""
    header, payload = read_header(data, limits)
    try:
        codes = huffman.decode(
            payload,
            header.n,
            header.symbols,
            channels=LATENT_CHANNELS,
            limits=huffman.HuffmanLimits(max_symbols=limits.max_symbols),
        )
    except huffman.HuffmanError as error:
        raise ContainerError(f"Huffman payload: {error}") from error
    quantized = Quantized(codes.reshape(header.shape), header.lo, header.hi, header.n)
    return Frame(header, quantized, len(data), len(payload))
