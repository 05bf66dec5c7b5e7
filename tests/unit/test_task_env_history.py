"""A task's repository holds only its start commit, even when a ``dir`` source carries its own
``.git`` with history: without a setup (the layer is the source itself) and with one (the layer
is built and indexed afresh).  Real git; the sandbox that runs a setup is a seam (no Docker)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import project, sandbox
from lanser.harness.run.runner import TaskEnv
from lanser.harness.task.spec import TaskSpec

IMAGE_ID = "sha256:" + "0" * 64


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = tmp_path / "data" / "src"
    src.mkdir(parents=True)
    git(src, "init", "-q")
    (src / "a.c").write_text("int secret_fix = 1;\n")
    git(src, "add", "-A")
    git(src, "commit", "-qm", "the fix")
    (src / "a.c").write_text("int a;\n")
    git(src, "commit", "-qam", "upstream head")
    monkeypatch.setattr(project, "_failed", {})
    monkeypatch.setattr(project, "_memo", {})
    monkeypatch.setenv(project.CACHE_ENV, str(tmp_path / "layers"))
    return tmp_path / "data"


def _task(setup: str | None) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": "t",
            "language": "c",
            "source": {"kind": "dir", "path": "src"},
            "commands": {"setup": setup, "build": "true", "test": "true"},
            "problem": "p",
            "gold_patch": "",
            "start_patch": "--- a/a.c\n+++ b/a.c\n@@ -1 +1 @@\n-int a;\n+int b;\n",
        }
    )


def _history_after_reset(task: TaskSpec, dataset: Path, work: Path) -> list[str]:
    env = TaskEnv(task, dataset, "base", work, image_id=IMAGE_ID)
    try:
        env.reset()
        assert (env.work / "a.c").read_text() == "int b;\n"
        return git(env.work, "log", "--all", "--format=%s").splitlines()
    finally:
        env.close()


def test_a_dir_source_without_setup_leaves_its_own_history_out(dataset: Path, tmp_path: Path) -> None:
    assert _history_after_reset(_task(None), dataset, tmp_path / "w") == ["start"]
    assert len(git(dataset / "src", "log", "--format=%s").splitlines()) == 2, "the source itself is untouched"


def test_a_built_layer_leaves_the_source_history_out(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(image: str, command: str, workdir: Path, **_: Any) -> sandbox.RunResult:
        return sandbox.RunResult(
            exit_code=0,
            output="",
            duration_s=0.1,
            timed_out=False,
            oom_killed=False,
            pids_exhausted=False,
            image_id=IMAGE_ID,
        )

    monkeypatch.setattr(project.sandbox, "run", run)
    assert _history_after_reset(_task("make"), dataset, tmp_path / "w") == ["start"]
