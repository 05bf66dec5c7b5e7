"""Every command documents itself with examples; no server is started."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lanser.cli.main import cli

COMMANDS = cli.list_commands(None)  # type: ignore[arg-type]


def test_commands_present() -> None:
    assert {"def", "refs", "hover", "symbols", "diag", "locate", "doctor", "rename", "prepare-rename", "action",
            "recover", "batch", "daemon", "trace", "schema", "check", "reward", "mcp", "bench"} == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_examples(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "lanser " in result.stdout.split("Examples:", 1)[1]


def test_group_help_lists_exit_codes() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "64 LS_TIMEOUT" in result.stdout and "Examples:" in result.stdout


def test_symbols_without_target_is_usage_error() -> None:
    result = CliRunner().invoke(cli, ["symbols"])
    assert result.exit_code == 2
    assert "give a file selector or --query" in result.stderr


def test_bad_selector_json_is_one_object_exit_2(tmp_path) -> None:
    import json

    result = CliRunner().invoke(cli, ["--json", "-w", str(tmp_path), "def", "a.py@L0:C1"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["error"]["code"] == "E/BAD_SELECTOR_SYNTAX"
    assert data["error"]["details"]["column"] == 7
    assert data["bundleId"].startswith("sha256:")


def test_missing_workspace_is_not_found(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["-w", str(tmp_path / "nope"), "def", "a.py@L1:C1"])
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("lanser: E/NOT_FOUND: workspace")
    assert "Traceback" not in result.stderr
