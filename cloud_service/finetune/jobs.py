"""Fine-tuning jobs: submitted into the database, run one at a time on a thread of their own.

The job's row is the truth: ``queued`` → ``running`` → ``succeeded`` / ``failed`` /
``cancelled``. A running job's replica writes a heartbeat every half second; a job whose
heartbeat is older than :data:`JOB_LEASE_S` (its process died) is marked ``failed`` with that
reason by any replica's job thread, at start-up and then on every poll, so no job stays
"running" forever; submitting it again is one call. The thread also keeps this replica's
serving model in step with the registry (:meth:`ModelRegistry.sync`).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path

import torch
from sqlalchemy.orm import Session, sessionmaker

from cloud_service import crud
from cloud_service.db.models import FinetuneJob, JobState
from cloud_service.finetune.data import split_holdout
from cloud_service.finetune.registry import ModelRegistry, RegistryError, UnknownVersion
from cloud_service.finetune.spec import Example, JobRequest, TrainSpec
from cloud_service.finetune.train import Cancelled, Progress, finetune, lineage_of
from cloud_service.ml import Segmenter
from cloud_service.schemas.moments import timestamp
from cloud_service.storage import BlobStore
from latentlink.models.segmenter_weights import save_segmenter

log = logging.getLogger(__name__)

POLL_S = 1.0
"""How often an idle job thread looks for queued jobs and for another replica's promotion."""
PROGRESS_INTERVAL_S = 0.5
"""How often a running job writes its progress and reads whether it was cancelled."""
JOB_LEASE_S = 300.0
"""A running job whose heartbeat is older than this was abandoned by a dead process."""
INTERRUPTED = "interrupted: the service stopped while the job ran; submit it again"


FINAL = (JobState.succeeded, JobState.failed, JobState.cancelled)


class JobError(ValueError):
    """A job that cannot run as asked; its message becomes the job's error."""


def submit(session: Session, request: JobRequest) -> FinetuneJob:
    """Queue a job (the caller's transaction commits it); a base version that is not in the
    registry is refused here, not discovered by the job thread."""
    if request.base_version is not None and crud.models.by_number(
            session, request.base_version) is None:
        raise UnknownVersion(f"no model version {request.base_version} to start from")
    return crud.jobs.add(session, request.model_dump(mode="json"))


def cancel(session: Session, job: FinetuneJob) -> None:
    """A queued job is cancelled at once; a running one stops at its next progress check."""
    if job.state == JobState.queued:
        job.state, job.finished_at = JobState.cancelled, time.time()
    elif job.state == JobState.running:
        job.cancel_requested = True


def settle_interrupted(sessions: sessionmaker[Session]) -> int:
    """Mark jobs left ``running`` by a dead process failed; returns how many."""
    with sessions.begin() as session:
        return crud.jobs.fail_abandoned(session, JOB_LEASE_S, INTERRUPTED)


def build_spec(sessions: sessionmaker[Session], request: JobRequest, base: Segmenter,
               data_dir: Path, folder: Path) -> TrainSpec:
    """Resolve a request into a training spec whose files (base weights; the run's output)
    live in ``folder``: what the job thread runs in-process and torchrun runs from a file."""
    examples, codec_id = select_examples(sessions, request, base)
    hp = request.hyperparameters
    if hp.class_weights is None:  # continue the base model's own loss weighting
        hp = hp.model_copy(update={"class_weights": base.class_weighting})
    train, holdout = split_holdout(examples, hp.holdout_fraction, hp.seed)
    base_path = folder / "base.pt"
    save_segmenter(base.model, base.config, base_path, codec_id=codec_id,
                   class_names=base.class_names,
                   provenance={"registry_version": request.base_version, "name": base.name})
    return TrainSpec(data_dir=str(data_dir), base_weights=str(base_path),
                     depth=base.config.depth, codec_id=codec_id,
                     class_names=list(base.class_names), train=train, holdout=holdout,
                     hyperparameters=hp, out=str(folder))


