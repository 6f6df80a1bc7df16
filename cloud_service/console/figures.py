"""The figures of the console's pages, computed from the database and the runtime.

Kept apart from the routes so a page handler only picks a template; the histogram is laid out
here as SVG geometry, so the page draws it without any script.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cloud_service import crud
from cloud_service.core.config import UNTRAINED_SEGMENTER
from cloud_service.db.models import SegStatus
from cloud_service.runtime import Runtime
from latentlink.data.palette import colour

HISTOGRAM_FRAMES = 5000
"""The CF histogram covers the frames received last, so the page costs the same at any size."""
HISTOGRAM_BINS = 12
CHART_W, CHART_H = 480, 160
RATE_WINDOW_S = 60.0


@dataclass(frozen=True)
class Bar:
    """One histogram bar: its SVG rectangle and what it counts."""

    x: float
    y: float
    width: float
    height: float
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class Histogram:
    bars: list[Bar]
    low: float
    high: float
    frames: int
    width: int = CHART_W
    height: int = CHART_H


@dataclass(frozen=True)
class ClassShare:
    name: str
    colour: str
    share: float


def histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> Histogram | None:
    """Equal-width bins from the smallest to the largest value; None without values."""
    if not values:
        return None
    low, high = math.floor(min(values)), math.ceil(max(values))
    high = max(high, low + 1)
    step = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / step), bins - 1)] += 1
    tallest = max(counts)
    slot = CHART_W / bins
    bars = [Bar(x=i * slot + 1, y=CHART_H - CHART_H * count / tallest, width=slot - 2,
                height=CHART_H * count / tallest, low=low + i * step, high=low + (i + 1) * step,
                count=count) for i, count in enumerate(counts)]
    return Histogram(bars, low, high, len(values))


def fleet(runtime: Runtime, session: Session) -> dict:
    """Everything the Fleet page shows."""
    vehicles = crud.fleet.vehicles(session)
    statuses = crud.fleet.status_counts(session)
    frames = sum(v.frames for v in vehicles)
    weighted = sum(v.mean_cf * v.frames for v in vehicles if v.mean_cf is not None)
    now = time.time()
    models = runtime.models
    return {
        "vehicles": vehicles,
        "frames": frames,
        "bytes": sum(v.bytes for v in vehicles),
        "mean_cf": weighted / frames if frames else None,
        "rate": crud.fleet.received_since(session, now - RATE_WINDOW_S) / RATE_WINDOW_S,
        "last_hour": crud.fleet.received_since(session, now - 3600),
        "statuses": [(status.value, statuses.get(status.value, 0)) for status in SegStatus],
        "waiting": statuses.get(SegStatus.PENDING, 0) + statuses.get(SegStatus.RUNNING, 0),
        "untrained_frames": crud.fleet.handled_by(session, UNTRAINED_SEGMENTER),
        "histogram": histogram(crud.fleet.recent_compression_factors(session, HISTOGRAM_FRAMES)),
        "models": models,
        "serving": runtime.registry.serving if runtime.registry else None,
        "segmentation": runtime.worker is not None,
        "load_error": runtime.load_error,
    }


def class_shares(shares: dict[str, float] | None) -> list[ClassShare]:
    """A frame's classes, largest share first, each with the colour its mask pixels have."""
    if not shares:
        return []
    ordered = sorted(shares.items(), key=lambda item: -item[1])
    return [ClassShare(name, "#{:02x}{:02x}{:02x}".format(*colour(name)), share)
            for name, share in ordered]
