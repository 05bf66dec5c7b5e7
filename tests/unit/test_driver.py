"""The driver's rules for reruns, attempts, --force and resuming, at the executor seam (a scripted
placement answering each attempt, the real SQLite store, the real toy-c task specs)."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import pytest

from lanser.harness.run.agents import make_agent
from lanser.harness.run.driver import run_benchmark
from lanser.harness.run.executor import Attempt, Finished, Job
from lanser.harness.run.store import Store
from lanser.harness.task.spec import load_tasks

TOY = Path(__file__).resolve().parents[2] / "datasets" / "toy-c"


@pytest.fixture(scope="module")
def tasks() -> list[Any]:
    return load_tasks(TOY / "tasks.jsonl")


class Scripted:
    """Answers attempt i of task t with ``script[(t, i)]`` (default ``tests_failed``), noting submits."""

    name = "scripted"

    def __init__(self, script: dict[tuple[str, int], str | None] | None = None) -> None:
        self.script = dict(script or {})
        self.submitted: list[Attempt] = []
        self.queue: deque[Attempt] = deque()
        self.job: Job | None = None

    def open(self, job: Job, agent: Any) -> None:
        self.job, self.agent = job, agent

    def submit(self, attempt: Attempt) -> None:
        self.submitted.append(attempt)
        self.queue.append(attempt)

    def pending(self) -> int:
        return len(self.queue)

    def next_finished(self) -> Finished:
        attempt = self.queue.popleft()
        outcome = self.script.pop((attempt.task.id, attempt.sample), "tests_failed")
        if outcome is None:
            return Finished(attempt, None, lost="the worker process died")
        steps = [{"step": 1, "action": "edit", "reward": 0.25, "cumulative": 0.25, "seconds": 0.1}]
        return Finished(
            attempt,
            {
                "task_id": attempt.task.id,
                "agent": "whatever",
                "verdict": {"outcome": outcome},
                "steps": steps,
                "stages": {},
                "patch": "",
                "seconds": 1.5,
                "reward_total": 0.25,
                "evidence": {"failed_tests": ["t"]},
            },
        )

    def close(self) -> None:
        pass


def bench(
    tasks: list[Any], store: Store, run_id: str, executor: Scripted, tmp_path: Path, spec: str = "noop", **kw: Any
) -> Any:
    return run_benchmark(
        tasks,
        TOY,
        make_agent(spec),
        "img",
        "sha256:img",
        store,
        run_id,
        tmp_path / "work",
        executor=executor,
        agent_spec=spec,
        retries=0,
        **kw,
    )


def test_a_new_run_id_reuses_the_attempts_and_owns_its_rows(tasks: list[Any], tmp_path: Path) -> None:
    """Regression: a second run into the same store with a new run id stored nothing (tasks done by
    any run were skipped), so `bench show` and `bench report` of it had no results."""
    store = Store(tmp_path / "r.sqlite")
    first = bench(tasks, store, "first", Scripted(), tmp_path)
    assert (first.ran, first.reused, first.skipped) == (3, 0, 0)
    again = Scripted()
    second = bench(tasks, store, "second", again, tmp_path)
    assert again.submitted == []
    assert (second.ran, second.reused, second.skipped) == (0, 3, 0)
    assert {r["reused_from"] for r in second.rows} == {"first"}
    rows = store.results("second")
    assert len(rows) == 3 and {r["reused_from"] for r in rows} == {"first"}
    assert {r["extra"]["evidence"]["failed_tests"][0] for r in rows} == {"t"}  # what the attempt carried
    assert second.summary is not None and second.summary.reused == 3 and second.summary.pass_at == {1: 0.0}


def test_attempts_are_seeded_samples_with_pass_at_k(tasks: list[Any], tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite")
    executor = Scripted(
        {("toy-c/reverse", 1): "resolved", ("toy-c/count-char", 0): "resolved", ("toy-c/count-char", 2): "resolved"}
    )
    summary = bench(tasks, store, "k3", executor, tmp_path, spec="partial:7", attempts=3)
    assert sorted((a.task.id, a.sample, a.agent_spec) for a in executor.submitted if a.task.id == "toy-c/reverse") == [
        ("toy-c/reverse", 0, None),
        ("toy-c/reverse", 1, "partial:8"),
        ("toy-c/reverse", 2, "partial:9"),
    ]
    assert len({a.key for a in executor.submitted}) == 9
    assert executor.job is not None
    assert len({a.workroot(executor.job) for a in executor.submitted}) == 3  # one work area per sample
    rows = store.results("k3")
    assert [(r["task_id"], r["attempt"]) for r in rows if r["task_id"] == "toy-c/reverse"] == [
        ("toy-c/reverse", 0),
        ("toy-c/reverse", 1),
        ("toy-c/reverse", 2),
    ]
    assert {r["agent"] for r in rows} == {"partial:7"}  # the run's agent, not a sample's seed
    s = summary.summary
    assert s is not None and (s.tasks, s.attempts, s.resolved, s.k) == (3, 9, 3, 3)
    assert s.pass_at[1] == pytest.approx((0 + 1 / 3 + 2 / 3) / 3)
    assert s.pass_at[3] == pytest.approx(2 / 3)
    # More attempts later: the first three are this run's already, only the fourth runs.
    more = Scripted()
    summary = bench(tasks, store, "k3", more, tmp_path, spec="partial:7", attempts=4)
    assert sorted(a.sample for a in more.submitted) == [3, 3, 3] and summary.skipped == 9


def test_force_runs_again_and_replaces_the_run_s_rows(tasks: list[Any], tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite")
    bench(tasks, store, "r", Scripted(), tmp_path)
    forced = Scripted({("toy-c/reverse", 0): "resolved"})
    summary = bench(tasks, store, "r", forced, tmp_path, force=True)
    assert len(forced.submitted) == 3 and summary.ran == 3 and summary.skipped == 0
    assert {r["task_id"]: r["outcome"] for r in store.results("r")}["toy-c/reverse"] == "resolved"
    assert len(store.results("r")) == 3


def test_a_resumed_run_skips_what_it_has_and_retries_what_was_lost(tasks: list[Any], tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite")
    bench(tasks, store, "r", Scripted({("toy-c/reverse", 1): None}), tmp_path, attempts=2)
    assert {(r["task_id"], r["attempt"]): r["outcome"] for r in store.results("r")}[
        ("toy-c/reverse", 1)
    ] == "infra_error"
    resumed = Scripted()
    summary = bench(tasks, store, "r", resumed, tmp_path, attempts=2)
    assert [(a.task.id, a.sample) for a in resumed.submitted] == [("toy-c/reverse", 1)]
    assert (summary.ran, summary.skipped) == (1, 5)
    # Nor is a lost attempt of another run reused: a new run runs it.
    store.put("lost", "other", "toy-c/reverse", "noop", {"outcome": "infra_error"}, [], {}, "")
    assert store.cached("lost") is None
