"""Every command and subcommand's ``--help`` has examples, and every example is a command line
lanser accepts: CI users copy them.  Examples are parsed by click as the CLI would parse them
(global options after the command included), never run."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from help_examples import commands, examples

from lanser.cli.main import cli

ALL = sorted(commands())


def parse(argv: list[str]) -> tuple[str, ...]:
    """The command path ``lanser ARGV`` runs, parsing every level's options and arguments as click
    does (a bad option or value raises click's usage error), without running anything."""
    ctx = cli.make_context("lanser", list(argv))
    group: click.Command = cli
    path: list[str] = []
    while isinstance(group, click.Group):
        rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # click >= 8.2 keeps them here
        if not rest:
            break
        name, command, rest = group.resolve_command(ctx, rest)
        assert name is not None and command is not None
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
        group = command
    return tuple(path)


#: What click says of a path argument that names nothing: an example's placeholder file.
_MISSING = re.compile(r"(File|Directory|) ?'([^']+)'(: No such file or directory| does not exist)")


def parse_with_placeholders(argv: list[str], where: Path) -> tuple[str, ...]:
    """:func:`parse` in ``where``, creating the files and directories the example names
    (``fix.patch``, ``runs/``) as it meets them; an absolute placeholder (``/path/to/x.git``)
    is taken as such."""
    for _ in range(10):
        try:
            return parse(argv)
        except click.BadParameter as exc:
            m = _MISSING.search(exc.format_message())
            if m is None:
                raise
            kind, name = m.group(1), m.group(2)
            if Path(name).is_absolute():
                return _path_of(argv)
            target = where / name
            if kind == "Directory" or name.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text("")
    raise AssertionError(f"{argv}: still missing paths after 10 tries")


def _path_of(argv: list[str]) -> tuple[str, ...]:
    """The command path of ``argv`` by its leading words (for an example whose placeholder
    path cannot be created)."""
    group: click.Command = cli
    path: list[str] = []
    ctx = click.Context(cli)
    for word in argv:
        if not isinstance(group, click.Group):
            break
        command = group.get_command(ctx, word)
        if command is None:
            continue
        path.append(word)
        group = command
    return tuple(path)


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "lanser")
def test_help_has_examples_of_the_command(path: tuple[str, ...]) -> None:
    found = examples(*path)
    assert found, f"lanser {' '.join(path)} --help has no Examples section with a lanser command line"
    if path:
        assert any(_path_of(argv)[: len(path)] == path for argv in found), (path, found)


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "lanser")
def test_every_example_is_a_command_line_lanser_accepts(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for argv in examples(*path):
        try:
            ran = parse_with_placeholders(argv, tmp_path)
        except click.ClickException as exc:
            pytest.fail(f"lanser {' '.join(path)} --help: example `lanser {' '.join(argv)}`: {exc.format_message()}")
        assert ran, argv


def test_a_wrong_example_is_caught() -> None:
    """The check can fail: an unknown option, a bad choice, a missing argument."""
    for argv in (["refs", "a.py@L1:C1", "--no-such-option"], ["--index-io", "utf-32", "def", "x"], ["rename", "x"]):
        with pytest.raises(click.ClickException):
            parse(argv)


def test_a_command_without_examples_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = click.Command("bare", help="Does something.", callback=lambda: None)
    monkeypatch.setitem(cli.commands, "bare", bare)
    assert ("bare",) in set(commands())
    assert examples("bare") == []
