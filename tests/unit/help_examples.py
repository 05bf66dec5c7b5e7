"""The CLI's commands and the examples their ``--help`` gives, for tests to check and to run.

An example is a line of the help's ``Examples:`` block (up to its first blank line); a line
ending in ``\\`` goes on on the next.  The ``lanser`` commands of a shell line are taken apart
from pipes, ``&&`` and redirections (``git diff > change.patch && lanser check change.patch``
gives ``["check", "change.patch"]``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import click
from click.testing import CliRunner

from lanser.cli.main import cli

__all__ = ["commands", "example_lines", "examples", "help_text"]

_SEPARATORS = ("&&", "||", "|", ";")
_REDIRECTIONS = (">", ">>", "<", "2>", "&>")


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command and group under ``group`` (the root itself as ``()``)."""
    yield path
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        elif command is not None:
            yield (*path, name)


def help_text(*path: str) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def example_lines(*path: str) -> list[str]:
    """The lines of the Examples block of ``lanser PATH --help`` (continuations joined)."""
    text = help_text(*path)
    if "Examples:" not in text:
        return []
    lines: list[str] = []
    for raw in text.split("Examples:", 1)[1].splitlines()[1:]:
        line = raw.strip()
        if not line:
            break
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1].rstrip() + " " + line
        else:
            lines.append(line)
    return lines


def examples(*path: str) -> list[list[str]]:
    """The lanser command lines of ``lanser PATH --help``'s examples, as argument lists without
    ``lanser``, pipes, redirections and comments."""
    out = []
    for line in example_lines(*path):
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        words: list[str] = []
        redirected = False
        for word in [*lex, ";"]:
            if word in _SEPARATORS:
                if words[:1] == ["lanser"]:
                    out.append(words[1:])
                words, redirected = [], False
            elif word in _REDIRECTIONS:
                redirected = True
            elif not redirected:
                words.append(word)
    return out
