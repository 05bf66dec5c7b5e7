"""Executors without a cluster: Ray resource requests as data, the driver's retry rule at the
executor seam (a scripted placement, the real SQLite store), and Ray staying optional."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from lanser.errors import BadRequest
from lanser.harness.errors import InfrastructureError
from lanser.harness.run.agents import make_agent
from lanser.harness.run.executor import Attempt, Finished, Job, make_executor, ray_options, task_resources
from lanser.harness.run.runner import run_dataset
from lanser.harness.run.store import Store
from lanser.harness.task.spec import load_tasks

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "datasets" / "toy-c"


@pytest.fixture(scope="module")
def tasks() -> list[Any]:
    return load_tasks(TOY / "tasks.jsonl")


def test_limits_become_ray_resource_requests(tasks: list[Any]) -> None:
    task = tasks[0].model_copy(update={"limits": tasks[0].limits.model_copy(update={"cpus": 2.0, "memory_mb": 768})})
    options = ray_options(task)
    assert options["num_cpus"] == 2.0
    assert options["memory"] == 768 * 1024 * 1024
    assert options["resources"] == {"docker": 1.0}
    assert options["max_retries"] == 0 and options["retry_exceptions"] is False  # the driver retries
    assert "label_selector" not in options


def test_kernel_tasks_also_ask_for_the_kernel_resource(tasks: list[Any]) -> None:
    assert task_resources(tasks[0].model_copy(update={"image": "kernel"})) == {"docker": 1.0, "kernel": 1.0}
    assert task_resources(tasks[0].model_copy(update={"image": "kernel-6.6"})) == {"docker": 1.0, "kernel": 1.0}
    assert task_resources(tasks[0]) == {"docker": 1.0}


def test_a_retry_avoids_the_nodes_that_failed(tasks: list[Any]) -> None:
    first = Attempt(1, tasks[0], "k")
    second = first.retry("n1")
    third = second.retry("n1").retry("n2")
    assert (second.number, second.avoid) == (2, ("n1",))
    assert (third.number, third.avoid) == (4, ("n1", "n2"))
    assert ray_options(tasks[0], third.avoid)["label_selector"] == {"ray.io/node-id": "!in(n1,n2)"}
    job = Job(Path("data"), "img", Path("work"), {}, "noop")
    assert first.workroot(job) == Path("work") and second.workroot(job) == Path("work/retry-2")


def test_what_counts_as_an_infrastructure_failure(tasks: list[Any]) -> None:
    attempt = Attempt(1, tasks[0], "k")
    assert Finished(attempt, None, lost="NodeDiedError: gone").infrastructure_failure() == "NodeDiedError: gone"
    infra = {"verdict": {"outcome": "infra_error", "error": "docker down"}}
    assert Finished(attempt, infra).infrastructure_failure() == "docker down"
    assert Finished(attempt, {"verdict": {"outcome": "tests_failed"}}).infrastructure_failure() is None


def test_unknown_executor_and_missing_address_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="local or ray"):
        make_executor("slurm")
    with pytest.raises(BadRequest, match="--ray-address") as caught:
        make_executor("ray", ray_address=None)
    assert caught.value.exit_code == 2


#: A queued report that takes the attempt's outcome from the script.
SCRIPTED = "scripted"


class Scripted:
    """A placement that answers each attempt from a script (task id -> outcomes of its attempts in
    order; None: the attempt was lost), noting every submit: the seam between driver and executor.

    ``echoes`` (task id -> outcomes) has a task's first finished attempt reported again with each of
    those outcomes, as a confused executor might; ``refuse_retries`` names tasks whose retries
    ``submit`` refuses, as the Ray executor does when no live node can run them any more."""

    name = "scripted"

    def __init__(
        self,
        script: dict[str, list[str | None]],
        *,
        echoes: dict[str, list[str]] | None = None,
        refuse_retries: frozenset[str] = frozenset(),
    ) -> None:
        self.script = {task: deque(outcomes) for task, outcomes in script.items()}
        self.echoes = dict(echoes or {})
        self.refuse_retries = refuse_retries
        self.submitted: list[Attempt] = []
        self.queue: deque[tuple[Attempt, str | None]] = deque()
        self.closed = False

    def open(self, job: Job, agent: Any) -> None:
        self.agent = agent

    def submit(self, attempt: Attempt) -> None:
        if attempt.number > 1 and attempt.task.id in self.refuse_retries:
            raise InfrastructureError(
                f"no live node of the Ray cluster can run {attempt.task.id}: it asks for kernel=1", stage="ray"
            )
        self.submitted.append(attempt)
        self.queue.append((attempt, SCRIPTED))

    def pending(self) -> int:
        return len(self.queue)

    def next_finished(self) -> Finished:
        attempt, outcome = self.queue.popleft()
        if outcome == SCRIPTED:
            script = self.script[attempt.task.id]
            outcome = script.popleft() if script else "resolved"  # past the script: the tests count submits
            self.queue.extend((attempt, echo) for echo in self.echoes.pop(attempt.task.id, []))
        node = f"node-{attempt.number}"
        if outcome is None:
            return Finished(attempt, None, node=node, lost="NodeDiedError: node died")
        verdict = {"outcome": outcome, **({"error": "docker down"} if outcome == "infra_error" else {})}
        return Finished(
            attempt,
            {
                "task_id": attempt.task.id,
                "agent": self.agent.name,
                "verdict": verdict,
                "steps": [],
                "stages": {},
                "patch": "",
                "seconds": 1.0,
                "reward_total": 0.0,
            },
            node=node,
        )

    def close(self) -> None:
        self.closed = True


def test_the_driver_retries_infrastructure_failures_and_records_each_task_once(
    tasks: list[Any], tmp_path: Path
) -> None:
    store = Store(tmp_path / "results.sqlite")
    agent = make_agent("noop")
    executor = Scripted(
        {
            "toy-c/clamp-and-count": [None, "infra_error", "resolved"],
            "toy-c/reverse": ["tests_failed"],
            "toy-c/count-char": [None, None, None],
        }
    )
    notices: list[str] = []
    rows = run_dataset(
        tasks,
        TOY,
        agent,
        "img",
        "sha256:img",
        store,
        "r",
        tmp_path / "work",
        executor=executor,
        retries=2,
        agent_spec="noop",
        notice=notices.append,
    )
    assert executor.closed
    assert {r["task"]: r["outcome"] for r in rows} == {
        "toy-c/clamp-and-count": "resolved",
        "toy-c/reverse": "tests_failed",
        "toy-c/count-char": "infra_error",
    }
    stored = store.results("r")
    assert sorted(r["task_id"] for r in stored) == sorted(t.id for t in tasks)  # once each
    lost = next(r for r in stored if r["task_id"] == "toy-c/count-char")
    assert lost["verdict"] == {"outcome": "infra_error", "error": "NodeDiedError: node died"}
    retried = [a for a in executor.submitted if a.task.id == "toy-c/clamp-and-count"]
    assert [(a.number, a.avoid) for a in retried] == [(1, ()), (2, ("node-1",)), (3, ("node-1", "node-2"))]
    assert len(notices) == 4 and all("retrying" in n for n in notices)
    # Bounded: no attempts past 1 + retries.  A resumed run tries only the infrastructure failure
    # again, and its new result replaces the old one.
    assert max(a.number for a in executor.submitted) == 3
    again = Scripted({"toy-c/count-char": ["resolved"]})
    rows = run_dataset(
        tasks, TOY, agent, "img", "sha256:img", store, "r", tmp_path / "work", executor=again, agent_spec="noop"
    )
    assert [a.task.id for a in again.submitted] == ["toy-c/count-char"]
    assert [(r["task"], r["outcome"]) for r in rows] == [("toy-c/count-char", "resolved")]
    assert sorted((r["task_id"], r["outcome"]) for r in store.results("r")) == [
        ("toy-c/clamp-and-count", "resolved"),
        ("toy-c/count-char", "resolved"),
        ("toy-c/reverse", "tests_failed"),
    ]
    third = Scripted({})
    assert (
        run_dataset(
            tasks, TOY, agent, "img", "sha256:img", store, "r", tmp_path / "work", executor=third, agent_spec="noop"
        )
        == []
    )
    assert third.submitted == []


def test_a_report_of_a_recorded_task_is_ignored(tasks: list[Any], tmp_path: Path) -> None:
    """Regression: a finished attempt reported again (with a success, then with an infrastructure
    failure) neither replaces the stored result nor is retried: one row, one submit, one progress line."""
    store = Store(tmp_path / "results.sqlite")
    executor = Scripted(
        {"toy-c/clamp-and-count": ["resolved"], "toy-c/reverse": ["tests_failed"], "toy-c/count-char": ["resolved"]},
        echoes={"toy-c/reverse": ["resolved", "infra_error"]},
    )
    progress: list[tuple[int, int, str, str]] = []
    notices: list[str] = []
    rows = run_dataset(
        tasks,
        TOY,
        make_agent("noop"),
        "img",
        "sha256:img",
        store,
        "r",
        tmp_path / "work",
        executor=executor,
        retries=2,
        agent_spec="noop",
        notice=notices.append,
        progress=lambda *line: progress.append(line),
    )
    assert [(r["task_id"], r["outcome"]) for r in store.results("r") if r["task_id"] == "toy-c/reverse"] == [
        ("toy-c/reverse", "tests_failed")
    ]
    assert [r["outcome"] for r in rows if r["task"] == "toy-c/reverse"] == ["tests_failed"]
    assert [(a.task.id, a.number) for a in executor.submitted if a.task.id == "toy-c/reverse"] == [("toy-c/reverse", 1)]
    assert len(executor.submitted) == 3 and notices == []
    assert sorted(line[2] for line in progress) == sorted(t.id for t in tasks)  # one line each
    assert executor.pending() == 0 and executor.closed


def test_a_retry_no_node_can_take_loses_that_task_not_the_run(tasks: list[Any], tmp_path: Path) -> None:
    """Regression: ``submit`` of a retry raising (the only node able to run the task died) recorded
    nothing and ended the run; now the task is recorded as lost and the others complete."""
    store = Store(tmp_path / "results.sqlite")
    executor = Scripted(
        {"toy-c/clamp-and-count": [None], "toy-c/reverse": ["tests_failed"], "toy-c/count-char": ["resolved"]},
        refuse_retries=frozenset({"toy-c/clamp-and-count"}),
    )
    notices: list[str] = []
    rows = run_dataset(
        tasks,
        TOY,
        make_agent("noop"),
        "img",
        "sha256:img",
        store,
        "r",
        tmp_path / "work",
        executor=executor,
        retries=2,
        agent_spec="noop",
        notice=notices.append,
    )
    assert executor.closed
    assert {r["task"]: r["outcome"] for r in rows} == {
        "toy-c/clamp-and-count": "infra_error",
        "toy-c/reverse": "tests_failed",
        "toy-c/count-char": "resolved",
    }
    lost = next(r for r in store.results("r") if r["task_id"] == "toy-c/clamp-and-count")
    assert lost["verdict"]["outcome"] == "infra_error"
    assert "NodeDiedError: node died" in lost["verdict"]["error"]
    assert "no live node of the Ray cluster can run toy-c/clamp-and-count" in lost["verdict"]["error"]
    assert lost["environment"] == {"node": "node-1"}
    assert [a.number for a in executor.submitted if a.task.id == "toy-c/clamp-and-count"] == [1]
    assert len(notices) == 1 and "not retried" in notices[0] and "retrying" not in notices[0]
    # Not done: a rerun tries it again.
    again = Scripted({"toy-c/clamp-and-count": ["resolved"]})
    run_dataset(
        tasks,
        TOY,
        make_agent("noop"),
        "img",
        "sha256:img",
        store,
        "r",
        tmp_path / "work",
        executor=again,
        agent_spec="noop",
    )
    assert [a.task.id for a in again.submitted] == ["toy-c/clamp-and-count"]


def test_lanser_imports_no_ray_unless_asked() -> None:
    code = (
        "import sys\n"
        "import lanser.cli.main, lanser.cli.bench, lanser.harness.run.runner, lanser.harness.run.executor\n"
        "from lanser.harness.run.executor import make_executor\n"
        "make_executor('local', workers=2)\n"
        "print('ray' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_bench_run_on_ray_without_an_address_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before any image, container or store is touched, in the paper's JSON error shape."""
    import json

    from click.testing import CliRunner

    from lanser.cli.main import cli

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = CliRunner().invoke(
        cli,
        [
            "--no-daemon",
            "--json",
            "bench",
            "run",
            str(TOY),
            "--agent",
            "noop",
            "--out",
            str(tmp_path / "out"),
            "--executor",
            "ray",
        ],
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.output)["error"]
    assert (error["code"], error["details"]) == ("E/BAD_REQUEST", {"field": "ray_address"})
    assert not (tmp_path / "out").exists()


