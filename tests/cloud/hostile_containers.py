"""Containers that two readers could read differently: ``test_malformed`` posts each of them and
expects 400 with the reason."""

from __future__ import annotations

import msgpack
import numpy as np

from tests.test_container_hostile import Pairs, as_pairs, encode

F32_MAX = float(np.finfo(np.float32).max)


def fields(body: bytes) -> dict:
    return msgpack.unpackb(body, raw=False)


def second_vehicle(body: bytes) -> bytes:
    """``meta.vehicle`` twice: car-2 first, then car-1 (whose token uploads it)."""
    values = fields(body)
    meta = Pairs([("vehicle", "car-2"), *values["meta"].items()])
    return encode(Pairs((key, meta if key == "meta" else value) for key, value in values.items()))


def top_level_twice(body: bytes) -> bytes:
    pairs = as_pairs(fields(body))
    pairs.append(("n", fields(body)["n"]))
    return encode(pairs)


def with_range(lo: float, hi: float):
    return lambda body: encode({**fields(body), "lo": lo, "hi": hi})


HOSTILE = {
    # case: (how to break a good container, a phrase the reason must contain)
    "a second vehicle in meta": (second_vehicle, "'vehicle' appears twice"),
    "a top-level key twice": (top_level_twice, "'n' appears twice"),
    "trailing bytes": (lambda body: body + b"\xc0\xc0", "2 bytes follow"),
    "lo/hi beyond float32": (with_range(-1e39, 1e39), "outside float32's range"),
    "hi - lo overflows float32": (with_range(-F32_MAX, F32_MAX), "overflows float32"),
    "lo not a float32 value": (with_range(0.1, 1.0), "not a float32 value"),
    "a string where a float goes": (lambda body: encode({**fields(body), "lo": "0.5"}), "lo"),
    "a size beyond int32": (lambda body: encode({**fields(body), "size": [2**40, 8]}),
                            "frame size"),
    "nested too deeply": (lambda body: b"\x91" * 3000 + b"\xc0", "nested too deeply"),
    "a reserved type byte": (lambda body: b"\xc1", "0xc1"),
}
