"""Global options anywhere on the line (issue 20): ``lanser def SEL --json`` failed with
"No such option '--json'", since click reads a group's options only before the subcommand."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from lanser.cli.main import cli, hoist_global_options


def _hoist(*args: str) -> list[str]:
    with click.Context(cli) as ctx:
        return hoist_global_options(cli, ctx, list(args))


def test_flags_after_the_selector_move_before_the_command() -> None:
    assert _hoist("def", "a.py@L1:C1", "--json") == ["--json", "def", "a.py@L1:C1"]
    assert _hoist("refs", "a.py@L1:C1", "--limit", "3", "-w", "ws", "--pretty") == [
        "-w",
        "ws",
        "--pretty",
        "refs",
        "a.py@L1:C1",
        "--limit",
        "3",
    ]
    assert _hoist("--json", "hover", "a.py", "--timeout=5") == ["--json", "--timeout=5", "hover", "a.py"]


def test_what_is_not_a_global_option_stays() -> None:
    # After `--`, and as the value of the command's own option, `--json` is an argument.
    assert _hoist("rename", "a.py@L1:C1", "--", "--json") == ["rename", "a.py@L1:C1", "--", "--json"]
    assert _hoist("rename", "a.py@L1:C1", "-m", "--json") == ["rename", "a.py@L1:C1", "-m", "--json"]
    assert _hoist("--json", "def", "a.py") == ["--json", "def", "a.py"]
    assert _hoist("nosuchcommand", "--json") == ["nosuchcommand", "--json"]


def test_json_last_answers_one_object(run_cli, sample: Path) -> None:
    code, out, _ = run_cli("locate", "py://pkg.shapes#total_area", "-w", str(sample), "--json")
    assert code == 0, out
    bundle = json.loads(out)
    assert bundle["facts"]["selectors"]["symbol"] == "py://pkg.shapes#total_area"


@pytest.mark.parametrize("flag", ["--pretty", "--no-daemon", "-v"])
def test_flags_last_are_accepted(run_cli, sample: Path, flag: str) -> None:
    code, out, err = run_cli("-w", str(sample), "--json", "locate", "py://pkg.shapes#total_area", flag)
    assert code == 0, (out, err)
    assert json.loads(out)["status"] == "ok"
