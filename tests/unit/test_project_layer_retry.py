"""Which failures of a project layer's build are remembered for the process: only a setup
that ran and failed, never an engine or file-system error (a retry may get past those).
The sandbox is replaced by a seam here, so no Docker; git is real (the layer is indexed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lanser.harness.env import project, sandbox
from lanser.harness.errors import InfrastructureError
from lanser.harness.task.spec import TaskSpec


def _task(setup: str) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "id": "t",
            "language": "c",
            "source": {"kind": "dir", "path": "src"},
            "commands": {"setup": setup, "build": "true", "test": "true"},
            "problem": "p",
            "gold_patch": "",
        }
    )


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.c").write_text("int a;\n")
    monkeypatch.setattr(project, "_failed", {})
    monkeypatch.setattr(project, "_memo", {})
    return tmp_path


def _seam(monkeypatch: pytest.MonkeyPatch, outcomes: list[Exception | sandbox.RunResult]) -> list[str]:
    calls: list[str] = []

    def run(image: str, command: str, workdir: Path, **_: Any) -> sandbox.RunResult:
        calls.append(command)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(project.sandbox, "run", run)
    return calls


def _result(exit_code: int | None, *, timed_out: bool = False) -> sandbox.RunResult:
    return sandbox.RunResult(
        exit_code=exit_code,
        output="out\n",
        duration_s=0.1,
        timed_out=timed_out,
        oom_killed=False,
        pids_exhausted=False,
        image_id="sha256:" + "0" * 64,
    )


def test_a_transient_engine_error_is_not_remembered(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _seam(monkeypatch, [InfrastructureError("engine went away", stage="docker"), _result(0)])
    task = _task("make")
    with pytest.raises(InfrastructureError, match="engine went away"):
        project.prepare(task, dataset, "base", image_id="sha256:" + "0" * 64, cache=dataset / "cache")
    layer = project.prepare(task, dataset, "base", image_id="sha256:" + "0" * 64, cache=dataset / "cache")
    assert (layer.path / "a.c").read_text() == "int a;\n"
    assert calls == ["make", "make"], "the retry built the layer"


def test_an_os_error_is_not_remembered(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _seam(monkeypatch, [OSError(28, "No space left on device"), _result(0)])
    task = _task("make")
    with pytest.raises(InfrastructureError, match="No space left"):
        project.prepare(task, dataset, "base", image_id="sha256:" + "0" * 64, cache=dataset / "cache")
    project.prepare(task, dataset, "base", image_id="sha256:" + "0" * 64, cache=dataset / "cache")
    assert len(calls) == 2


@pytest.mark.parametrize("result", [_result(2), _result(None, timed_out=True)], ids=["exit", "timeout"])
def test_a_setup_that_ran_and_failed_is_remembered(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, result: sandbox.RunResult
) -> None:
    calls = _seam(monkeypatch, [result, _result(0)])
    task = _task("make")
    for _ in range(2):
        with pytest.raises(project.SetupFailed, match="setup of dir:src") as failed:
            project.prepare(task, dataset, "base", image_id="sha256:" + "0" * 64, cache=dataset / "cache")
    assert calls == ["make"], "the deterministic failure is not run again"
    # A setup that failed is the same every time: its error must not tell a caller to retry.
    assert failed.value.to_dict().get("retryable") is False
