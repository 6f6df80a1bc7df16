"""Knobs: configuration dataclass fields that carry their own command-line description.

A training or experiment configuration is a plain dataclass; a field declared with :func:`knob`
also says how it is set from the command line (help text, short flag, range, choices), so that
:mod:`latentlink.cli.options` can generate its click option and the flag, its default and its
documentation are written in one place. Torch- and click-free: the configurations that use it
are imported when the commands are listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

KNOB = "knob"
"""The key under which a field's :class:`Knob` sits in its metadata."""


@dataclass(frozen=True)
class Knob:
    """How a configuration field appears on the command line (its flag is ``--field-name``)."""

    help: str = ""
    short: str | None = None
    """A one-letter alias such as ``-d``."""
    off: str | None = None
    """The negative flag of a boolean (``--fp32`` for ``--bf16``); None: a plain on-flag."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    """Whether ``low`` itself is excluded (a learning rate must be above 0, not at it)."""
    choices: tuple[str, ...] = ()
    folder: bool = False
    """A directory path, normalised by pathlib and stored as text."""
    envvar: str | None = None
    required: bool = False
    """The flag (or ``envvar``) must be given; the field's default only serves library callers."""
    parse: Callable[[str], Any] | None = None
    """Turns the flag's text into the field's value, raising ValueError with the reason."""
    show_default: bool = True
    auto: bool = False
    """The flag defaults to None and the command picks the value for the machine it runs on."""


def knob(default: T, help: str = "", **spec: Any) -> T:
    """A dataclass field with ``default`` whose command-line form is ``Knob(help, **spec)``.

    Typed as the default, as :func:`dataclasses.field` is, so that ``depth: int = knob(2, ...)``
    type-checks.
    """
    return field(default=default, metadata={KNOB: Knob(help, **spec)})


def knob_of(config_field: Field) -> Knob | None:
    """The :class:`Knob` of a dataclass field, None for fields the command line never sets."""
    return config_field.metadata.get(KNOB)
