"""``cloud-service``: run the LatentLink cloud service and manage vehicle credentials.

Configuration comes from the environment (``LATENTLINK_*``, ``DATABASE_URL``; see docs/cloud.md);
flags override it. Bad configuration is reported in one line and exits with status 2, before
anything is started.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloud_service.core.config import Settings
from cloud_service.core.security import hash_token, new_token
from latentlink.codec.container import VEHICLE_PATTERN
from latentlink.training.seg_config import CLASS_WEIGHTINGS

if TYPE_CHECKING:
    from cloud_service.db.models import Vehicle
    from cloud_service.finetune.registry import ModelRegistry

VEHICLE_NAME = re.compile(VEHICLE_PATTERN)
"""The same rule as the container's ``meta.vehicle`` (a vehicle must be able to name itself)."""


class ConfigurationError(click.ClickException):
    """Unusable configuration: printed without a traceback, exit status 2."""

    exit_code = 2


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus the flags that were given."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        env = Settings.env_names()
        problems = "; ".join(
            f"{env.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'settings'}: {e['msg']}"
            for e in error.errors())
        raise ConfigurationError(f"bad configuration: {problems}") from error


data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (SQLite database and blob files); overrides LATENTLINK_DATA_DIR.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="latentlink", prog_name="cloud-service")
def main() -> None:
    """LatentLink cloud service: ingest, segment and serve compressed camera frames.

    Settings come from LATENTLINK_* environment variables and DATABASE_URL (all listed in
    docs/cloud.md); flags override them. Bad configuration exits with status 2.
    """


@main.command()
@data_dir_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
def serve(data_dir: Path | None, host: str, port: int, log_level: str) -> None:
    """Serve the HTTP API with uvicorn.

    One process loads the models once and runs one segmentation worker; scale out with more
    replicas sharing DATABASE_URL and an S3 bucket. Readiness: GET /readyz. Serves the shipped
    codec and segmenter unless told otherwise, and logs which models serve once they are loaded.
    """

    import uvicorn

    from cloud_service.main import create_app
    from cloud_service.ml import ModelConfigError, codec_paths, pick_device, segmenter_path
    from cloud_service.server import uvicorn_config

    settings = load_settings(data_dir=data_dir)
    try:
        codec_paths(settings)
        segmenter_path(settings)
        pick_device(settings.device)
    except ModelConfigError as error:
        raise ConfigurationError(str(error)) from error
    _check_database(settings)
    config = uvicorn_config(create_app(settings), settings, host=host, port=port,
                            log_level=log_level)
    uvicorn.Server(config).run()


