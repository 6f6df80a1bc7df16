"""Lossless stage of the codec: canonical, length-limited Huffman coding of integer latents.

The quantised latent (uint8 for n ≤ 8 bits, uint16 for n ≤ 16) is coded order-0 with canonical
Huffman codes.  A frame can be as small as ~8 KB, so the dictionary bytes matter as much as the
code itself; and the cloud decodes every frame, so the inner loops are C
(``latentlink.codec._huffman``, plain CPython buffer protocol, no numpy C API).  This module only
checks arguments, allocates the output and documents the format.

Code lengths
    Optimal Huffman lengths (Moffat–Katajainen, O(n) after a sort), limited to
    ``MAX_CODE_LENGTH = 16`` bits.  When the unconstrained code would be longer (skewed counts,
    e.g. Fibonacci-like, or a count-1 outlier in a 43k frame), the lengths are recomputed with
    package-merge, which is optimal under the limit.  16 bits keeps every code inside one
    64-bit refill with room for three codes and bounds the dictionary's length field to 4 bits;
    the limit only binds for symbols rarer than ~1/2000, where it costs a fraction of a bit each.
    Codes are always complete (Kraft sum exactly 1).

Table modes
    * mode 0, one table for the whole array;
    * mode 1, one table per channel: the flattened array split into ``channels`` equal
      contiguous parts (the latent's first axis);
    * mode 2, context tables per channel (only for a ``channels × h × w`` array): each channel
      plane picks a bucket count K in 1..8; with K ≥ 2 it has K tables and codes each symbol
      with the table its already-decoded left and up neighbours select (below).
    The encoder computes the exact size of each mode (dictionaries included) and writes the
    smallest; ties go to the lower mode.  Latent channels have very different scales (and many
    are dead), so mode 1 beats mode 0 by 8–21 % on 16×45×60 frames despite paying for 16
    dictionaries; mode 2 takes another 5 % off real CamVid latents (every val frame chose it),
    and loses on spatially i.i.d. data, where it costs 3 bits per channel and a varint more.

Contexts (mode 2)
    A latent channel is roughly Laplacian around its mode with a scale that varies across the
    image, so how far the neighbours lie from the mode predicts the spread of the next symbol.
    Per plane, ``ref`` is sent (the encoder uses the plane's most frequent symbol) and a symbol's
    *activity* is the bit length of ``|left − ref| + |up − ref|`` (0 when both equal ref, 1 for
    a distance of 1, 2 for 2–3, 3 for 4–7, …); a neighbour outside the plane counts as ref.  Its
    context is ``min(activity, K − 1)``.  Each context's table is an ordinary plain or sparse
    table of the symbols that occur in that context, so the encoder plans each context's
    symbols exactly like a mode-1 segment and tries K = 2, 3, … while the plane gets smaller.
    On CamVid train latents the ideal conditional entropy with 4 such contexts is 14 % below
    the per-channel order-0 entropy; per-frame dictionaries and whole-bit codes leave 4–5 %
    (plain tables only: 2 %; the sparse kind matters, since in a quiet context the symbol is
    ref far more often than half the time).

Table kinds (one bit per table; each table takes the cheaper kind, by exact bit count)
    * plain: canonical Huffman over every used symbol.  With one used symbol the table is
      *constant*: its dictionary names the symbol and its bitstream is empty (0 bits/symbol),
      so a dead latent channel costs 17 bits in all (for 8-bit symbols).
    * sparse: for a segment where one symbol (the "MPS") is more than half of the symbols.
      Huffman cannot go below 1 bit/symbol, but a nearly dead channel carries ~0.05 bit of
      information per symbol; so the MPS is sent once, and the segment as runs of it, each run
      (exp-Golomb of order k, chosen per table) followed by the Huffman code of the symbol that
      ends it.  On real rate-aware latents this takes 15 % off the frame.

Wire format (all of it is in the payload; nothing else is needed besides the caller's
``alphabet_bits``, ``count`` and ``channels``, which the payload must repeat exactly)::

    byte 0        (mode << 4) | (alphabet_bits - 1)      mode: 0, 1 or 2 (above)
    varint        count      (LEB128, minimal encoding)
    varint        channels   (LEB128, minimal encoding; also present in mode 0)
    varint        width      mode 2 only: columns of a plane; ≥ 1, divides count / channels
    bitstream     modes 0 and 1: for each segment (1 in mode 0, `channels` in mode 1,
                  count / segments symbols each), in order:
                      kind            1 bit: 0 plain, 1 sparse
                      sparse only:    mps (B bits), k (4 bits)
                      dictionary      (below) — for sparse: of the symbols other than mps
                      data            plain: one code per symbol (none if constant)
                                      sparse: pairs [egk(run of mps), code(next symbol)],
                                      then egk(final run) reaching the segment's end
                                      exactly (0 if the segment ends with a non-mps symbol);
                                      a constant dictionary's code is empty
                  mode 2: for each channel plane, in order:
                      K - 1           3 bits
                      K = 1:          one segment, exactly as in mode 1
                      K ≥ 2:          ref (B bits), then K table headers in context order
                                      (kind bit, sparse fields, dictionary, as above; a
                                      context that never occurs has a constant table),
                                      then the plane's symbols in scan order, each coded
                                      with its context's table: plain, its code; sparse,
                                      runs interleaved: when the context occurs at its start
                                      or after one of its non-mps symbols, egk(r) is read
                                      first, r = the run of mps over its next occurrences;
                                      occurrences inside the run carry no bits, the one
                                      after it carries a code.  At the plane's end, each
                                      sparse context waiting for a run has egk(0) (so the
                                      bits per context equal a mode-1 segment's).
                  bits are packed LSB first: bit i of the stream is bit (i % 8) of byte i // 8;
                  a k-bit field is stored least significant bit first; Huffman codes are sent
                  most significant bit first (i.e. bit-reversed fields, as in deflate).
                  The last byte is zero-padded; no bytes may follow it.

    An empty array (count 0) is the three header bytes and nothing else.

Dictionary (one per table, B = alphabet_bits, B-bit fields)::

    lo        B bits     smallest used symbol
    span      B bits     largest used symbol - lo;  span 0: constant table, dictionary ends
    len(lo)   4 bits     code length - 1
    then tokens until symbol lo + span has a length; `prev` is the last length, `dir`
    the last direction of change (starts at -1: lengths usually fall towards the mode):
        0                        next symbol: length prev
        10                       next symbol: length prev + dir
        110                      next symbol: length prev - dir, and dir flips
        1110 eg(r - 1)           the next r symbols are unused (length 0); a length token
                                 (not another run) follows
        1111 s eg(|d| - 2)       next symbol: length prev + d, d = ±(|d|), s = 1 if negative;
                                 dir becomes sign(d)
    eg(v) is order-0 exp-Golomb: z = floor(log2(v+1)) zero bits, a one bit, then the low z
    bits of v+1 as a z-bit field; egk(v) is eg(v >> k) followed by the k low bits of v.
    Lengths of latents move by about one per symbol around a single mode, so most symbols
    cost 1–3 bits; a 256-symbol geometric table costs ~36 bytes.
    Decoders reject: ranges past the alphabet, lengths outside 1..16, runs past the range,
    codes whose Kraft sum is not exactly 1 (over-subscribed *or* incomplete), a last symbol
    with length 0, sparse runs that overflow their segment, and (mode 2) a width that does not
    divide the plane, runs longer than the plane's rest, a context whose last run is not used
    up and a final run that is not 0.

Hostile input
    :func:`decode` treats the payload as hostile.  Every malformed, truncated, inconsistent or
    oversized input raises :class:`HuffmanError` (a ``ValueError``); the output size is checked
    against :class:`HuffmanLimits` before anything is allocated, and the C decoder's own
    allocations are bounded by the alphabet (≤ 8 tables of ≤ 2^16 entries), never by stream
    contents.  Mode 2 is decoded sequentially (a context depends on decoded neighbours), every
    symbol consuming at most one run and one code, so the work is linear in count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentlink.codec import _huffman
from latentlink.codec.entropy import entropy_bits

__all__ = [
    "MAX_CODE_LENGTH",
    "HuffmanError",
    "HuffmanLimits",
    "code_lengths",
    "decode",
    "dictionary_bits",
    "encode",
    "entropy_bits",
    "payload_mode",
]

MAX_CODE_LENGTH: int = _huffman.MAX_CODE_LENGTH
"""Longest Huffman code, in bits (16)."""

MAX_ALPHABET_BITS = 16
MODE_SINGLE, MODE_PER_CHANNEL, MODE_CONTEXT = 0, 1, 2
_AUTO = -1
_MAX_CHANNELS = 1 << 32  # only reachable with count 0; keeps the C call from overflowing
_SYMBOL_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


class HuffmanError(ValueError):
    """The one exception type for every malformed/hostile input."""


@dataclass(frozen=True)
class HuffmanLimits:
    """Bounds :func:`decode` enforces before allocating, so a hostile header cannot OOM us."""

    max_symbols: int = 1 << 24
    max_alphabet_bits: int = MAX_ALPHABET_BITS


def encode(symbols: np.ndarray, alphabet_bits: int, channels: int = 1) -> bytes:
    """Huffman-code ``symbols`` (uint8/uint16, any shape, C order) into a self-contained payload.

    ``channels`` splits the flattened array into that many equal contiguous parts, each of which
    may get its own table.  When ``symbols`` is 3-D with ``channels`` planes (a latent,
    channels × h × w), the context mode is tried too: per plane, tables switched by the
    already-coded left and up neighbours.  The encoder keeps the smallest payload.
    Raises ``ValueError`` if a symbol is ≥ 2**alphabet_bits or ``channels`` does not divide the
    size, ``TypeError`` for other dtypes.
    """
    return _encode(symbols, alphabet_bits, channels, _AUTO)


def _encode(symbols: np.ndarray, alphabet_bits: int, channels: int, mode: int) -> bytes:
    """:func:`encode` with the table mode forced (0/1/2) or automatic (-1); for measurements."""
    flat = _flat_symbols(symbols)
    _check_int("alphabet_bits", alphabet_bits, 1, MAX_ALPHABET_BITS, ValueError)
    _check_int("channels", channels, 1, _MAX_CHANNELS, ValueError)
    if flat.size % channels:
        raise ValueError(f"channels={channels} does not divide the {flat.size} symbols")
    shape = np.shape(symbols)
    width = shape[2] if len(shape) == 3 and shape[0] == channels and flat.size else 0
    if mode == MODE_CONTEXT and not width:
        raise ValueError("the context mode needs symbols shaped (channels, height, width)")
    return _huffman.encode(flat, flat.itemsize, alphabet_bits, channels, width, mode)


def decode(
    payload: bytes,
    alphabet_bits: int,
    count: int,
    channels: int = 1,
    limits: HuffmanLimits = HuffmanLimits(),
) -> np.ndarray:
    """Decode a payload from :func:`encode` into a flat array of ``count`` symbols.

    The dtype is uint8 if ``alphabet_bits`` ≤ 8 else uint16.  ``alphabet_bits``, ``count`` and
    ``channels`` come from the (separately validated) frame header and the payload must repeat
    them.  Anything wrong with the payload or these arguments raises :class:`HuffmanError`.
    """
    max_bits = min(limits.max_alphabet_bits, MAX_ALPHABET_BITS)
    _check_int("alphabet_bits", alphabet_bits, 1, max_bits, HuffmanError)
    _check_int("count", count, 0, limits.max_symbols, HuffmanError)
    _check_int("channels", channels, 1, _MAX_CHANNELS, HuffmanError)
    if count % channels:
        raise HuffmanError(f"channels={channels} does not divide count={count}")
    try:
        view = memoryview(payload)
    except TypeError as error:
        raise HuffmanError(f"payload must be bytes-like, got {type(payload).__name__}") from error
    if not view.c_contiguous:
        raise HuffmanError("payload must be a contiguous buffer")
    out = np.empty(count, dtype=np.uint8 if alphabet_bits <= 8 else np.uint16)
    message = _huffman.decode(view, out, alphabet_bits, count, channels)
    if message is not None:
        raise HuffmanError(message)
    return out


def code_lengths(counts: np.ndarray) -> np.ndarray:
    """Length-limited Huffman code lengths (uint8, 0 = unused) for per-symbol ``counts``.

    Exactly what the encoder uses for one table.  A single used symbol gets length 0: the
    encoder sends such a table as a constant with an empty bitstream.
    """
    values = np.ascontiguousarray(counts, dtype=np.uint64).reshape(-1)
    return np.frombuffer(_huffman.code_lengths(values), dtype=np.uint8).copy()


def dictionary_bits(lengths: np.ndarray, alphabet_bits: int) -> int:
    """Bits of a plain table's header (kind bit + dictionary) carrying ``lengths``.

    ``lengths`` is uint8 per symbol, 0 = unused, as :func:`code_lengths` returns.
    """
    values = np.ascontiguousarray(lengths, dtype=np.uint8).reshape(-1)
    if values.size and int(values.max()) > MAX_CODE_LENGTH:
        raise ValueError(f"code lengths must be <= {MAX_CODE_LENGTH}")
    return int(_huffman.dictionary_bits(values, alphabet_bits))


def payload_mode(payload: bytes) -> int:
    """Table mode recorded in a payload's first byte (0 one table, 1 per channel, 2 context)."""
    if not payload:
        raise HuffmanError("empty payload")
    return payload[0] >> 4


def _flat_symbols(symbols: np.ndarray) -> np.ndarray:
    """C-contiguous 1-D view (copy only if needed) of a uint8/uint16 array."""
    array = np.asarray(symbols)
    if array.dtype not in _SYMBOL_DTYPES:
        raise TypeError(f"symbols must be uint8 or uint16, got {array.dtype}")
    return np.ascontiguousarray(array).reshape(-1)


def _check_int(
    name: str, value: object, low: int, high: int | None, error: type[ValueError]
) -> None:
    """Raise ``error`` unless ``value`` is an int (not bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise error(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise error(f"{name} must be in {bound}, got {value}")
