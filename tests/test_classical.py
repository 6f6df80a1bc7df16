"""Classical baselines: round trips, the CF budget guarantee, and monotone quality vs CF."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentlink.data.synthetic import synthetic_scene
from latentlink.evaluation import classical
from latentlink.evaluation.classical import (
    CLASSICAL_CODECS,
    ClassicalResult,
    decode,
    encode,
    encode_at_cf,
    psnr_at_bytes,
)
from latentlink.evaluation.metrics import psnr

HEIGHT, WIDTH = 72, 96
LOWEST_QUALITY = {"jpeg": 1.0, "webp": 0.0, "avif": 0.0}


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return synthetic_scene(HEIGHT, WIDTH, seed=7)[0]


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_round_trip_keeps_shape_and_dtype(frame: np.ndarray, codec: str) -> None:
    decoded = decode(encode(frame, codec, 80))
    assert decoded.shape == frame.shape
    assert decoded.dtype == np.uint8
    assert psnr(frame, decoded) > 25


def test_webp_accepts_fractional_quality(frame: np.ndarray) -> None:
    assert decode(encode(frame, "webp", 42.5)).shape == frame.shape


@pytest.mark.parametrize("codec", ["jpeg", "avif"])
def test_integer_codecs_reject_fractional_quality(frame: np.ndarray, codec: str) -> None:
    with pytest.raises(ValueError, match="integer"):
        encode(frame, codec, 42.5)


@pytest.mark.parametrize("call", [encode, encode_at_cf])
def test_unknown_codec_names_the_valid_ones(frame: np.ndarray, call) -> None:
    with pytest.raises(ValueError, match="jpeg, webp, avif"):
        call(frame, "jpeg2000", 50)


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_encode_at_cf_stays_within_budget(frame: np.ndarray, codec: str) -> None:
    target_cf = 20.0
    result = encode_at_cf(frame, codec, target_cf)
    assert isinstance(result, ClassicalResult)
    assert result.reached
    assert result.num_bytes <= 3 * HEIGHT * WIDTH / target_cf
    assert result.cf >= target_cf
    assert result.decoded.shape == frame.shape
    assert result.num_bytes == len(encode(frame, codec, result.quality))


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_encode_at_cf_picks_the_highest_quality_in_budget(frame: np.ndarray, codec: str) -> None:
    """One grid step above the chosen quality must overshoot the budget (bisection boundary)."""
    target_cf = 20.0
    result = encode_at_cf(frame, codec, target_cf)
    step = 0.1 if codec == "webp" else 1
    above = round(result.quality + step, 1)
    assert len(encode(frame, codec, above)) > 3 * HEIGHT * WIDTH / target_cf


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_impossible_target_is_reported_not_reached(frame: np.ndarray, codec: str) -> None:
    result = encode_at_cf(frame, codec, 5000)
    assert not result.reached
    assert result.cf < 5000
    assert result.quality == LOWEST_QUALITY[codec]


@pytest.mark.parametrize("codec", CLASSICAL_CODECS)
def test_higher_target_cf_never_improves_psnr(frame: np.ndarray, codec: str) -> None:
    scores = [psnr(frame, encode_at_cf(frame, codec, cf).decoded) for cf in (8, 16, 32)]
    assert scores[0] >= scores[1] >= scores[2]


def test_invalid_image_is_rejected(frame: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        encode_at_cf(frame.astype(np.float32), "jpeg", 16)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 3000), min_size=101, max_size=101),
    budget=st.integers(1, 3000),
)
def test_budget_holds_even_if_size_is_not_monotonic(sizes: list[int], budget: int) -> None:
    """Whatever the size-vs-quality curve, a reached result never exceeds the byte budget."""
    image = np.zeros((10, 10, 3), dtype=np.uint8)  # 300 raw bytes; only the shape matters

    def fake_encode(image: np.ndarray, codec: str, quality: float, **_: object) -> bytes:
        return bytes(sizes[int(quality)])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(classical, "encode", fake_encode)
        patch.setattr(classical, "decode", lambda data: image)
        result = encode_at_cf(image, "avif", target_cf=300 / budget)
    assert result.num_bytes == sizes[int(result.quality)]
    if result.reached:
        assert result.num_bytes <= budget
    else:
        assert result.quality == 0.0
        assert sizes[0] > budget


def test_psnr_at_bytes_interpolates_between_neighbouring_qualities(frame: np.ndarray) -> None:
    """Exactly at a quality's size it is that quality's PSNR; halfway to the next size, halfway
    between the two PSNRs; beyond the grid's top, the top quality's."""
    sizes = {q: len(encode(frame, "jpeg", q)) for q in (40, 41)}
    assert sizes[41] > sizes[40]
    at_40 = psnr(frame, decode(encode(frame, "jpeg", 40)))
    at_41 = psnr(frame, decode(encode(frame, "jpeg", 41)))
    assert psnr_at_bytes(frame, "jpeg", sizes[40]) == pytest.approx(at_40)
    halfway = (sizes[40] + sizes[41]) // 2
    fraction = (halfway - sizes[40]) / (sizes[41] - sizes[40])
    assert psnr_at_bytes(frame, "jpeg", halfway) == pytest.approx(
        at_40 + fraction * (at_41 - at_40))
    top = psnr(frame, decode(encode(frame, "jpeg", 95)))
    assert psnr_at_bytes(frame, "jpeg", 10 * HEIGHT * WIDTH * 3) == pytest.approx(top)
    with pytest.raises(ValueError, match="positive"):
        psnr_at_bytes(frame, "jpeg", 0)