@main.command("add-vehicle")
@click.argument("name")
@data_dir_option
def add_vehicle(name: str, data_dir: Path | None) -> None:
    """Register vehicle NAME and print its new bearer token.

    The token is shown once, alone on the last line; only its SHA-256 is stored. Uses the same
    database as serve (DATABASE_URL, or SQLite in the data dir).
    """
    from cloud_service import crud
    from cloud_service.db.session import create_tables, make_engine, make_sessions

    if not VEHICLE_NAME.match(name):
        raise ConfigurationError(f"vehicle name {name!r} must be 1-64 characters of "
                                 "letters, digits and . _ : -")
    settings = load_settings(data_dir=data_dir)
    _check_database(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        create_tables(engine)
        token = new_token()
        with make_sessions(engine).begin() as session:
            if crud.vehicles.by_name(session, name) is not None:
                raise ConfigurationError(f"vehicle {name!r} already exists")
            crud.vehicles.add(session, name, hash_token(token))
    except IntegrityError as error:  # the same name added concurrently
        raise ConfigurationError(f"vehicle {name!r} already exists") from error
    finally:
        engine.dispose()
    click.echo(f"added vehicle {name}; its token (stored only as a hash, shown this once):")
    click.echo(token)


@main.group()
def vehicles() -> None:
    """List vehicles, issue a vehicle a new token, or revoke its token.

    Uses the same database as serve. A running server honours a change within a second
    (POST /vehicles/NAME/... on the server itself: at once).
    """


@vehicles.command("list")
@data_dir_option
def list_vehicles(data_dir: Path | None) -> None:
    """One line per vehicle: name, registration time (UTC), active or revoked."""
    from datetime import UTC, datetime

    from cloud_service import crud

    settings = load_settings(data_dir=data_dir)
    with _sessions(settings) as sessions, sessions() as session:
        for vehicle in crud.vehicles.everyone(session):
            registered = datetime.fromtimestamp(vehicle.created_at, UTC).isoformat("T", "seconds")
            state = "revoked" if crud.vehicles.is_revoked(vehicle) else "active"
            click.echo(f"{vehicle.name}\t{registered}\t{state}")


@vehicles.command("rotate-token")
@click.argument("name")
@data_dir_option
def rotate_token(name: str, data_dir: Path | None) -> None:
    """Issue vehicle NAME a new token, printed alone on the last line; the old one stops
    working (a revoked vehicle gets its access back this way)."""
    from cloud_service import crud

    token = new_token()
    _change_vehicle(name, data_dir,
                    lambda vehicle: crud.vehicles.set_token_hash(vehicle, hash_token(token)))
    click.echo(f"new token of vehicle {name} (stored only as a hash, shown this once):")
    click.echo(token)


@vehicles.command()
@click.argument("name")
@data_dir_option
def revoke(name: str, data_dir: Path | None) -> None:
    """Refuse vehicle NAME's token from now on; its frames stay."""
    from cloud_service import crud

    _change_vehicle(name, data_dir, crud.vehicles.revoke)
    click.echo(f"revoked vehicle {name}")


def _change_vehicle(name: str, data_dir: Path | None, change: Callable[[Vehicle], None]) -> None:
    """Apply ``change`` to vehicle ``name`` in one transaction; exit 1 if there is none."""
    from cloud_service import crud

    settings = load_settings(data_dir=data_dir)
    with _sessions(settings) as sessions, sessions.begin() as session:
        vehicle = crud.vehicles.by_name(session, name)
        if vehicle is None:
            raise click.ClickException(f"no vehicle named {name!r}")
        change(vehicle)


@main.command("import-annotations")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_dir_option
@click.option("--dataset", type=click.Choice(["camvid", "cityscapes"]), required=True,
              help="How the label files are named and what their pixel values mean.")
@click.option("--source", type=click.Choice(["human", "pseudo"]), default="human",
              show_default=True, help="Who made these labels.")
@click.option("--vehicle", help="Only label this vehicle's frames.")
def import_annotations(folder: Path, data_dir: Path | None, dataset: str, source: str,
                       vehicle: str | None) -> None:
    """Label stored frames from CamVid or Cityscapes label files under FOLDER.

    A file labels the stored frames whose name (the vehicle's frame id) is the file's frame
    name; prints how many frames were labelled and which files matched no frame.
    """
    from cloud_service.finetune.annotations import Source
    from cloud_service.finetune.importer import import_annotations as run_import
    from cloud_service.storage import make_blob_store

    settings = load_settings(data_dir=data_dir)
    with _sessions(settings) as sessions, sessions.begin() as session:
        report = run_import(session, make_blob_store(settings), folder, dataset,
                            Source(source), vehicle)
    for path, reason in report.invalid.items():
        click.echo(f"invalid: {path}: {reason}", err=True)
    click.echo(f"matched {report.matched}, unmatched {len(report.unmatched)}, "
               f"invalid {len(report.invalid)}")


@main.command("pseudo-label")
@click.argument("teacher", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
@click.option("--vehicle", help="Only label this vehicle's frames.")
@click.option("--device", default="cpu", show_default=True, help="torch device of the teacher.")
def pseudo_label(teacher: Path, data_dir: Path | None, vehicle: str | None, device: str) -> None:
    """Label stored frames with a stronger latent segmenter TEACHER (source: pseudo).

    Pseudo-labels are kept apart from human labels; a job trains on them only with
    --source pseudo.
    """
    from cloud_service.finetune.pseudo import PseudoLabelError
    from cloud_service.finetune.pseudo import pseudo_label as run_pseudo_label
    from cloud_service.storage import make_blob_store
    from latentlink.models.segmenter_weights import SegmenterWeightsError

    settings = load_settings(data_dir=data_dir)
    try:
        with _sessions(settings) as sessions, sessions.begin() as session:
            count = run_pseudo_label(session, make_blob_store(settings), teacher, vehicle, device)
    except (PseudoLabelError, SegmenterWeightsError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"pseudo-labelled {count} frames")


@main.command()
@data_dir_option
@click.option("--vehicle", help="Only this vehicle's frames.")
@click.option("--since", help="Captured at or after (ISO 8601 or Unix seconds).")
@click.option("--until", help="Captured before.")
@click.option("--source", type=click.Choice(["human", "pseudo"]), default="human",
              show_default=True, help="Which labels to train on.")
@click.option("--base-version", type=int, help="Registry version to start from "
                                                "(default: the serving model).")
@click.option("--iterations", type=int)
@click.option("--lr", type=float)
@click.option("--batch-size", type=int)
@click.option("--holdout-fraction", type=float)
@click.option("--seed", type=int)
@click.option("--class-weights",
              type=click.Choice(CLASS_WEIGHTINGS),
              help="Per-class loss weights from the job's labels [default: the weighting the "
                   "base model was trained with].")
@click.option("--spec-out", type=click.Path(file_okay=False, path_type=Path),
              help="Instead of queuing, write spec.json (and the base weights) here for "
                   "`torchrun -m cloud_service.finetune.train --job-spec`.")
def finetune(data_dir: Path | None, vehicle: str | None, since: str | None, until: str | None,
             source: str, base_version: int | None, spec_out: Path | None,
             **hyperparameters: object) -> None:
    """Queue a fine-tuning job and print its id; a running server's job thread takes it.

    Hyperparameters left out take the defaults of POST /jobs/finetune (docs/finetune.md).
    With --spec-out, resolve the job into a spec for a multi-process run instead; register
    its result with register-model.
    """
    from cloud_service.finetune import jobs
    from cloud_service.finetune.registry import RegistryError, UnknownVersion
    from cloud_service.finetune.spec import JobRequest

    settings = load_settings(data_dir=data_dir)
    given = {key: value for key, value in hyperparameters.items() if value is not None}
    try:
        request = JobRequest(vehicle=vehicle, since=since, until=until,
                             source=source,
                             base_version=base_version, hyperparameters=given)
    except ValidationError as error:
        raise ConfigurationError(f"bad job: {error}") from error
    _check_database(settings)
    if spec_out is not None:
        spec_out.mkdir(parents=True, exist_ok=True)
        with _sessions(settings) as sessions:
            try:
                base = _offline_registry(settings, sessions).base(base_version)
                spec = jobs.build_spec(sessions, request, base, settings.data_dir, spec_out)
            except (RegistryError, jobs.JobError, ValueError) as error:
                raise click.ClickException(str(error)) from error
        (spec_out / "spec.json").write_text(spec.model_dump_json(indent=2))
        click.echo(f"wrote {spec_out / 'spec.json'}: {len(spec.train)} training and "
                   f"{len(spec.holdout)} held-out frames")
        return
    try:
        with _sessions(settings) as sessions, sessions.begin() as session:
            job_id = jobs.submit(session, request).id
    except UnknownVersion as error:
        raise ConfigurationError(str(error)) from error
    click.echo(f"queued job {job_id}")


@main.command()
@data_dir_option
@click.option("--since", help="Captured at or after (ISO 8601 or Unix seconds).")
@click.option("--until", help="Captured before.")
@click.option("--vehicle", help="Only this vehicle's frames.")
@click.option("--segmenter", help="Only frames this segmenter handled: its name, or 'untrained'.")
@click.option("--model-version", type=int, help="Only frames this registry version handled.")
def resegment(data_dir: Path | None, since: str | None, until: str | None, vehicle: str | None,
              segmenter: str | None, model_version: int | None) -> None:
    """Segment stored frames again, e.g. those an untrained or a replaced segmenter handled.

    The selected frames go back to the segmentation queue (pending); the running servers'
    workers segment them with the serving model. Prints how many were queued.
    """
    from cloud_service.resegment import Selection, UnknownVersion, requeue

    settings = load_settings(data_dir=data_dir)
    try:
        selection = Selection(since=since, until=until,
                              vehicle=vehicle, segmenter=segmenter, version=model_version)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'selection'}: {e['msg']}"
                             for e in error.errors())
        raise ConfigurationError(f"bad selection: {problems}") from error
    try:
        with _sessions(settings) as sessions, sessions.begin() as session:
            count = requeue(session, selection)
    except UnknownVersion as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"queued {count} frames for segmentation")


