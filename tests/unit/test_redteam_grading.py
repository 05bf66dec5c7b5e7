"""Attacks on the clean room through the files the grader reads after the test stage.

``test_log.files`` are read from the graded tree, which holds the agent's patch: a new file
the agent wrote (by its patch, an ``edit`` step or a ``run`` step) with a name the task's
result patterns match was kept by the clean room, and read by the grader as if the tests
had written it.  A task's result files are protected: never the agent's to write.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lanser.harness.grade import cleanroom
from lanser.harness.task.spec import load_tasks

REPO = Path(__file__).resolve().parents[2]
GOOD = (REPO / "datasets" / "toy-c" / "tasks.jsonl").read_text().splitlines()[0]

PLANTED = '<testsuite name="s"><testcase classname="s" name="t"/></testsuite>\n'


def test_a_result_file_the_agent_writes_is_not_in_the_graded_patch(tmp_path: Path) -> None:
    raw = json.loads(GOOD)
    raw["test_log"] = {"format": "junit", "files": ["build/results/*.xml"]}
    raw["protected"] = ["tests/**"]
    path = tmp_path / "tasks.jsonl"
    (tmp_path / "project").mkdir()
    path.write_text(json.dumps(raw) + "\n")
    (task,) = load_tasks(path)
    fresh, work = tmp_path / "fresh", tmp_path / "work"
    (fresh / "src").mkdir(parents=True)
    (fresh / "src" / "a.c").write_text("int a;\n")
    shutil.copytree(fresh, work)
    (work / "src" / "a.c").write_text("int a = 1;\n")
    (work / "build" / "results").mkdir(parents=True)
    (work / "build" / "results" / "zz-planted.xml").write_text(PLANTED)
    got = cleanroom.collect(work, fresh, task.protected_globs)
    assert sorted(got.files) == ["src/a.c"]
    assert "build/results/zz-planted.xml" not in got.patch
    assert {"path": "build/results/zz-planted.xml", "why": "protected"} in got.dropped
