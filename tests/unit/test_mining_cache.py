"""The miner's validation cache keeps what the same inputs reproduce: a timeout (the machine's
load, not the task) is neither stored nor read back; any other verdict is run once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.datasets.mining import validate
from lanser.harness.run import runner
from lanser.harness.task.spec import TaskSpec

TASK = TaskSpec.model_validate(
    {
        "id": "p/abc",
        "language": "c",
        "source": {"kind": "dir", "path": "src"},
        "commands": {"build": "true", "test": "true"},
        "problem": "x",
        "gold_patch": "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n",
    }
)


def test_timeouts_are_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = ["timeout", "resolved", "tests_failed"]
    calls: list[str] = []

    def run_task(task: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(outcomes[len(calls)])
        return {"verdict": {"outcome": calls[-1]}, "stages": {}, "seconds": 1.0}

    monkeypatch.setattr(runner, "run_task", run_task)
    assert validate.evaluate(TASK, tmp_path, "noop", "img", tmp_path / "cache")["verdict"]["outcome"] == "timeout"
    assert not list((tmp_path / "cache").glob("runs/*.json"))
    assert validate.evaluate(TASK, tmp_path, "noop", "img", tmp_path / "cache")["verdict"]["outcome"] == "resolved"
    assert validate.evaluate(TASK, tmp_path, "noop", "img", tmp_path / "cache")["verdict"]["outcome"] == "resolved"
    assert calls == ["timeout", "resolved"]
    # A timeout stored by an older miner is run again, not believed.
    (stored,) = (tmp_path / "cache").glob("runs/*.json")
    stored.write_text(json.dumps({"verdict": {"outcome": "timeout"}, "stages": {}, "seconds": 300.0}))
    assert validate.evaluate(TASK, tmp_path, "noop", "img", tmp_path / "cache")["verdict"]["outcome"] == "tests_failed"