def test_an_unreachable_ray_head_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: ray.init waits without end for a head that does not answer."""
    import socket

    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the executor needs a token (restored after the test)
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0" * 64)

    from lanser.harness.errors import InfrastructureError
    from lanser.harness.run.executor import RayExecutor

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    executor = RayExecutor(f"127.0.0.1:{port}")
    with pytest.raises(InfrastructureError, match="no Ray cluster answers"):
        executor.open(Job(TOY, "img", Path("work"), {}, "noop"), make_agent("noop"))


def _sleep_attempt(*_args: Any) -> dict[str, Any]:
    import time

    time.sleep(600)
    return {}


def test_closing_a_pool_with_attempts_running_and_queued_stops_them_quietly(
    tasks: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupted run (Ctrl-C, SIGTERM) closes the pool while attempts run and others wait: the
    workers are gone when close() returns, and the pool's own thread raises nothing on the way (it
    used to print InvalidStateError: close() cancelled the waiting futures, then the broken pool set
    an exception on each)."""
    import threading

    from lanser.harness.run import runner

    monkeypatch.setattr(runner, "run_attempt", _sleep_attempt)  # forked workers inherit it
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    executor = make_executor("local", workers=2)
    executor.open(Job(TOY, "base", tmp_path, {}, "oracle"), None)
    for i in range(12):  # 2 running, 1 in the call queue, the rest waiting in the pool
        executor.submit(Attempt(i, tasks[i % len(tasks)], f"k{i}"))
    pool = executor._pool  # type: ignore[attr-defined]
    assert pool is not None
    while len(pool._processes) < 2 or not all(p.pid for p in pool._processes.values()):
        threading.Event().wait(0.05)
    workers = list(pool._processes.values())
    manager = pool._executor_manager_thread
    executor.close()
    assert not [w for w in workers if w.is_alive()]
    if manager is not None:
        manager.join(30)
        assert not manager.is_alive()
    assert raised == [], raised
    assert executor.pending() == 0
