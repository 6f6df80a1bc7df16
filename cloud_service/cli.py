"""``cloud-service``: run the LatentLink cloud service and manage vehicle credentials.

Configuration comes from the environment (``LATENTLINK_*``, ``DATABASE_URL``; see docs/cloud.md);
flags override it. Bad configuration is reported in one line and exits with status 2, before
anything is started.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cloud_service.core.config import Settings
from cloud_service.core.security import hash_token, new_token

VEHICLE_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
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
    replicas sharing DATABASE_URL and an S3 bucket. Readiness: GET /readyz.
    """
    import uvicorn

    from cloud_service.main import create_app
    from cloud_service.ml import ModelConfigError, codec_paths, pick_device, segmenter_path

    settings = load_settings(data_dir=data_dir)
    try:
        codec_paths(settings)
        segmenter_path(settings)
        pick_device(settings.device)
    except ModelConfigError as error:
        raise ConfigurationError(str(error)) from error
    _check_database(settings)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level,
                timeout_graceful_shutdown=10)


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
            if crud.vehicle_by_name(session, name) is not None:
                raise ConfigurationError(f"vehicle {name!r} already exists")
            crud.add_vehicle(session, name, hash_token(token))
    except IntegrityError as error:  # the same name added concurrently
        raise ConfigurationError(f"vehicle {name!r} already exists") from error
    finally:
        engine.dispose()
    click.echo(f"added vehicle {name}; its token (stored only as a hash, shown this once):")
    click.echo(token)


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
