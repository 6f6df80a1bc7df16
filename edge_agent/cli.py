"""``edge-agent``: run the vehicle daemon and inspect its spool.

``run``'s flags are generated from :class:`edge_agent.config.AgentSettings`, so every setting
has a flag, an environment variable and a ``--help`` line from one definition. Configuration
problems (a bad value, a missing model, an unopenable source, a spool in use) are reported in
plain words with exit status 2 before anything starts; a failure while running exits with 1.

Nothing here imports torch or onnx: the model the agent runs is exported beforehand, where torch
is installed, by ``latentlink export-onnx`` (the ML tooling's one export command).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args, get_origin

import click
from pydantic.fields import FieldInfo

from edge_agent.config import AgentSettings, ConfigError, env_var, flag, load_settings
from edge_agent.encoder import EncoderError, FrameEncoder
from edge_agent.logs import ProgressLine, setup_logging
from edge_agent.metrics import Metrics, MetricsServer, current
from edge_agent.outbox import Spool, SpoolError, SpoolStatus, inspect
from edge_agent.pipeline import Agent
from edge_agent.retry import Backoff
from edge_agent.sources import SourceError, open_source
from edge_agent.uploader import Uploader

log = logging.getLogger("edge_agent")

METAVARS = {
    "source": "SOURCE",
    "server": "URL",
    "spool_max_bytes": "SIZE",
    "providers": "LIST",
    "token": "TOKEN",
    "synthetic_size": "WxH",
}
TYPE_METAVARS = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}


class UsageProblem(click.ClickException):
    """A problem the operator can fix; printed without a traceback, exit status 2."""

    exit_code = 2


def _shown(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if hasattr(value, "human_readable"):
        return value.human_readable(decimal=False)
    return str(value)


Command = Callable[..., None]


def _option(name: str, field: FieldInfo) -> Callable[[Command], Command]:
    """The click option of one setting; its default is None so that unset flags defer to the
    environment and the config file."""
    if field.is_required():
        origin = "; required"
    elif field.default is None:
        origin = ""
    else:
        origin = f"; default: {_shown(field.default)}"
    help_text = f"{field.description} [env: {env_var(name)}{origin}]"
    if field.annotation in (bool, bool | None):
        no_flag = "--no-" + flag(name).removeprefix("--")
        return click.option(f"{flag(name)}/{no_flag}", name, default=None, help=help_text)
    if get_origin(field.annotation) is Literal:
        choices = click.Choice(get_args(field.annotation))
        return click.option(flag(name), name, type=choices, default=None, help=help_text)
    return click.option(
        flag(name), name, default=None, metavar=_metavar(name, field), help=help_text
    )


def _metavar(name: str, field: FieldInfo) -> str:
    if name in METAVARS:
        return METAVARS[name]
    if name.endswith("_s"):
        return "SECONDS"
    kinds = [kind for kind in get_args(field.annotation) if kind is not type(None)]
    return TYPE_METAVARS.get(kinds[0] if kinds else field.annotation, "TEXT")


def settings_options(command: Command) -> Command:
    """Add one option per :class:`AgentSettings` field to ``command``."""
    for name, field in reversed(AgentSettings.model_fields.items()):
        command = _option(name, field)(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="latentlink")
def main() -> None:
    """LatentLink edge agent: frames → net_C (ONNX Runtime) → spool → POST /frames."""


@main.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file of settings (keys: the flag names with underscores); flags and "
    "LATENTLINK_* variables override it.",
)
@settings_options
def run(config: Path | None, **flags: object) -> None:
    """Capture, encode and upload frames until stopped (SIGTERM/SIGINT: finish the frame in
    hand, keep the spool; a second signal exits at once).

    Every frame is on disk in the spool before it is sent and leaves it only once the server
    has acknowledged it, so restarts, crashes and outages lose nothing and duplicate nothing.
    """
    try:
        settings = load_settings(flags, config)
        token = settings.bearer_token()
    except ConfigError as error:
        raise UsageProblem(str(error)) from error
    show_progress = sys.stdout.isatty() if settings.progress is None else settings.progress
    progress = ProgressLine(sys.stdout) if show_progress else None
    setup_logging(settings.log_level, settings.log_format, progress)
    with contextlib.ExitStack() as stack:
        agent = _assemble(settings, token, stack)
        _handle_signals(agent)
        info = agent.encoder.info
        log.info(
            "edge agent started",
            extra={
                "source": str(agent.source),
                "server": str(settings.server),
                "vehicle": settings.vehicle_id,
                "model": str(settings.model),
                "codec": info.codec_id,
                "depth": info.depth,
                "bits": info.bits,
                "providers": ",".join(agent.encoder.providers),
                "spool": str(settings.spool),
                "spooled": agent.spool.depth,
            },
        )
        code = agent.run(
            None if progress is None else lambda: progress.show(agent.progress())
        )
        if progress is not None:
            progress.clear()
        metrics = agent.metrics
        log.info(
            "edge agent stopped",
            extra={
                "uploaded": int(current(metrics.acknowledged)),
                "rejected": int(current(metrics.rejected)),
                "retries": int(current(metrics.retries)),
                "spooled": agent.spool.depth,
            },
        )
    sys.exit(code)


def _assemble(settings: AgentSettings, token: str, stack: contextlib.ExitStack) -> Agent:
    """Open the model, the source, the metrics endpoint, the spool and the HTTP client (closed
    by ``stack``); anything that cannot be opened is a :class:`UsageProblem`. The spool comes
    last, so that a configuration problem leaves no folder behind."""
    spool: Spool | None = None
    metrics = Metrics()
    try:
        encoder = FrameEncoder(
            settings.model,
            vehicle=settings.vehicle_id,
            camera=settings.camera,
            threads=settings.threads,
            providers=tuple(settings.providers),
        )
        source = open_source(
            settings.source,
            watch=settings.watch,
            watch_interval_s=settings.watch_interval_s,
            synthetic_size=settings.frame_size,
            camera=settings.camera,
            instance=lambda: spool.instance_id,
        )
        stack.callback(source.close)
        if settings.metrics_port is not None:
            _serve_metrics(settings, metrics, stack)
        spool = Spool(settings.spool, int(settings.spool_max_bytes))
        stack.callback(spool.close)
    except (SpoolError, SourceError, EncoderError) as error:
        raise UsageProblem(str(error)) from error
    stop = threading.Event()
    uploader = Uploader(
        str(settings.server),
        token,
        stop=stop,
        backoff=Backoff(settings.backoff_initial_s, settings.backoff_max_s),
        connect_timeout_s=settings.connect_timeout_s,
        request_timeout_s=settings.request_timeout_s,
    )
    stack.callback(uploader.close)
    return Agent(
        source=source,
        encoder=encoder,
        spool=spool,
        uploader=uploader,
        stop=stop,
        metrics=metrics,
        fps=settings.fps,
        once=settings.once,
        once_timeout_s=settings.once_timeout_s,
        queue_size=settings.queue_size,
    )


def _serve_metrics(settings: AgentSettings, metrics: Metrics, stack: contextlib.ExitStack) -> None:
    try:
        server = MetricsServer(settings.metrics_host, settings.metrics_port, metrics.render)
    except OSError as error:
        raise UsageProblem(f"--metrics-port {settings.metrics_port}: {error}") from error
    stack.callback(server.close)


def _handle_signals(agent: Agent) -> None:
    """First SIGTERM/SIGINT: graceful stop. Second: exit now (the spool is crash-safe)."""

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if agent.stopping:
            log.warning("second signal; exiting at once", extra={"signal": name})
            os._exit(128 + signum)
        log.info("stopping: finishing the frame in hand", extra={"signal": name})
        agent.stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


@main.command()
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=env_var("spool"),
    required=True,
    help=f"The agent's spool folder [env: {env_var('spool')}].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(spool: Path, as_json: bool) -> None:
    """Spool depth and bytes, rejected frames, drops, and the last upload (safe while running)."""
    try:
        state = inspect(spool)
    except (SpoolError, OSError) as error:
        raise UsageProblem(str(error)) from error
    click.echo(json.dumps(state.as_dict(), indent=2) if as_json else describe_status(state, spool))


def _when(moment: float | None) -> str:
    if moment is None:
        return "never"
    stamp = datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
    return f"{stamp} ({time.time() - moment:.0f} s ago)"


def describe_status(state: SpoolStatus, root: Path) -> str:
    """The status as a few lines for a person."""
    counters = state.counters
    agent = f"running (pid {state.agent_pid})" if state.agent_pid else "not running"
    last = counters.last_upload
    lines = [
        f"agent:       {agent}",
        f"pending:     {state.pending} frames, {state.pending_bytes / 1e6:.2f} MB"
        + (f", oldest spooled {_when(state.oldest_pending_at)}" if state.pending else ""),
        f"rejected:    {state.rejected} frames in {root / 'rejected'} (reasons in *.json)",
        f"uploaded:    {counters.uploaded} (+{counters.duplicates} already stored: resends)",
        f"dropped:     {counters.dropped} (spool over its cap)",
        "last upload: "
        + (f"{last['frame']} → HTTP {last['status']} at {_when(last['at'])}" if last else "never"),
    ]
    if counters.last_error:
        error = counters.last_error
        lines.append(f"last error:  {error['message']} at {_when(error['at'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
