"""A daemon answers with the environment it was started in: every setting that changes what a
server sees or what the daemon answers is part of its key, so a call never reaches a daemon
started under another one (a daemon started with LANSER_SANDBOX=require answering a call made
with LANSER_SANDBOX=off would report a sandbox the caller did not ask for)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

import lanser
from lanser import gitsafe
from lanser.daemon import paths

#: Settings read by the code a daemon runs, each with a value that changes the answer.
KEYED = {
    "LANSER_SANDBOX": "off",
    "LANSER_REWARD": "pr-v2",
    "LANSER_SERVER_OVERRIDES": "/nonexistent/overrides.json",
    "LANSER_LOCK_WAIT_S": "600",
    "LANSER_DEBUG": "1",
    "LANSER_APPLY_CRASH_AFTER": "1",
    "LANSER_APPLY_STOP_AFTER": "1",
    "LANSER_DAEMON_PAUSE": "applied:/nonexistent",
    "HOME": "/nonexistent/home",
    "XDG_CACHE_HOME": "/nonexistent/cache",
    "XDG_STATE_HOME": "/nonexistent/state",
    "XDG_CONFIG_HOME": "/nonexistent/config",
    "EMAIL": "someone@example.invalid",
    "GIT_AUTHOR_NAME": "someone",
    "GIT_CONFIG_GLOBAL": "/nonexistent/gitconfig",
    "GIT_CONFIG_COUNT": "1",
    "CLANGD_FLAGS": "--query-driver=/usr/bin/*",
    "CPATH": "/nonexistent/include",
    "C_INCLUDE_PATH": "/nonexistent/include",
    "PYTHONPATH": "/nonexistent/site",
    "NODE_OPTIONS": "--max-old-space-size=64",
}

#: Settings that do not change an answer: the shell's own, and lanser's options that the CLI
#: reads before the daemon is asked (sent with each request, or the client's choice).
NOT_KEYED = {
    "PWD": "/somewhere",
    "OLDPWD": "/elsewhere",
    "TERM": "dumb",
    "SHLVL": "3",
    "LANSER_FORMAT": "agent",
    "LANSER_TIMEOUT": "5",
    "LANSER_INDEX_IO": "utf-8",
    "LANSER_IDLE_TIMEOUT": "60",
    # Variables that redirect git: gitsafe drops them before running git (a pre-commit hook
    # sets GIT_INDEX_FILE to a file of its own on every commit: one daemon per commit otherwise).
    **dict.fromkeys(gitsafe.ENV_DROP, "/somewhere"),
}

#: LANSER_* settings read by code outside the daemon: the CLI's options, the bench harness.
READ_OUTSIDE_THE_DAEMON = {"LANSER_FORMAT", "LANSER_NO_DAEMON"}


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in [*KEYED, *NOT_KEYED]:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("name", sorted(KEYED))
def test_a_setting_that_changes_the_answer_makes_another_daemon(
    clean: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    before = paths.daemon_key(str(clean), None, "0.1.0")
    monkeypatch.setenv(name, KEYED[name])
    assert paths.daemon_key(str(clean), None, "0.1.0") != before


@pytest.mark.parametrize("name", sorted(NOT_KEYED))
def test_a_setting_that_does_not_change_the_answer_keeps_the_daemon(
    clean: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    before = paths.daemon_key(str(clean), None, "0.1.0")
    monkeypatch.setenv(name, NOT_KEYED[name])
    assert paths.daemon_key(str(clean), None, "0.1.0") == before


def test_the_sandbox_modes_are_three_daemons(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = set()
    for mode in ("off", "require", "auto"):
        monkeypatch.setenv("LANSER_SANDBOX", mode)
        keys.add(paths.daemon_key(str(clean), None, "0.1.0"))
    assert len(keys) == 3


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_another_bwrap_or_git_on_path_makes_another_daemon(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH itself changes when a virtualenv is activated; what the daemon runs from it (bwrap,
    whose absence turns the sandbox off under ``auto``, and git) is what counts."""
    ws, tools = clean / "ws", clean / "tools"
    ws.mkdir()
    tools.mkdir()
    path = os.environ.get("PATH", "")
    before = paths.daemon_key(str(ws), None, "0.1.0")
    monkeypatch.setenv("PATH", f"{clean / 'empty'}{os.pathsep}{path}")  # a directory with nothing in it
    assert paths.daemon_key(str(ws), None, "0.1.0") == before
    for name in ("bwrap", "git"):
        _executable(tools / name)
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{path}")
        changed = paths.daemon_key(str(ws), None, "0.1.0")
        assert changed != before, name
        before = changed


def test_an_edited_overrides_file_makes_another_daemon(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    overrides = clean / "overrides.json"
    overrides.write_text("{}")
    monkeypatch.setenv("LANSER_SERVER_OVERRIDES", str(overrides))
    before = paths.daemon_key(str(clean), None, "0.1.0")
    assert paths.daemon_key(str(clean), None, "0.1.0") == before
    overrides.write_text('{"python": {"command": "x"}}')
    assert paths.daemon_key(str(clean), None, "0.1.0") != before


def test_every_lanser_setting_the_daemon_reads_is_keyed() -> None:
    """A new ``LANSER_*`` variable read by the code a daemon runs must join the key (or be shown
    here to be read only outside the daemon)."""
    root = Path(lanser.__file__).parent
    read: set[str] = set()
    for source in root.rglob("*.py"):
        rel = source.relative_to(root).parts
        if rel[0] in ("harness", "cli"):  # the bench harness and the CLI front door: not the daemon
            continue
        read |= set(re.findall(r"[\"'](LANSER_[A-Z0-9_]+)[\"']", source.read_text()))
    assert read, "no setting found: the scan is broken"
    assert read - READ_OUTSIDE_THE_DAEMON <= set(paths._KEY_ENV)


def test_a_bare_or_relative_python_is_keyed_where_it_resolves(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--python python3`` is another interpreter under another PATH (an activated virtualenv),
    and ``--python .venv/bin/python`` another one in another directory."""
    ws, one, two = clean / "ws", clean / "one", clean / "two"
    for d in (ws, one, two):
        d.mkdir()
        _executable(d / "python3")
    path = os.environ.get("PATH", "")
    monkeypatch.setenv("PATH", f"{one}{os.pathsep}{path}")
    first = paths.daemon_key(str(ws), "python3", "0.1.0")
    monkeypatch.setenv("PATH", f"{two}{os.pathsep}{path}")
    assert paths.daemon_key(str(ws), "python3", "0.1.0") != first
    monkeypatch.chdir(one)
    relative = paths.daemon_key(str(ws), "./python3", "0.1.0")
    monkeypatch.chdir(two)
    assert paths.daemon_key(str(ws), "./python3", "0.1.0") != relative
