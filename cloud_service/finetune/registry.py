"""The model registry: versions (weights in the blob store), the promotion gate and hot swap.

A version's weights live in the blob store under ``models/<sha256>.pt`` (content-addressed, so
every replica finds them, files or S3) and are cached in ``<data dir>/models`` for loading. The
serving model is the latest row of ``promotions``; each replica's job thread compares it with
what it serves and swaps, so a promotion on one replica reaches all of them.

The gate: a version is promoted only if its mean Dice on its own held-out frames beats the
serving model's on the same frames, both evaluated now with the same code; ``force`` skips it.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from sqlalchemy.orm import Session, sessionmaker

from cloud_service import crud
from cloud_service.db.models import ModelVersion
from cloud_service.finetune.annotations import ignore_index
from cloud_service.finetune.data import load_examples
from cloud_service.finetune.spec import Example
from cloud_service.finetune.train import summary
from cloud_service.ml import Segmenter
from cloud_service.storage import BlobStore
from latentlink.data.datasets import LabelSpec
from latentlink.models.segmenter import SegmenterConfig
from latentlink.models.segmenter_weights import load_segmenter, save_segmenter
from latentlink.training.seg_trainer import evaluate

log = logging.getLogger(__name__)


class RegistryError(LookupError):
    """A request the registry cannot honour; the message says why."""


class UnknownVersion(RegistryError):
    """No such version in the registry."""


@dataclass(frozen=True)
class Decision:
    """What a promotion request did, and the numbers it was decided on."""

    version: int | None
    promoted: bool
    reason: str
    candidate_dice: float | None = None
    serving_dice: float | None = None


def weights_key(digest: str) -> str:
    return f"models/{digest}.pt"


class ModelRegistry:
    """Registers versions, decides promotions and keeps this replica's serving model current."""

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore, cache_dir: Path,
                 device: torch.device, configured: Segmenter,
                 install: Callable[[Segmenter], None]) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._cache_dir = cache_dir
        self._device = device
        self._configured = configured
        self._install = install
        self._lock = threading.Lock()
        self.serving: int | None = None
        """The registry version this replica serves; None: the configured model."""
        self.segmenter = configured

    # -- versions ------------------------------------------------------------------------------
    def register(self, model: torch.nn.Module, config: SegmenterConfig, codec_id: str,
                 class_names: tuple[str, ...], metrics: dict, lineage: dict) -> ModelVersion:
        """Store the weights blob, then the row; returns the new version."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "weights.pt"
            save_segmenter(model, config, path, codec_id=codec_id, class_names=class_names,
                           provenance=lineage)
            data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        self._blobs.put(weights_key(digest), data)
        with self._sessions.begin() as session:
            row = crud.models.add_version(session, weights_key=weights_key(digest),
                                          name=digest[:16], codec_id=codec_id, metrics=metrics,
                                          lineage=lineage)
        return row

    def versions(self) -> list[ModelVersion]:
        with self._sessions() as session:
            return crud.models.versions(session)

    def version(self, number: int) -> ModelVersion:
        with self._sessions() as session:
            row = crud.models.by_number(session, number)
        if row is None:
            raise UnknownVersion(f"no model version {number}")
        return row

    def weights_path(self, row: ModelVersion) -> Path:
        """A local file of the version's weights (fetched from the blob store once)."""
        path = self._cache_dir / f"{row.name}.pt"
        if not path.is_file():
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(self._blobs.get(row.weights_key))
            partial.replace(path)
        return path

    def base(self, number: int | None) -> Segmenter:
        """The model a job starts from: version ``number``, or the serving one."""
        return self.segmenter if number is None else self.load(self.version(number))

    def load(self, row: ModelVersion) -> Segmenter:
        model, config, meta = load_segmenter(self.weights_path(row), map_location=self._device)
        return Segmenter.from_weights(model, config, meta, row.name)

    # -- promotion -----------------------------------------------------------------------------
    def promote(self, number: int, force: bool = False) -> Decision:
        """Serve version ``number`` if it beats the serving model on its held-out frames."""
        with self._lock:
            row = self.version(number)
            if number == self.serving:
                return Decision(number, False, f"version {number} already serves")
            candidate = self.load(row)
            holdout = [Example(**e) for e in row.lineage["holdout"]]
            ours = self._dice(candidate, holdout)
            theirs = self._dice(self.segmenter, holdout)
            if not force and not (theirs is None or (ours is not None and ours > theirs)):
                return Decision(number, False,
                                f"mean Dice {ours} on its {len(holdout)} held-out frames does "
                                f"not beat the serving model's {theirs}", ours, theirs)
            reason = "forced by an operator" if force else f"mean Dice {ours} > {theirs}"
            self._record(number, force, reason)
            self._serve(number, candidate)
            return Decision(number, True, reason, ours, theirs)

    def rollback(self) -> Decision:
        """Serve again whatever served before the current model (a promotion of its own)."""
        with self._lock:
            with self._sessions() as session:
                rows = crud.models.latest_promotions(session, 2)
            if not rows:
                raise RegistryError("nothing to roll back: the configured model has always served")
            previous = rows[1].version if len(rows) > 1 else None
            reason = f"rollback from version {rows[0].version}"
            segmenter = self._configured if previous is None else self.load(self.version(previous))
            self._record(previous, True, reason)
            self._serve(previous, segmenter)
            return Decision(previous, True, reason)

    def sync(self) -> None:
        """Serve what the database says serves (at start-up, and after another replica's
        promotion)."""
        with self._lock:
            with self._sessions() as session:
                latest = crud.models.latest_promotions(session, 1)
            wanted = latest[0].version if latest else None
            if wanted == self.serving:
                return
            segmenter = self._configured if wanted is None else self.load(self.version(wanted))
            self._serve(wanted, segmenter)

    def _record(self, number: int | None, forced: bool, reason: str) -> None:
        with self._sessions.begin() as session:
            crud.models.add_promotion(session, number, forced, reason[:500])

    def _serve(self, number: int | None, segmenter: Segmenter) -> None:
        self._install(segmenter)
        self.serving, self.segmenter = number, segmenter
        log.info("serving segmenter %s (version %s)", segmenter.name, number)

    def _dice(self, segmenter: Segmenter, holdout: list[Example]) -> float | None:
        names = segmenter.class_names
        labels = LabelSpec(names, ignore_index(names))
        data = load_examples(holdout, self._blobs, segmenter.config.depth, labels.ignore_index)
        return summary(evaluate(segmenter.model, data, labels, self._device))["dice"]
