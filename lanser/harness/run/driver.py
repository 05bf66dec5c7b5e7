"""The driver of a benchmark run: which attempts to run, reuse or skip; the store; retries.

A run is ``--attempts K`` independent attempts at each task.  Each attempt
has a key (:func:`lanser.harness.run.store.result_key`: task content, agent
identity, attempt index) and each run owns its rows:

- an attempt this run already has is skipped (an interrupted run resumes
  under its run id);
- an attempt another run made is reused, not run again: the row is copied
  into this run, saying ``reused_from`` (the run that ran it);
- anything else runs, and so does everything with ``force``.

An infrastructure failure says nothing about the agent: it is neither
skipped nor reused, a rerun tries it again.  Attempts of a stochastic agent
are seeded by their index (:func:`sample_agent_spec`).  The executor places
the attempts; this driver alone writes the store and reports progress.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanser.harness.errors import InfrastructureError
from lanser.harness.report.passk import AgentSummary, summarize
from lanser.harness.run.agents import Agent
from lanser.harness.task.spec import TaskSpec

__all__ = ["RunSummary", "lost_result", "run_benchmark", "run_dataset", "sample_agent_spec"]

#: Agents whose actions depend on a seed (``KIND[:SEED]``): sample i of a run uses SEED + i.
SEEDED_KINDS = ("partial", "corrupt", "shuffle")

#: The keys of an attempt's result the store has columns for; the rest is kept as its ``extra``.
_STORED = frozenset(
    {"task_id", "agent", "verdict", "steps", "stages", "patch", "seconds", "reward_total", "environment"}
)

Progress = Callable[[int, int, str, str], None]


def sample_agent_spec(spec: str | None, sample: int) -> str | None:
    """The agent spec of attempt ``sample`` (from 0) of a run of ``spec``, or None when it is ``spec``.

    Seeded agents (``partial:S``...) take the seed S + sample; a ``cmd:`` agent is told its
    attempt index in its environment (``LANSER_ATTEMPT``, also its seed ``LANSER_SEED``) for every
    sample, so a stochastic program can seed itself; oracle, noop and replays are deterministic
    and run as they are (a repeat measures the environment's own noise)."""
    if spec is None:
        return None
    kind, sep, seed = spec.partition(":")
    if kind in SEEDED_KINDS and re.fullmatch(r"\d{0,9}", seed):
        seeded = f"{kind}:{int(seed or 0) + sample}"
        return None if seeded == spec or (sample == 0 and not sep) else seeded
    if kind == "cmd" and sep:
        return f"cmd:env LANSER_ATTEMPT={sample} LANSER_SEED={sample} {seed}"
    return None


@dataclass(frozen=True)
class RunSummary:
    """What one ``bench run`` did (``rows``: the attempts it ran or reused, not those done before)
    and where the run stands (``summary``: every attempt the run holds, pass@k included)."""

    run_id: str
    attempts: int
    rows: list[dict[str, Any]]
    ran: int
    reused: int
    skipped: int
    summary: AgentSummary | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "attempts": self.attempts,
            "ran": self.ran,
            "reused": self.reused,
            "skipped": self.skipped,
            "results": self.rows,
            "summary": self.summary.to_dict() if self.summary else None,
        }


