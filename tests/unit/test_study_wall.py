"""``bench study --wall-s``: a run option that raises a task's per-stage wall limit, never lowers it,
and leaves the task file alone (the raised task has a new key, so its runs are new ones)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lanser.cli.main import cli
from lanser.harness.study.run import _with_wall
from lanser.harness.task.spec import load_tasks

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "datasets" / "jq-real" / "tasks.jsonl"


def test_raises_the_wall_limit_and_the_key() -> None:
    task = load_tasks(TASKS)[0]
    raised = _with_wall(task, task.limits.wall_s * 3)
    assert raised.limits.wall_s == task.limits.wall_s * 3
    assert raised.key() != task.key()
    # everything else is the task as written
    assert raised.model_dump(exclude={"limits"}) == task.model_dump(exclude={"limits"})
    assert raised.limits.memory_mb == task.limits.memory_mb


def test_never_lowers_and_none_is_the_task() -> None:
    task = load_tasks(TASKS)[0]
    assert _with_wall(task, None) is task
    assert _with_wall(task, task.limits.wall_s / 2) is task
    assert _with_wall(task, task.limits.wall_s).key() == task.key()


def test_task_file_unchanged() -> None:
    before = TASKS.read_bytes()
    _with_wall(load_tasks(TASKS)[0], 900.0)
    assert TASKS.read_bytes() == before


def test_cli_refuses_a_wall_limit_out_of_range() -> None:
    res = CliRunner().invoke(cli, ["bench", "study", str(ROOT / "datasets" / "jq-real"), "--wall-s", "0"])
    assert res.exit_code != 0
    assert "--wall-s" in res.output
