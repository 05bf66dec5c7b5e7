"""The CI gate: `diag --fail-on-error` and scripts/lanser-diag-gate (the pre-commit hooks' body)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_fail_on_error_exits_1_only_for_a_file_with_an_error(sample: Path, run_cli) -> None:
    code, out, _ = run_cli("-w", str(sample), "diag", "pkg/report.py", "--fail-on-error")
    assert code == 1 and ": error: " in out  # the sample's deliberate type error, printed as usual
    code, _, _ = run_cli("-w", str(sample), "diag", "pkg/report.py")
    assert code == 0  # without the flag, diagnostics are an answer, not a failure
    code, _, _ = run_cli("-w", str(sample), "diag", "pkg/shapes.py", "--fail-on-error")
    assert code == 0
    code, _, err = run_cli("-w", str(sample), "diag", "pkg/missing.py", "--fail-on-error")
    assert code == 3 and "E/NOT_FOUND" in err  # lanser's own failure keeps its code


def test_the_gate_script_fails_on_errors_only_and_keeps_lansers_codes(sample: Path, daemon_env: dict[str, str]) -> None:
    env = {**daemon_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    gate = [str(REPO / "scripts" / "lanser-diag-gate")]

    def run(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(gate + list(files), cwd=sample, env=env, capture_output=True, text=True, timeout=300)

    clean = run("pkg/shapes.py", "csrc/geometry.c")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = run("pkg/shapes.py", "pkg/report.py")
    assert broken.returncode == 1 and "reportAssignmentType" in broken.stdout
    missing = run("pkg/report.py", "pkg/missing.py")
    assert missing.returncode == 3
    # a message that merely contains ": error: " in a docstring is not an error diagnostic
    (sample / "pkg" / "note.py").write_text('"""Log format: file: error: message."""\n')
    assert run("pkg/note.py").returncode == 0
