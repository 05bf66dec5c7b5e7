"""Shared fixtures: the sample workspace, a CLI runner with a fixed width."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample"

# lanser keeps its journals, workspace locks and committed-request records in the
# per-user state directory: the suite gets a private one (mode 0700, as lanser
# requires), so a run leaves nothing in the real one and never reads it.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="lanser-test-state-")

#: git's command-line configuration variables as the suite found them (see the fixture below).
_GIT_CONFIG_AT_START = {k: v for k, v in os.environ.items() if k.startswith("GIT_CONFIG_")}


@pytest.fixture(autouse=True)
def _no_daemon_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process answers unless a test is about the daemon: a test must not
    leave a warm daemon behind for each of its temporary workspaces."""
    monkeypatch.setenv("LANSER_NO_DAEMON", "1")


@pytest.fixture(autouse=True)
def _git_overrides_stay_with_their_test():
    """A harness episode run in-process hardens git for its whole process (``GIT_CONFIG_COUNT``:
    fsmonitor and hooks off); that must not leak into later tests, which run git as users do
    (pre-commit refuses to install hooks under ``core.hooksPath``)."""
    yield
    for key in [k for k in os.environ if k.startswith("GIT_CONFIG_")]:
        del os.environ[key]
    os.environ.update(_GIT_CONFIG_AT_START)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of examples/sample, so tests may touch it; without the `.lanser/` state
    that running the README's demo leaves there (its cached answers would start no server)."""
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".lanser"))
    return dest


@pytest.fixture
def run_cli():
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from lanser.cli.main import cli

    def run(*args: str) -> tuple[int, str, str]:
        runner = CliRunner()
        result = runner.invoke(cli, list(args), terminal_width=100)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.fixture
def run_json(run_cli):
    """Run a command with --json; returns (exit code, the one JSON object)."""

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        code, out, _err = run_cli("--json", *args)
        assert out.count("\n") == 1, f"expected exactly one JSON line, got: {out!r}"
        return code, json.loads(out)

    return run
