"""The agent's configuration: one pydantic-settings class, from flags, environment and a file.

Precedence, highest first: command-line flags, environment variables ``LATENTLINK_EDGE_<NAME>``
(a prefix of its own: the cloud service reads ``LATENTLINK_<NAME>``, and a shell or a compose
file that configures both must not configure one with the other's settings), the
TOML file given with ``--config`` (keys are the field names, e.g. ``vehicle_id = "car-7"``), then
the defaults here. Each field's description is also its ``--help`` text, so the flags, the
environment and the documentation cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    ByteSize,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from latentlink.codec.container import CaptureMeta

ENV_PREFIX = "LATENTLINK_EDGE_"
SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "net_c_d2_n8.onnx"
"""net_C of the shipped default codec (d=2, n=8) as ONNX; docs/weights.md has its provenance."""


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the setting and says why."""


class AgentSettings(BaseSettings):
    """Everything ``edge-agent run`` can be told; required fields have no default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", env_ignore_empty=True, validate_default=True
    )

    source: str = Field(
        description="Where frames come from: a folder of images (sorted by name), a video file, "
        "a camera ('camera:0', '0', 'camera:/dev/video0', '/dev/video0') or 'synthetic[:N]' "
        "(generated street scenes, endless or N)."
    )
    server: AnyHttpUrl = Field(
        description="Base URL of the cloud service, e.g. https://cloud:8000."
    )
    token: SecretStr | None = Field(
        None, description="This vehicle's bearer token (prefer --token-file or the environment)."
    )
    token_file: Path | None = Field(
        None, description="Read the bearer token from this file (systemd/docker secrets)."
    )
    vehicle_id: str = Field(description="This vehicle's name, as registered with the cloud.")
    camera: str = Field("front", description="Camera name written into each frame's metadata.")
    spool: Path = Field(description="Store-and-forward folder; survives restarts.")
    model: Path = Field(
        SHIPPED_MODEL,
        description="net_C as ONNX (from 'latentlink export-onnx'); default: the shipped one, "
        "of the cloud's default codec.",
    )
    providers: Annotated[list[str], NoDecode] = Field(
        ["CPUExecutionProvider"],
        min_length=1,
        description="ONNX Runtime execution providers, comma-separated, in order of preference.",
    )
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads (0: its default).")
    fps: float | None = Field(None, gt=0, description="Capture at most this many frames/s.")
    once: bool = Field(
        False, description="Exit once the source is exhausted and the spool is drained."
    )
    once_timeout_s: float = Field(
        300.0,
        gt=0,
        description="With --once: give up when the server has neither taken nor refused a "
        "frame for this long, e.g. unreachable (exit 4; the frames stay spooled).",
    )
    watch: bool = Field(False, description="Keep watching a folder source for new images.")
    watch_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often a watched folder is scanned; a new file is taken once "
        "its size has not changed for one interval.",
    )
    synthetic_size: str = Field(
        "480x360", pattern=r"^\d{1,5}x\d{1,5}$", description="WIDTHxHEIGHT of synthetic frames."
    )
    queue_size: int = Field(
        4, ge=1, le=1024, description="Captured frames held in memory waiting for the encoder."
    )
    spool_max_bytes: ByteSize = Field(
        ByteSize(1 << 30),
        ge=16 * 1024,
        description="Spool size cap, e.g. '512MiB'; past it the oldest rejected, then the "
        "oldest pending frames are dropped (counted and logged).",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP/TLS connect timeout.")
    request_timeout_s: float = Field(
        30.0, gt=0, description="Timeout for sending a frame and for the answer."
    )
    backoff_initial_s: float = Field(
        0.5, gt=0, description="First retry delay; doubles per attempt, with jitter."
    )
    backoff_max_s: float = Field(60.0, gt=0, description="Longest retry delay.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text or JSON.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe level logged (per-frame lines are 'info')."
    )
    progress: bool | None = Field(
        None, description="Live progress line on stdout (default: when stdout is a terminal)."
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve /metrics (Prometheus) and /healthz on this port."
    )
    metrics_host: str = Field("127.0.0.1", description="Interface of the metrics endpoint.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags beat the environment, which beats the ``--config`` file."""
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)

    @field_validator("providers", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("vehicle_id", "camera")
    @classmethod
    def _valid_in_container(cls, value: str, info: ValidationInfo) -> str:
        """Refuse at start-up a name the cloud would refuse in every frame (the wire rule)."""
        field = "vehicle" if info.field_name == "vehicle_id" else "camera"
        probe = {"vehicle": "probe", "frame": "probe", "ts": 0.0, field: value}
        try:
            CaptureMeta(**probe)
        except ValidationError as error:
            raise ValueError(error.errors()[0]["msg"]) from None
        return value

    @model_validator(mode="after")
    def _token_given(self) -> AgentSettings:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of --token and --token-file")
        return self

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of synthetic frames."""
        width, height = (int(part) for part in self.synthetic_size.split("x"))
        return height, width

    def bearer_token(self) -> str:
        """The token itself, read from ``token_file`` when that is how it was given."""
        if self.token is not None:
            return self.token.get_secret_value()
        try:
            token = self.token_file.read_text().strip()
        except OSError as error:
            raise ConfigError(f"--token-file: cannot read {self.token_file}: {error}") from error
        if not token:
            raise ConfigError(f"--token-file: {self.token_file} is empty")
        return token


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def load_settings(flags: dict[str, object], config_file: Path | None = None) -> AgentSettings:
    """Settings from ``flags`` (None = not given), the environment and ``config_file``.

    Raises :class:`ConfigError` with one line per problem, naming the flag and the variable.
    """
    settings_cls = AgentSettings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"--config: {config_file} is not a file")

        class FileSettings(AgentSettings):
            model_config = SettingsConfigDict(toml_file=config_file)

        settings_cls = FileSettings
    given = {key: value for key, value in flags.items() if value is not None}
    try:
        return settings_cls(**given)
    except ValidationError as error:
        raise ConfigError(describe(error)) from error
    except ValueError as error:  # an unparseable TOML file
        raise ConfigError(f"--config: {config_file}: {error}") from error


def describe(error: ValidationError) -> str:
    """A validation error as lines ``--flag (LATENTLINK_FLAG): what is wrong``."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        where = f"{flag(name)} ({env_var(name)})" if name in AgentSettings.model_fields else name
        if problem["type"] == "missing":
            message = "required"
        elif problem["type"] == "value_error":  # our validators' text, without pydantic's prefix
            message = str(problem["ctx"]["error"])
        else:
            message = problem["msg"]
        lines.append(f"{where or 'settings'}: {message}")
    return "bad configuration:\n  " + "\n  ".join(lines)
