"""The service's configuration: one pydantic-settings class, read from the environment.

Every setting is an environment variable ``LATENTLINK_<NAME>`` except the database URL, which
is the conventional ``DATABASE_URL``. The CLI's flags (``--data-dir``) override the environment.
docs/cloud.md has the table of all of them; a test keeps that table and this class in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from latentlink.codec.container import ContainerLimits

ENV_PREFIX = "LATENTLINK_"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
NO_SEGMENTER = "none"
"""``LATENTLINK_SEGMENTER_WEIGHTS`` value that turns segmentation off."""
UNTRAINED_SEGMENTER = "untrained"
"""``LATENTLINK_SEGMENTER_WEIGHTS`` value for a seeded, freshly initialised segmenter."""


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
    admin_token_file: Path | None = Field(
        None, description="Read the admin token from this file instead (docker secrets, the "
                          "compose stack's init); not with LATENTLINK_ADMIN_TOKEN.")
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
    segmenter_weights: str = Field(
        "default", description="Latent segmenter weights: 'default' (shipped, for the default "
                               "codec), 'default:VARIANT', a path, 'untrained' (a seeded fresh "
                               "model: masks mean nothing) or 'none' (no segmentation).")
    segmentation: bool = Field(True, description="Segment frames after ingest; false keeps the "
                                                 "segmenter loaded for fine-tuning only.")
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
    max_frame_pixels: int = Field(
        2048 * 2048, ge=64,
        description="Largest frame (height × width) accepted, segmented or rendered; the work "
                    "and memory of a frame grow with it, not with its container's bytes.")

    render_concurrency: int = Field(2, ge=1, le=64,
                                    description="Pictures (GET /frames/{id}/image) rendered at "
                                                "once; more wait.")
    render_wait_s: float = Field(2.0, ge=0, le=60,
                                 description="How long a picture request waits for a renderer "
                                             "before 503 with Retry-After.")
    image_cache_bytes: int = Field(64 * 1024 * 1024, ge=0,
                                   description="Rendered pictures kept in memory (LRU, PNG "
                                               "bytes); 0: none.")

    request_timeout_s: float = Field(30.0, gt=0, le=3600,
                                     description="A request's headers and body must arrive "
                                                 "whole within this time, else the connection "
                                                 "is closed.")
    keep_alive_s: float = Field(5.0, gt=0, le=600,
                                description="An idle keep-alive connection is closed after this.")
    max_connections: int = Field(1000, ge=1,
                                 description="Open connections (and requests in flight) served "
                                             "at once; beyond it requests get 503.")

    segmentation_order: Literal["oldest", "newest", "stride"] = Field(
        "oldest", description="Which pending frames the worker takes first while behind: "
                              "oldest, newest, or stride (every k-th per vehicle first).")
    segmentation_stride: int = Field(4, ge=2, le=1000,
                                     description="k of the stride order.")

    @field_validator("codec_weights", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _none_means_no_segmentation(self) -> Settings:
        """``segmenter_weights=none`` switches segmentation off; asking for segmentation
        explicitly at the same time is a contradiction, refused rather than guessed at."""
        if self.segmenter_weights == NO_SEGMENTER:
            if "segmentation" in self.model_fields_set and self.segmentation:
                raise ValueError(f"LATENTLINK_SEGMENTATION=true contradicts "
                                 f"LATENTLINK_SEGMENTER_WEIGHTS={NO_SEGMENTER}")
            self.segmentation = False
        return self

    @model_validator(mode="after")
    def _admin_token_from_file(self) -> Settings:
        """A file keeps the token out of the environment (``docker inspect``, process lists)
        and lets a one-shot init generate it; read once, here, so a bad file stops start-up
        instead of silently turning admin access off."""
        path = self.admin_token_file
        if path is None:
            return self
        if self.admin_token is not None:
            raise ValueError("give LATENTLINK_ADMIN_TOKEN or LATENTLINK_ADMIN_TOKEN_FILE, "
                             "not both")
        try:
            token = path.read_text().strip()
        except OSError as error:
            raise ValueError(f"LATENTLINK_ADMIN_TOKEN_FILE: cannot read {path}: "
                             f"{error.strerror}") from error
        if not token:
            raise ValueError(f"LATENTLINK_ADMIN_TOKEN_FILE: {path} is empty")
        self.admin_token = SecretStr(token)
        return self

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