@main.command()
@click.argument("job_id", type=int)
@data_dir_option
@click.option("--cancel", is_flag=True, help="Cancel the job instead of only showing it.")
def job(job_id: int, data_dir: Path | None, cancel: bool) -> None:
    """Show a fine-tuning job as JSON (state, progress, metrics, version)."""
    from cloud_service import crud
    from cloud_service.finetune import jobs
    from cloud_service.schemas.jobs import JobOut

    settings = load_settings(data_dir=data_dir)
    with _sessions(settings) as sessions, sessions.begin() as session:
        record = crud.jobs.by_id(session, job_id)
        if record is None:
            raise click.ClickException(f"no job with id {job_id}")
        if cancel:
            jobs.cancel(session, record)
        click.echo(JobOut.from_record(record).model_dump_json(indent=2))


@main.command("register-model")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@data_dir_option
@click.option("--promote", is_flag=True, help="Then promote it if it beats the serving model "
                                              "on its held-out frames.")
def register_model(out: Path, data_dir: Path | None, promote: bool) -> None:
    """Register the weights a torchrun fine-tuning run wrote to OUT as a new model version.

    OUT holds weights.pt and result.json (python -m cloud_service.finetune.train). Running
    servers pick up a promotion within a second.
    """
    import json

    from latentlink.models.segmenter_weights import SegmenterWeightsError, load_segmenter

    settings = load_settings(data_dir=data_dir)
    _check_database(settings)
    try:
        result = json.loads((out / "result.json").read_text())
        model, config, meta = load_segmenter(out / "weights.pt")
    except (OSError, ValueError, KeyError, SegmenterWeightsError) as error:
        raise ConfigurationError(f"cannot register {out}: {error}") from error
    with _sessions(settings) as sessions:
        registry = _offline_registry(settings, sessions)
        row = registry.register(model, config, meta["codec_id"], meta["class_names"],
                                {**result["metrics"], "base": result["base_metrics"]},
                                result["lineage"])
        click.echo(f"registered version {row.version}")
        if promote:
            decision = registry.promote(row.version)
            click.echo(f"{'promoted' if decision.promoted else 'not promoted'}: {decision.reason}")


