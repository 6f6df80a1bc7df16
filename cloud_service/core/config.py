"""The service's configuration: one pydantic-settings class, read from the environment.

Every setting is an environment variable ``LATENTLINK_<NAME>`` except the database URL, which
is the conventional ``DATABASE_URL``. The CLI's flags (``--data-dir``) override the environment.
docs/cloud.md has the table of all of them; a test keeps that table and this class in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from latentlink.codec.container import ContainerLimits

ENV_PREFIX = "LATENTLINK_"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class Settings(BaseSettings):
    """Everything an operator can set; defaults run a single embedded node (SQLite + files)."""

    # An empty variable counts as unset, as compose's ${VAR:-} leaves it.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, populate_by_name=True,
                                      extra="forbid", env_ignore_empty=True)

    data_dir: Path = Field(Path("data"), description="Embedded database and blob files live here.")
    database_url: str | None = Field(
        None, validation_alias="DATABASE_URL",
        description="SQLAlchemy URL, e.g. postgresql+psycopg://u:p@host/db; "
                    "unset: SQLite in the data dir.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token of operators (read every vehicle's frames); "
                          "unset: no admin access.")
    console_secret: SecretStr | None = Field(
        None, description="Key that signs the console's session cookies; unset: a random key "
                          "per process (sign-ins end at a restart and hold on one replica only).")
    console_session_s: int = Field(8 * 3600, ge=60, le=7 * 24 * 3600,
                                   description="How long a console sign-in lasts, in seconds.")

    s3_bucket: str | None = Field(None, description="Store blobs in this bucket; unset: files "
                                                    "under the data dir.")
    s3_endpoint_url: str | None = Field(None, description="S3-API endpoint (MinIO, Ceph, moto); "
                                                          "unset: AWS.")
    s3_region: str = Field("us-east-1", description="Region of the bucket.")
    s3_prefix: str = Field("", description="Key prefix inside the bucket, e.g. 'prod/'.")
    s3_access_key_id: str | None = Field(None, description="Unset: boto3's credential chain.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Pairs with the key id.")

    codec_weights: Annotated[list[str], NoDecode] = Field(
        ["default"], min_length=1,
        description="Comma-separated codec weights the server decodes: paths, 'default' or "
                    "'default:VARIANT' (shipped).")
    codec_depth: int = Field(2, ge=1, le=3, description="Digest units d of 'default' weights.")
    segmenter_weights: str | None = Field(
        None, description="Latent segmenter weights (path or 'default'); unset: a freshly "
                          "initialised model, reported as 'untrained'.")
    segmentation: bool = Field(True, description="Segment frames after ingest.")
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda or cuda:N.")

    batch_size: int = Field(8, ge=1, le=256, description="Micro-batch size B of the segmenter.")
    batch_timeout_ms: float = Field(20.0, ge=0, le=10_000,
                                    description="Longest wait T for a micro-batch to fill.")
    queue_size: int = Field(256, ge=1, description="Frames held in memory for the segmenter; "
                                                   "more wait in the database.")
    sweep_interval_s: float = Field(5.0, gt=0, description="How often an idle worker looks for "
                                                           "frames left pending.")
    segmentation_lease_s: float = Field(300.0, gt=0, description="A frame claimed this long ago "
                                                                 "and not done is claimed again.")

    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest accepted upload.")
    max_frame_side: int = Field(4096, ge=8, description="Largest frame height or width.")
    max_latent_bytes: int = Field(32 * 1024 * 1024, ge=1024,
                                  description="Largest decoded latent (symbols × bytes each).")

    @field_validator("codec_weights", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("must be auto, cpu, cuda or cuda:N")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database to use: DATABASE_URL, else SQLite inside the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'latentlink.db'}"

    @property
    def container_limits(self) -> ContainerLimits:
        """Bounds checked on a container's header before any latent is allocated."""
        return ContainerLimits(max_bytes=self.max_body_bytes, max_frame_side=self.max_frame_side,
                               max_symbols=self.max_latent_bytes)

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Field name → the environment variable that sets it."""
        return {name: field.validation_alias if isinstance(field.validation_alias, str)
                else f"{ENV_PREFIX}{name.upper()}" for name, field in cls.model_fields.items()}