def select_examples(sessions: sessionmaker[Session], request: JobRequest, base: Segmenter
                    ) -> tuple[list[Example], str]:
    """The labelled frames the request selects that the base model can take, and their codec."""
    with sessions() as session:
        rows = crud.annotations.labelled_frames(
            session, source=request.source.value, depth=base.config.depth, codec=base.codec_id,
            vehicle=request.vehicle, since=timestamp(request.since),
            until=timestamp(request.until))
    codecs = {row.codec for row in rows}
    if len(codecs) != 1:
        raise JobError(f"the selection holds {len(rows)} labelled frames of codecs "
                       f"{sorted(codecs)}; a job trains on one codec's latents")
    examples = [Example(frame_id=row.id, latent_key=row.blob_key, label_key=row.label_key)
                for row in rows]
    return examples, codecs.pop()


class JobRunner:
    """The job thread of one replica."""

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore,
                 registry: ModelRegistry, data_dir: Path, device: torch.device) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._registry = registry
        self._data_dir = data_dir
        self._device = device
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="finetune-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look for queued jobs now rather than at the next poll."""
        self._wake.set()

    def close(self) -> None:
        """Stop; a job in progress stops at its next progress check and is marked failed."""
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._registry.sync()
                settle_interrupted(self._sessions)
                job_id = self._claim()
                if job_id is not None:
                    self._execute(job_id)
                    continue
            except Exception:  # the loop must survive a database hiccup; retried next poll
                log.exception("job thread iteration failed")
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _claim(self) -> int | None:
        """Take the oldest queued job, atomically (two replicas never run the same one)."""
        with self._sessions.begin() as session:
            return crud.jobs.claim_oldest_queued(session)

    def _execute(self, job_id: int) -> None:
        with self._sessions() as session:
            request = JobRequest.model_validate(crud.jobs.by_id(session, job_id).request)
        try:
            metrics, version = self._train(job_id, request)
        except Cancelled as stopped:
            state = JobState.failed if self._stop.is_set() else JobState.cancelled
            self._finish(job_id, state, error=INTERRUPTED if self._stop.is_set() else str(stopped))
        except (JobError, RegistryError) as error:  # the request's fault: one line, no trace
            log.warning("fine-tuning job %d failed: %s", job_id, error)
            self._finish(job_id, JobState.failed, error=f"{type(error).__name__}: {error}")
        except Exception as error:  # recorded on the job; the thread goes on with the next one
            log.exception("fine-tuning job %d failed", job_id)
            self._finish(job_id, JobState.failed, error=f"{type(error).__name__}: {error}")
        else:
            self._finish(job_id, JobState.succeeded, metrics=metrics, version=version)

    def _train(self, job_id: int, request: JobRequest) -> tuple[dict, int]:
        base = self._registry.base(request.base_version)
        with tempfile.TemporaryDirectory(prefix=f"job-{job_id}-") as folder:
            spec = build_spec(self._sessions, request, base, self._data_dir, Path(folder))
            result = finetune(spec, self._blobs, self._device,
                              self._progress(job_id, request.hyperparameters.iterations))
        lineage = {**lineage_of(spec), "job": job_id, "base_version": request.base_version,
                   "base_name": base.name, "source": request.source.value}
        metrics = {**result.metrics, "base": result.base_metrics}
        row = self._registry.register(result.model, result.config, spec.codec_id,
                                      base.class_names, metrics, lineage)
        decision = self._registry.promote(row.version)
        return {**metrics, "promoted": decision.promoted, "promotion": decision.reason}, \
            row.version

    def _progress(self, job_id: int, iterations: int) -> Progress:
        last = time.monotonic()

        def report(iteration: int) -> bool:
            nonlocal last
            if self._stop.is_set():
                return False
            if time.monotonic() - last < PROGRESS_INTERVAL_S and iteration != iterations:
                return True
            last = time.monotonic()
            with self._sessions.begin() as session:
                job = crud.jobs.by_id(session, job_id)
                if job.state != JobState.running:  # settled meanwhile: stop, change nothing
                    return False
                job.progress, job.heartbeat_at = iteration / iterations, time.time()
                return not job.cancel_requested
        return report

    def _finish(self, job_id: int, state: JobState, *, error: str | None = None,
                metrics: dict | None = None, version: int | None = None) -> None:
        with self._sessions.begin() as session:
            job = crud.jobs.by_id(session, job_id)
            if job.state != JobState.running:  # already settled as abandoned
                return
            job.state, job.error, job.finished_at = state, error and error[:500], time.time()
            job.metrics, job.version = metrics, version
            if state == JobState.succeeded:
                job.progress = 1.0