def run_benchmark(
    tasks: list[TaskSpec],
    dataset_dir: Path,
    agent: Agent,
    image: str,
    image_id: str,
    store: Any,
    run_id: str,
    workroot: Path,
    *,
    attempts: int = 1,
    force: bool = False,
    progress: Progress | None = None,
    label: str | None = None,
    workers: int = 1,
    agent_spec: str | None = None,
    executor: Any = None,
    retries: int = 2,
    notice: Callable[[str], None] | None = None,
) -> RunSummary:
    """``attempts`` attempts of ``agent`` at every task, stored as run ``run_id`` as they finish.

    ``executor`` places the attempts (default: a :class:`~lanser.harness.run.executor.LocalExecutor`
    of ``workers`` processes, each making its own agent from ``agent_spec``).  An attempt that
    failed on infrastructure (an ``infra_error`` verdict, a lost node or worker) is tried again up
    to ``retries`` times, elsewhere when the executor can choose (a retry no live node can take any
    more is recorded as lost, the run goes on); only its last try is recorded, and each attempt
    once.  ``notice(message)`` hears about retries.
    """
    from lanser.harness.run.executor import Attempt, Job, LocalExecutor
    from lanser.harness.run.store import result_key

    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    labels = {"lanser.run": label or run_id}
    total = len(tasks) * attempts
    executor = executor or LocalExecutor(workers if total > 1 else 1)
    executor.open(Job(dataset_dir, image, workroot, labels, agent_spec), agent)  # before anything is stored
    store.start_run(run_id, str(dataset_dir), agent.name, image_id)

    def shown(task: TaskSpec, sample: int) -> str:
        return task.id if attempts == 1 else f"{task.id} #{sample + 1}"

    rows: list[dict[str, Any]] = []
    todo: list[Any] = []
    skipped = reused = 0
    index = 0
    for task in tasks:
        for sample in range(attempts):
            index += 1
            key = result_key(task.key(), image_id, agent.name, agent.digest(), sample)
            if not force:
                mine = store.get(run_id, key)
                if mine is not None and mine["outcome"] != "infra_error":
                    skipped += 1
                    if progress:
                        progress(index, total, shown(task, sample), "done before, skipped")
                    continue
                source = store.cached(key)
                if source is not None and source["run_id"] != run_id:
                    row = store.reuse(run_id, source)
                    reused += 1
                    rows.append(
                        _row(
                            task,
                            sample,
                            row["verdict"]["outcome"],
                            _reward(row["steps"]),
                            row["seconds"],
                            row["reused_from"],
                        )
                    )
                    if progress:
                        progress(
                            index,
                            total,
                            shown(task, sample),
                            f"{row['outcome']} (reused from run {row['reused_from']})",
                        )
                    continue
            todo.append(Attempt(index, task, key, sample=sample, agent_spec=sample_agent_spec(agent_spec, sample)))
    recorded: set[str] = set()
    ran = 0
    try:
        for attempt in todo:
            executor.submit(attempt)
        while executor.pending():
            finished = executor.next_finished()
            attempt = finished.attempt
            if attempt.key in recorded:  # never twice (nor retried again), whatever an executor reports
                continue
            failure = finished.infrastructure_failure()
            result = finished.result
            if failure is not None and attempt.number <= retries:
                where = f" on node {finished.node[:12]}" if finished.node else ""
                said = (
                    f"{shown(attempt.task, attempt.sample)}: attempt {attempt.number}{where} failed "
                    f"({_first_line(failure)})"
                )
                try:
                    executor.submit(attempt.retry(finished.node))
                except InfrastructureError as exc:  # nowhere left to run it: this attempt is lost, not the run
                    failure, result = f"{failure}; not retried: {exc}", None
                    if notice:
                        notice(f"{said}; not retried ({_first_line(str(exc))})")
                else:
                    if notice:
                        notice(f"{said}; retrying ({attempt.number + 1}/{retries + 1})")
                    continue
            result = result or lost_result(attempt.task, agent.name, failure or "lost")
            environment = dict(result.get("environment") or {})
            if finished.node:
                environment["node"] = finished.node
            seconds = float(result.get("seconds") or 0.0)
            # The run's agent by name (a seeded sample's own name says only its seed).
            extra = {k: v for k, v in result.items() if k not in _STORED}
            store.put(
                attempt.key,
                run_id,
                attempt.task.id,
                agent.name,
                result["verdict"],
                result["steps"],
                result["stages"],
                result["patch"],
                environment,
                attempt=attempt.sample,
                seconds=seconds,
                extra=extra,
            )
            recorded.add(attempt.key)
            ran += 1
            outcome = result["verdict"]["outcome"]
            reward = float(result.get("reward_total", _reward(result["steps"])))
            rows.append(_row(attempt.task, attempt.sample, outcome, reward, seconds, None))
            if progress:
                progress(
                    attempt.index,
                    total,
                    shown(attempt.task, attempt.sample),
                    f"{outcome} (reward {reward}, {seconds:.1f}s)",
                )
    finally:
        executor.close()
    rows.sort(key=lambda r: (r["task"], r["attempt"]))
    store.finish_run(run_id)
    summaries = summarize(store.results(run_id))
    return RunSummary(run_id, attempts, rows, ran, reused, skipped, summaries[0] if summaries else None)


def _row(
    task: TaskSpec, sample: int, outcome: str, reward: float, seconds: float | None, reused_from: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "task": task.id,
        "attempt": sample,
        "outcome": outcome,
        "reward": round(reward, 9),
        "seconds": seconds,
    }
    if reused_from:
        row["reused_from"] = reused_from
    return row


def _reward(steps: list[dict[str, Any]]) -> float:
    return round(sum(float(s.get("reward") or 0) for s in steps), 9)


def lost_result(task: TaskSpec, agent_name: str, why: str) -> dict[str, Any]:
    """The stored result of an attempt that never produced one (``infra_error``, saying why)."""
    return {
        "task_id": task.id,
        "agent": agent_name,
        "verdict": {"outcome": "infra_error", "error": why},
        "steps": [],
        "stages": {},
        "patch": "",
        "seconds": 0.0,
        "reward_total": 0.0,
        "environment": {},
    }


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def run_dataset(
    tasks: list[TaskSpec],
    dataset_dir: Path,
    agent: Agent,
    image: str,
    image_id: str,
    store: Any,
    run_id: str,
    workroot: Path,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """:func:`run_benchmark` with the return value of the former driver (``runner.run_dataset``):
    the rows of the attempts this call ran or reused."""
    return run_benchmark(tasks, dataset_dir, agent, image, image_id, store, run_id, workroot, **kwargs).rows
