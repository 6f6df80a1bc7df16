"""Every command line the README and docs/ show parses against the real CLI.

Why: a newcomer copies these lines. When an option is renamed or removed, the command still
exists and the docs still read well, so nothing else notices that the documented line now
fails with "No such option". Parsing (click's ``make_context``) runs no command: it checks the
command name, every option, the value types and choices, and the required options.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from cloud_service.cli import main as cloud_main
from edge_agent.cli import main as edge_main
from latentlink.cli import main as latentlink_main

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
PROGRAMS: dict[str, click.Group] = {
    "latentlink": latentlink_main,
    "cloud-service": cloud_main,
    "edge-agent": edge_main,
}
CODE_BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"(^|[/_=])([A-Z][A-Z0-9]*)(\.pt|$)|\[|\.\.\.")
"""Tokens the docs use as blanks to fill in (DATA, STAGE1.pt, runs/NAME, codec_dD_n8[_X].pt,
`...` for "the other flags as above"); a line holding one is a template, not a command."""


def logical_lines(block: str, first_line: int) -> list[tuple[int, str]]:
    """Shell lines of a code block with backslash continuations joined, with their first
    line's number in the document."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    for number, physical in enumerate(block.splitlines(), start=first_line):
        if not pending:
            start = number
        pending.append(physical.rstrip())
        if not physical.rstrip().endswith("\\"):
            lines.append((start, " ".join(part.rstrip("\\") for part in pending)))
            pending = []
    return lines


def first_command(line: str) -> list[str]:
    """The argv of a shell line up to its first pipe, redirection or list operator."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    argv = []
    for token in lexer:
        if set(token) <= set(lexer.punctuation_chars):
            break
        argv.append(token)
    return argv


def documented_commands() -> list[tuple[str, int, list[str]]]:
    """(document, line number, argv) of every program invocation in a fenced code block."""
    commands = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for block in CODE_BLOCK.finditer(text):
            first_line = text.count("\n", 0, block.start(1)) + 1
            for lineno, line in logical_lines(block.group(1), first_line):
                line = line.split(" #")[0].strip()
                if line.split(" ", 1)[0] not in PROGRAMS:
                    continue
                argv = first_command(line)
                if any(PLACEHOLDER.search(token) for token in argv[1:]):
                    continue
                commands.append((document.relative_to(REPO).as_posix(), lineno, argv))
    return commands


def parse(argv: list[str]) -> None:
    """Resolve ``argv`` down to its leaf command and parse its options, running nothing.

    Each group level gets an empty, resilient context (the docs pass no group options), so
    the walk needs only click's public API.
    """
    name, command, args = argv[0], PROGRAMS[argv[0]], argv[1:]
    parent = None
    while isinstance(command, click.Group):
        parent = command.make_context(name, [], parent=parent, resilient_parsing=True)
        if not args:
            raise click.UsageError(f"{name}: no command given")
        asked = args[0]
        name, command, args = command.resolve_command(parent, args)
        if command is None:  # a resilient context makes click return None, not raise
            raise click.UsageError(f"no such command {asked!r}")
    command.make_context(name, args, parent=parent)


COMMANDS = documented_commands()


def test_the_docs_show_commands_of_every_program():
    shown = {argv[0] for _, _, argv in COMMANDS}
    assert shown == set(PROGRAMS)
    assert len(COMMANDS) >= 30  # fewer means the extraction broke, not that the docs shrank


@pytest.mark.parametrize(
    "argv", [argv for *_, argv in COMMANDS],
    ids=[f"{document}:{lineno}:{argv[1] if len(argv) > 1 else ''}"
         for document, lineno, argv in COMMANDS],
)
def test_documented_command_parses(argv):
    try:
        parse(argv)
    except click.BadParameter as error:
        # A run folder that an earlier documented step creates is not here: that is expected.
        if "does not exist" not in error.format_message():
            raise AssertionError(f"{shlex.join(argv)}\n{error.format_message()}") from error
    except click.ClickException as error:
        raise AssertionError(f"{shlex.join(argv)}\n{error.format_message()}") from error


def test_a_renamed_option_is_caught():
    with pytest.raises(click.NoSuchOption):
        parse(["latentlink", "rd-curves", "--data-root", "frames", "--weight", "default"])


def test_a_misspelled_command_is_caught():
    with pytest.raises(click.UsageError, match="no such command 'rd-curve'"):
        parse(["latentlink", "rd-curve", "--data-root", "frames"])
