"""Every command documents itself with examples; no server is started."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lanser.cli.main import cli

COMMANDS = cli.list_commands(None)  # type: ignore[arg-type]


def test_commands_present() -> None:
    assert {
        "def",
        "refs",
        "hover",
        "symbols",
        "diag",
        "locate",
        "doctor",
        "rename",
        "prepare-rename",
        "action",
        "recover",
        "batch",
        "daemon",
        "trace",
        "schema",
        "check",
        "reward",
        "mcp",
        "bench",
    } == set(COMMANDS)


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


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["def"], "Missing argument 'SELECTOR'"),
        (["--index-io", "utf-32", "def", "a.py@L1:C1"], "Invalid value for '--index-io'"),
        (["batch", "--pipeline", "0", "-"], "Invalid value for '--pipeline'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_under_json_are_e_bad_request_objects(argv: list[str], said: str, tmp_path) -> None:
    """The console entry point (not CliRunner): under --json a command line click cannot parse
    still gives one JSON error on stdout, exit 2; without --json only the usage text, on stderr."""
    import json
    import subprocess
    import sys

    def run(*opts: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from lanser.cli.main import main; main()", *opts, "-w", str(tmp_path), *argv],
            capture_output=True,
            text=True,
            timeout=60,
            input="",
        )

    as_json = run("--json")
    assert as_json.returncode == 2
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "E/BAD_REQUEST" and error["exitCode"] == 2 and said in error["message"]
    assert said in as_json.stderr  # the usage text stays, for a human reading the log
    text = run()
    assert text.returncode == 2 and text.stdout == "" and said in text.stderr
