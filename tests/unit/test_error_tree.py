"""One error tree (issue 21): the harness's infrastructure failures are LanserErrors, rendered where
every error is.

Before, ``InfrastructureError`` was a second root beside ``LanserError``: each bench command turned
it into click's text ("Error: infrastructure failure ...", exit 1), even under ``--json``, where
stdout stayed empty.  These run the real console entry point in a subprocess, with the Docker
client pointed at a socket nobody listens on (the engine itself is not touched).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"


def _lanser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock", "LANSER_NO_DAEMON": "1"}
    return subprocess.run(
        [sys.executable, "-c", "from lanser.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "images", "bootstrap"],
        ["bench", "run", str(TOY), "--agent", "noop", "--out", "out"],
        ["bench", "study", str(TOY), "--agents", "noop", "--out", "study", "--store", "store"],
    ],
    ids=["images-bootstrap", "run", "study"],
)
def test_an_infrastructure_failure_under_json_is_one_error_object(tmp_path: Path, command: list[str]) -> None:
    """Regression (issue 21): under --json a bench command that cannot reach Docker printed click's
    "Error: infrastructure failure (docker): ..." on stderr, nothing on stdout, and exited 1."""
    proc = _lanser(tmp_path, "--json", *command)
    assert proc.returncode == 77, proc.stderr
    assert proc.stdout.count("\n") == 1, proc.stdout
    answer = json.loads(proc.stdout)
    error = answer["error"]
    assert (answer["status"], error["code"], error["exitCode"], answer["meta"]) == (
        "error",
        "E/INFRASTRUCTURE",
        77,
        {"exit_code": 77},
    )
    assert error["details"]["stage"] == "docker" and "Docker engine" in error["message"]
    assert "Error:" not in proc.stderr


def test_an_infrastructure_failure_in_text_is_one_error_line(tmp_path: Path) -> None:
    proc = _lanser(tmp_path, "bench", "images", "bootstrap")
    assert proc.returncode == 77 and proc.stdout == ""
    assert proc.stderr.startswith("lanser: E/INFRASTRUCTURE (docker): cannot reach the Docker engine"), proc.stderr


def test_a_bad_agent_under_json_is_one_error_object_too(tmp_path: Path) -> None:
    """`bench study` turned an invalid agent's E/BAD_REQUEST into click's text and exit 1."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tasks.jsonl").write_text("")
    proc = _lanser(tmp_path, "--json", "bench", "study", "data", "--agents", "replay:missing.jsonl")
    assert proc.returncode == 2, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["error"]["code"] == "E/BAD_REQUEST" and answer["meta"] == {"exit_code": 2}
