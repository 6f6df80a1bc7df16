"""What a running service holds: database, writer, blob store, metrics, models and worker.

Built by the app's lifespan. The database side opens at once (so /healthz answers and the
tables exist); the models load on a thread afterwards, and until they have, /readyz says 503 and
uploads are refused with 503, so a load balancer sends nothing to a replica that cannot decode.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud_service import crud
from cloud_service.core.config import Settings
from cloud_service.core.metrics import Metrics
from cloud_service.core.security import TokenCache
from cloud_service.db.session import create_tables, make_engine, make_sessions
from cloud_service.db.writer import GroupWriter
from cloud_service.finetune.jobs import JobRunner
from cloud_service.finetune.registry import ModelRegistry
from cloud_service.ml import Models, Segmenter, load_models
from cloud_service.render import Renderer
from cloud_service.storage import BlobStore, make_blob_store
from cloud_service.worker import SegmentationWorker

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The service's long-lived parts; one per process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: GroupWriter
    blobs: BlobStore
    metrics: Metrics = field(default_factory=Metrics)
    tokens: TokenCache = field(default_factory=TokenCache)
    models: Models | None = None
    worker: SegmentationWorker | None = None
    registry: ModelRegistry | None = None
    jobs: JobRunner | None = None
    load_error: str | None = None
    renderer: Renderer = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.renderer = Renderer(settings.render_concurrency, settings.render_wait_s,
                                 settings.image_cache_bytes)
        self.metrics.watch_lag(self.segmentation_lag_s)

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Connect the database (creating tables) and the blob store."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url)
        create_tables(engine)
        sessions = make_sessions(engine)
        return cls(settings, engine, sessions, GroupWriter(sessions), make_blob_store(settings))

    def load_models(self) -> None:
        """Load the models and start the worker; a failure is kept for /readyz and /healthz."""
        try:
            models = load_models(self.settings)
            registry = ModelRegistry(self.sessions, self.blobs, self.settings.data_dir / "models",
                                     models.device, models.segmenter, self._install)
            registry.sync()  # a promoted version serves from the first frame on
            models = replace(models, segmenter=registry.segmenter)
        except Exception as error:  # reported by the health endpoints instead of killing the app
            log.exception("loading models failed")
            self.load_error = f"loading models failed: {error}"
            return
        if self.settings.segmentation:
            self.worker = SegmentationWorker(models.segmenter, self.settings, self.sessions,
                                             self.writer, self.blobs, self.metrics)
            self.worker.start()
        self.metrics.device.labels(str(models.device), models.segmenter.name).set(1)
        self.metrics.models_ready.set(1)
        self.models = models
        self.registry = registry
        self.jobs = JobRunner(self.sessions, self.blobs, registry, self.settings.data_dir,
                              models.device)
        self.jobs.start()
        self._announce(models, registry.serving)

    def _announce(self, models: Models, version: int | None) -> None:
        """Say in one line which models serve: an operator must not find out from the masks."""
        segmenter = models.segmenter
        line = (f"serving on {models.device}: codecs "
                + ", ".join(f"{codec_id} (d={codec.config.depth})"
                            for codec_id, codec in models.codecs.items())
                + f"; segmenter {segmenter.describe()}, "
                + ("as configured" if version is None else f"registry version {version}")
                + f"; segmentation {'on' if self.worker is not None else 'off'}")
        log.log(logging.WARNING if self.worker is not None and not segmenter.trained
                else logging.INFO, line)

    def segmentation_lag_s(self) -> float:
        """Seconds since the oldest frame still waiting for segmentation arrived; 0 if none."""
        with self.sessions() as session:
            oldest = crud.frames.oldest_waiting(session)
        return 0.0 if oldest is None else max(0.0, time.time() - oldest)

    def _install(self, segmenter: Segmenter) -> None:
        """Hot swap: requests see the new model at once, the worker from its next batch."""
        if self.worker is not None:
            self.worker.swap(segmenter)
        if self.models is not None:
            self.models = replace(self.models, segmenter=segmenter)

    def close(self) -> None:
        """Stop the job thread and the worker, flush the writer, release connections."""
        if self.jobs is not None:
            self.jobs.close()
        if self.worker is not None:
            self.worker.close()
        self.writer.close()
        self.engine.dispose()
