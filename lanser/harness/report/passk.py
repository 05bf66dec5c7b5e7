"""pass@k and the per-agent summary of a run (pure: stored rows in, numbers out).

pass@k is the unbiased estimator of Chen et al. (2021) over n attempts of a
task of which c resolved it: the chance that at least one of k attempts
drawn without replacement from the n resolves it,

    pass@k = 1 - C(n - c, k) / C(n, k),

averaged over tasks.  It is defined for k <= n only, and a mean over a
subset of the tasks would flatter an agent, so a summary gives pass@k for
k up to the fewest graded attempts of any task (attempts lost to
infrastructure failures are not graded; a task with none graded at all is
left out, and ``pass_tasks`` says over how many tasks the values are taken).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from math import comb
from typing import Any

__all__ = ["AgentSummary", "attempt_reward", "attempt_seconds", "pass_at_k", "summarize", "task_counts"]

INFRA = "infra_error"


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one task: ``n`` graded attempts, ``c`` of them resolved."""
    if n < 1 or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and n >= 1 (n={n}, c={c})")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n (n={n}, k={k})")
    if n - c < k:  # every draw of k attempts holds a resolved one
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)  # int / int: exact operands, one rounding


def task_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Task id -> (graded attempts, resolved attempts); infrastructure failures are not graded."""
    counts: dict[str, tuple[int, int]] = {}
    for row in rows:
        n, c = counts.get(str(row["task_id"]), (0, 0))
        if row["outcome"] != INFRA:
            n, c = n + 1, c + (row["outcome"] == "resolved")
        counts[str(row["task_id"])] = (n, c)
    return counts


@dataclass(frozen=True)
class AgentSummary:
    """One agent in one run: what a comparison puts side by side."""

    run_id: str
    agent: str
    tasks: int
    attempts: int  #: rows, graded or not
    graded: int  #: attempts with a verdict about the agent (not an infrastructure failure)
    resolved: int
    infra_errors: int
    reused: int  #: attempts this run took from another run's results
    resolve_rate: float | None  #: resolved / graded
    k: int  #: the fewest graded attempts of any task with one: pass@k is given for k = 1..k
    pass_at: dict[int, float] = field(default_factory=dict)  #: k -> mean pass@k over the graded tasks
    pass_tasks: dict[int, int] = field(default_factory=dict)  #: k -> how many tasks that mean is over
    mean_reward: float | None = None  #: summed step rewards of an attempt, mean over attempts
    seconds: float = 0.0  #: wall time of the attempts this summary counts (reused ones too)
    mean_seconds: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pass_at"] = {str(k): v for k, v in self.pass_at.items()}
        data["pass_tasks"] = {str(k): v for k, v in self.pass_tasks.items()}
        return data


def _number(value: Any) -> float:
    """A stored number, or 0 for anything that is not a finite one (rows are data, not trusted)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return 0.0
    return out if math.isfinite(out) else 0.0


def attempt_seconds(row: Mapping[str, Any]) -> float:
    """An attempt's wall time: as recorded, else (older rows) its steps' and stages' seconds."""
    if row.get("seconds") is not None:
        return _number(row["seconds"])
    steps = sum(_number(s.get("seconds")) for s in row.get("steps") or [] if isinstance(s, Mapping))
    stages = sum(_number(s.get("seconds")) for s in (row.get("stages") or {}).values() if isinstance(s, Mapping))
    return steps + stages


def attempt_reward(row: Mapping[str, Any]) -> float:
    """The sum of an attempt's step rewards."""
    return sum(_number(s.get("reward")) for s in row.get("steps") or [] if isinstance(s, Mapping))


def summarize(rows: Iterable[Mapping[str, Any]]) -> list[AgentSummary]:
    """One summary per (run, agent) of stored result rows, in the order they first appear."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["run_id"]), str(row["agent"])), []).append(row)
    out = []
    for (run_id, agent), group in groups.items():
        counts = task_counts(group)
        graded = [r for r in group if r["outcome"] != INFRA]
        resolved = sum(r["outcome"] == "resolved" for r in graded)
        graded_tasks = [(n, c) for n, c in counts.values() if n]
        k_max = min((n for n, _ in graded_tasks), default=0)
        pass_at: dict[int, float] = {}
        pass_tasks: dict[int, int] = {}
        for k in range(1, k_max + 1):
            values = [pass_at_k(n, c, k) for n, c in graded_tasks]
            pass_at[k], pass_tasks[k] = sum(values) / len(values), len(values)
        outcomes: dict[str, int] = {}
        for r in group:
            outcomes[str(r["outcome"])] = outcomes.get(str(r["outcome"]), 0) + 1
        seconds = sum(attempt_seconds(r) for r in group)
        out.append(
            AgentSummary(
                run_id=run_id,
                agent=agent,
                tasks=len(counts),
                attempts=len(group),
                graded=len(graded),
                resolved=resolved,
                infra_errors=len(group) - len(graded),
                reused=sum(1 for r in group if r.get("reused_from")),
                resolve_rate=resolved / len(graded) if graded else None,
                k=k_max,
                pass_at=pass_at,
                pass_tasks=pass_tasks,
                mean_reward=sum(attempt_reward(r) for r in graded) / len(graded) if graded else None,
                seconds=round(seconds, 3),
                mean_seconds=round(seconds / len(group), 3) if group else None,
                outcomes=outcomes,
            )
        )
    return out
