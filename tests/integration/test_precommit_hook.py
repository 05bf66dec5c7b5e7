"""The pre-commit hook as docs/ci.md tells a user to install it: a project's
.pre-commit-config.yaml names lanser's repository at a full commit id of its own history,
`pre-commit install` sets the git hook, and pre-commit builds the hook's environment
(lanser and its pinned server wheels pip-installed from that commit, no Docker).  A commit
of a clean file goes through; a commit that stages an error diagnostic is refused and the
hook prints it.  The docker_image hook needs the lanser image: tests/docker covers the image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, timeout=900)


def test_pip_hook_installs_from_lansers_history_and_gates_commits(
    sample: Path, tmp_path: Path, daemon_env: dict[str, str]
) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("needs lanser's git history (a checkout, not an sdist)")
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    hooks = subprocess.run(
        ["git", "show", f"{rev}:.pre-commit-hooks.yaml"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert "id: lanser-diagnostics-pip" in hooks  # the manifest at that commit offers the hook
    env = {
        **daemon_env,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        # the git hook runs `python -m pre_commit`; lanser itself must come from the hook's environment
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    project = sample
    report = project / "pkg" / "report.py"  # start clean: drop the sample's deliberate error
    report.write_text(report.read_text(encoding="utf-8").split("\n\ndef broken")[0] + "\n", encoding="utf-8")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO}\n    rev: {rev}\n    hooks:\n      - id: lanser-diagnostics-pip\n", encoding="utf-8"
    )
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "--no-verify", "-m", "init")):
        assert _git(project, *args, env=env).returncode == 0
    install = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install", "--install-hooks"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # the hook's lanser is its own environment's, built from that commit
    [venv] = list((tmp_path / "pre-commit-home").glob("repo*/py_env-*"))
    assert (venv / "bin" / "lanser").exists()

    shapes = project / "pkg" / "shapes.py"
    shapes.write_text(shapes.read_text(encoding="utf-8") + "\nUNIT: float = 1.0\n", encoding="utf-8")
    _git(project, "add", "pkg/shapes.py", env=env)
    clean = _git(project, "commit", "-m", "a clean change", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "lanser diagnostics" in clean.stdout + clean.stderr and "Passed" in clean.stdout + clean.stderr

    head = _git(project, "rev-parse", "HEAD", env=env).stdout
    shapes.write_text(shapes.read_text(encoding="utf-8") + "WRONG: int = 'a'\n", encoding="utf-8")
    _git(project, "add", "pkg/shapes.py", env=env)
    broken = _git(project, "commit", "-m", "an error", env=env)
    out = broken.stdout + broken.stderr
    assert broken.returncode != 0 and "Failed" in out, out
    assert "pkg/shapes.py:" in out and "error" in out and "[reportAssignmentType]" in out
    assert _git(project, "rev-parse", "HEAD", env=env).stdout == head  # the commit was refused