def _offline_registry(settings: Settings, sessions: sessionmaker[Session]) -> ModelRegistry:
    """The model registry as a server sees it (configured models loaded, the serving version
    current), for commands that run beside the servers; their swaps reach servers through
    the database."""
    from cloud_service.finetune.registry import ModelRegistry
    from cloud_service.ml import ModelConfigError, load_models
    from cloud_service.storage import make_blob_store

    try:
        models = load_models(settings)
    except ModelConfigError as error:
        raise ConfigurationError(str(error)) from error
    registry = ModelRegistry(sessions, make_blob_store(settings), settings.data_dir / "models",
                             models.device, models.segmenter, lambda segmenter: None)
    registry.sync()
    return registry


@contextlib.contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the service's database (checked reachable first, tables created), disposed
    of afterwards."""
    from cloud_service.db.session import create_tables, make_engine, make_sessions

    _check_database(settings)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        create_tables(engine)
        yield make_sessions(engine)
    finally:
        engine.dispose()


def _check_database(settings: Settings) -> None:
    """Fail early, in one line, when the database cannot be reached or the data dir made."""
    from sqlalchemy import text

    from cloud_service.db.session import make_engine

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except (OSError, SQLAlchemyError, ValueError, ImportError) as error:
        raise ConfigurationError(f"cannot use the database {_redacted(settings)}: "
                                 f"{str(error).splitlines()[0]}") from error


def _redacted(settings: Settings) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    except ValueError:
        return "(unparseable DATABASE_URL)"


if __name__ == "__main__":
    main()

