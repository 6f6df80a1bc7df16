"""Click options generated from the knobs of configuration dataclasses.

A command lists the configuration fields it exposes, in the order ``--help`` shows them; each
field's :class:`~latentlink.knobs.Knob` supplies the flag's help, short alias, range, choices and
default, and the field's type annotation the click type. The option's destination is the field
name, so a command hands its keyword arguments straight to the configuration.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import click

from latentlink.knobs import Knob, knob_of

F = TypeVar("F", bound=Callable[..., Any])


def config_options(config: type, *names: str) -> Callable[[F], F]:
    """A decorator adding the options of ``config``'s knobs ``names``, in that order."""
    options = [config_option(config, name) for name in names]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def config_option(config: type, name: str) -> Callable[[F], F]:
    """The click option of the knob ``name`` of the dataclass ``config``."""
    declared = {item.name: item for item in fields(config)}
    spec = knob_of(declared[name]) if name in declared else None
    if spec is None:
        raise TypeError(f"{config.__name__}.{name} is not a command-line knob")
    kind = _value_type(get_type_hints(config)[name])
    default = declared[name].default
    flag = "--" + name.replace("_", "-")
    flags = [flag if spec.off is None else f"{flag}/{spec.off}"]
    if spec.short:
        flags.append(spec.short)
    settings: dict[str, Any] = {"help": spec.help or None, "show_default": spec.show_default}
    if spec.envvar:
        settings["envvar"] = spec.envvar
    if spec.required:
        settings["required"] = True
    elif spec.auto:
        settings["default"] = None
    elif spec.parse is not None:
        settings["default"] = ",".join(map(str, default)) if isinstance(default, tuple) else default
    else:
        settings["default"] = default
    if kind is bool:
        if spec.off is None:
            settings["is_flag"] = True
    else:
        settings["type"], callback = _click_type(kind, spec)
        if callback is not None:
            settings["callback"] = callback
    return click.option(*flags, name, **settings)


def _value_type(annotation: Any) -> Any:
    """``int`` for ``int | None``: an optional knob's flag takes values of the inner type."""
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return annotation


def _click_type(kind: Any, spec: Knob) -> tuple[Any, Callable[..., Any] | None]:
    """The click parameter type of a non-boolean knob and the callback that finishes its value."""
    if spec.parse is not None:
        return click.STRING, _parsed_by(spec.parse)
    if spec.choices:
        return click.Choice(spec.choices), None
    if spec.folder:
        return click.Path(file_okay=False, path_type=Path), _as_text
    bounded = spec.low is not None or spec.high is not None
    if kind is int:
        return (click.IntRange(spec.low, spec.high) if bounded else click.INT), None
    if kind is float:
        if bounded:
            return click.FloatRange(spec.low, spec.high, min_open=spec.low_open), None
        return click.FLOAT, None
    if kind is str:
        return click.STRING, None
    raise TypeError(f"no click type for a {kind} knob")


def _as_text(_context: click.Context, _parameter: click.Parameter, value: Path | None
             ) -> str | None:
    """Folders travel as pathlib-normalised text (``runs/x/`` → ``runs/x``), as configs store."""
    return None if value is None else str(value)


def _parsed_by(parse: Callable[[str], Any]) -> Callable[..., Any]:
    def callback(_context: click.Context, _parameter: click.Parameter, value: str) -> Any:
        try:
            return parse(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from error

    return callback
