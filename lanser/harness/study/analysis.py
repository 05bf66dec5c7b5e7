"""Does the process reward predict success? Trajectories and statistics (pure).

A :class:`Trajectory` is one stored task attempt reduced to what the study
needs: its per-step rewards and reward components, its verdict and the
baselines' raw measurements.  :func:`analyse` scores every predictor
(the cumulative and mean reward, the ablated rewards and the baselines)
against the outcomes:

- Spearman's rho between a predictor and the test pass rate (average ranks
  for ties; undefined, ``None``, for a constant input or n < 2);
- AUROC for "all tests pass" as the Mann-Whitney probability that a passing
  trajectory scores above a failing one, ties counting one half (undefined
  without both classes), over all pairs and over pairs of the same task only
  (within-task: a predictor that only tells tasks apart scores 0.5 there);
- percentile bootstrap confidence intervals, seeded, resampling
  trajectories, and resampling whole tasks (a cluster bootstrap: the
  trajectories of one task are not independent).

No timing, no randomness outside the seeded bootstrap: the same rows give
the same numbers.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "PREDICTORS",
    "Trajectory",
    "analyse",
    "step_level",
    "auroc",
    "auroc_within",
    "bootstrap_ci",
    "count_warnings",
    "lines_changed",
    "percentile",
    "ranks",
    "spearman",
    "trajectory_from_result",
]

_WARNING = re.compile(r"^.*\bwarning:", re.M)


@dataclass(frozen=True)
class Trajectory:
    dataset: str
    task: str
    agent: str
    key: str
    outcome: str
    #: Reward of every step (edit steps carry the reward, others 0).
    rewards: tuple[float, ...]
    #: Per edit step: (a*diag_delta, b*safety, -c*ambiguity_penalty), from the recorded weights.
    components: tuple[tuple[float, float, float], ...]
    compiled: bool
    pass_rate: float
    all_pass: bool
    sanitizer_clean: bool | None
    patch_applies: bool
    warnings_delta: float
    lines_changed: int
    notes: tuple[str, ...] = field(default=())
    #: D of the start and final states measured afresh (``study_diag.remeasure``), when measured.
    d_start: float | None = None
    d_final: float | None = None
    #: The diagnostics weight ``a`` the steps were scored with.
    alpha: float = 0.5
    #: D before each edit step, as recorded (the state the previous step left, read from disk).
    d_prevs: tuple[float, ...] = ()
    #: Fresh D of the final state over the files the last edit step touched.
    d_final_last: float | None = None

    @property
    def d_prev_first(self) -> float | None:
        return self.d_prevs[0] if self.d_prevs else None

    def step_rewards_fixed(self) -> list[float] | None:
        """Each edit step's reward with D after the step taken from the next step's recorded D
        before (the same disk state) and, for the last step, from the fresh D_final; None
        without a fresh D_final."""
        if self.d_final_last is None or not self.components:
            return None
        after = [*self.d_prevs[1:], self.d_final_last]
        return [
            round(self.alpha * (b - a) + c[1] + c[2], 9)
            for b, a, c in zip(self.d_prevs, after, self.components, strict=False)
        ]

    @property
    def diag_recorded(self) -> float:
        return round(sum(c[0] for c in self.components), 9)

    @property
    def diag_remeasured(self) -> float | None:
        """``a * (D_start - D_final)``: what the diagnostics terms add up to when every D is right."""
        if self.d_start is None or self.d_final is None:
            return None
        return round(self.alpha * (self.d_start - self.d_final), 9)

    @property
    def cumulative(self) -> float:
        return round(sum(self.rewards), 9)

    @property
    def mean(self) -> float:
        return round(sum(self.rewards) / len(self.components), 9) if self.components else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            cumulative=self.cumulative,
            mean=self.mean,
            diag_recorded=self.diag_recorded,
            diag_remeasured=self.diag_remeasured,
            step_rewards_fixed=self.step_rewards_fixed(),
        )
        return out


def count_warnings(build_log: str) -> int:
    """Compiler warnings in a build log (gcc and clang print ``file:l:c: warning: ...``)."""
    return len(_WARNING.findall(build_log))


def lines_changed(patch: str) -> int:
    return sum(1 for ln in patch.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++ ", "--- ")))


def trajectory_from_result(
    row: dict[str, Any],
    dataset: str,
    start_warnings: int | None,
    notes: Sequence[str] = (),
    remeasured: dict[str, Any] | None = None,
    last_paths: Sequence[str] | None = None,
) -> Trajectory:
    """A store row (``Store.results()``) as a trajectory.

    ``start_warnings``: the warnings of the task's starting state (the noop
    attempt's build log); without it the delta is the raw count.
    ``remeasured``: ``{"d_start", "d_final", "final_by_path"}`` from ``study_diag.remeasure``;
    ``last_paths``: the files the last edit step touched (default: all of the final patch's).
    """
    verdict, steps = row["verdict"], row["steps"]
    comps: list[tuple[float, float, float]] = []
    applies = True
    alpha = 0.5
    d_prevs: list[float] = []
    for s in steps:
        if s["action"] != "edit":
            continue
        pr = s["result"]["processReward"]
        c, w = pr["components"], pr["weights"]
        alpha = w["alpha"]
        d_prevs.append(float(c.get("d_prev", 0.0)))
        comps.append((w["alpha"] * c["diag_delta"], w["beta"] * c["safety"], -w["gamma"] * c["ambiguity_penalty"]))
        applies = applies and s["result"]["status"] == "ok"
    f2p, p2p = verdict.get("fail_to_pass") or {}, verdict.get("pass_to_pass") or {}
    oracle = [*f2p.values(), *p2p.values()]
    compiled = bool(verdict.get("compiled"))
    if not compiled:
        rate = 0.0
    elif oracle:
        rate = sum(v == "pass" for v in oracle) / len(oracle)
    else:
        rate = verdict.get("tests_passed", 0) / max(verdict.get("tests_total", 0), 1)
    san = verdict.get("sanitizer")
    build_log = ((row.get("stages") or {}).get("build") or {}).get("output", "")
    return Trajectory(
        dataset=dataset,
        task=row["task_id"],
        agent=row["agent"],
        key=row["key"],
        outcome=verdict["outcome"],
        rewards=tuple(float(s["reward"]) for s in steps),
        components=tuple(comps),
        compiled=compiled,
        pass_rate=round(rate, 9),
        all_pass=compiled and bool(oracle) and all(v == "pass" for v in oracle),
        sanitizer_clean=None if san is None else bool(san.get("clean")),
        patch_applies=applies,
        warnings_delta=float(count_warnings(build_log) - (start_warnings or 0)),
        lines_changed=lines_changed(row.get("patch") or ""),
        notes=tuple(notes),
        alpha=alpha,
        d_prevs=tuple(d_prevs),
        d_start=None if remeasured is None else float(remeasured["d_start"]),
        d_final=None if remeasured is None else float(remeasured["d_final"]),
        d_final_last=None
        if remeasured is None
        else float(remeasured["d_final"])
        if last_paths is None
        else sum(float((remeasured.get("final_by_path") or {}).get(p, 0.0)) for p in last_paths),
    )


# -- statistics --------------------------------------------------------------------


def ranks(xs: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=False))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho with ties: Pearson's r of the average ranks."""
    if len(x) != len(y):
        raise ValueError("spearman: x and y differ in length")
    return _pearson(ranks(x), ranks(y))


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(score of a positive > score of a negative) + P(tie)/2, by the Mann-Whitney U of the ranks."""
    if len(scores) != len(labels):
        raise ValueError("auroc: scores and labels differ in length")
    n_pos = sum(1 for v in labels if v)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    r = ranks(scores)
    u = sum(ri for ri, v in zip(r, labels, strict=False) if v) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def auroc_within(scores: Sequence[float], labels: Sequence[bool], groups: Sequence[str]) -> float | None:
    """AUROC over (positive, negative) pairs of the same group only (pooled over groups)."""
    concordant, pairs = 0.0, 0
    by: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    for idx in by.values():
        pos = [scores[i] for i in idx if labels[i]]
        neg = [scores[i] for i in idx if not labels[i]]
        for p in pos:
            for q in neg:
                concordant += 1.0 if p > q else 0.5 if p == q else 0.0
        pairs += len(pos) * len(neg)
    return concordant / pairs if pairs else None


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolating linearly between ranks."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap_ci(
    stat: Callable[[list[int]], float | None],
    n: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap of ``stat`` (a function of row indices).

    Rows are resampled with replacement; with ``groups``, whole groups are
    (a cluster bootstrap).  Resamples where the statistic is undefined are
    dropped and counted; no interval below 10 defined resamples.
    """
    rng = random.Random(seed)
    if groups is None:
        units = [[i] for i in range(n)]
    else:
        by: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            by.setdefault(g, []).append(i)
        units = [by[g] for g in sorted(by)]
    values: list[float] = []
    for _ in range(resamples if units else 0):
        idx = [i for _ in units for i in units[rng.randrange(len(units))]]
        v = stat(idx)
        if v is not None:
            values.append(v)
    values.sort()
    tail = (1 - level) / 2 * 100
    ok = len(values) >= 10
    return {
        "lo": round(percentile(values, tail), 6) if ok else None,
        "hi": round(percentile(values, 100 - tail), 6) if ok else None,
        "level": level,
        "resamples": resamples,
        "undefined": resamples - len(values) if units else 0,
    }


# -- the study ------------------------------------------------------------------------


def _remeasured_reward(t: Trajectory) -> float | None:
    d = t.diag_remeasured
    return None if d is None else d + sum(c[1] + c[2] for c in t.components)


#: Predictor name -> (score of a trajectory or None when not measured, what it is).
#: Higher scores should mean success.
PREDICTORS: dict[str, tuple[Callable[[Trajectory], float | None], str]] = {
    "reward_cumulative": (lambda t: t.cumulative, "process reward as recorded, summed over steps"),
    "reward_mean": (lambda t: t.mean, "process reward as recorded, mean per edit step"),
    "reward_remeasured": (
        _remeasured_reward,
        "summed reward with its diagnostics terms replaced by a*(D_start - D_final), both measured afresh",
    ),
    "ablation_diagnostics": (lambda t: t.diag_recorded, "recorded reward, diagnostics term only"),
    "ablation_diagnostics_remeasured": (lambda t: t.diag_remeasured, "a*(D_start - D_final), measured afresh"),
    "ablation_safety": (lambda t: sum(c[1] for c in t.components), "reward with the safety term only"),
    "ablation_ambiguity": (lambda t: sum(c[2] for c in t.components), "reward with the ambiguity term only"),
    "baseline_patch_applies": (lambda t: float(t.patch_applies), "baseline: every edit applied (1/0)"),
    "baseline_fewer_warnings": (
        lambda t: -t.warnings_delta,
        "baseline: minus the compiler warnings added (build log vs the start state)",
    ),
    "baseline_lines_changed": (lambda t: float(t.lines_changed), "baseline: lines changed by the final patch"),
    "baseline_edit_steps": (lambda t: float(len(t.components)), "baseline: number of edit steps"),
}

#: Fewer groups than this and the task-cluster bootstrap is not reported: with a handful of
#: clusters its resamples take few distinct values and its intervals are too narrow.
MIN_CLUSTERS = 10


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def analyse(trajectories: Sequence[Trajectory], *, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every predictor's Spearman rho (vs pass rate) and AUROC (all tests pass), with bootstrap CIs.

    Trajectories with an infrastructure failure are left out (and counted).
    """
    ts = [t for t in trajectories if t.outcome != "infra_error"]
    rate = [t.pass_rate for t in ts]
    label = [t.all_pass for t in ts]
    resolved = [t.outcome == "resolved" for t in ts]
    task = [f"{t.dataset}::{t.task}" for t in ts]
    out: dict[str, Any] = {
        "n": len(ts),
        "excluded_infra_error": len(trajectories) - len(ts),
        "tasks": len(set(task)),
        "passing": sum(label),
        "resolved": sum(resolved),
        "predictors": {},
    }
    for name, (score, what) in PREDICTORS.items():
        raw = [score(t) for t in ts]
        keep = [i for i, v in enumerate(raw) if v is not None]
        entry = _score(
            [float(raw[i] or 0.0) for i in keep],
            [rate[i] for i in keep],
            [label[i] for i in keep],
            [task[i] for i in keep],
            resamples,
            seed,
            [resolved[i] for i in keep],
        )
        entry.update(what=what, n=len(keep))
        out["predictors"][name] = entry
    measured = [t for t in ts if t.diag_remeasured is not None and t.components]
    out["diagnostics_check"] = {
        "measured": len(measured),
        "start_agrees": sum(
            1 for t in measured if t.d_start is not None and t.components and t.d_prev_first == t.d_start
        ),
        "sum_agrees": sum(1 for t in measured if abs(t.diag_recorded - (t.diag_remeasured or 0.0)) < 1e-6),
        "recorded_minus_remeasured_mean": _round(
            sum(t.diag_recorded - (t.diag_remeasured or 0.0) for t in measured) / len(measured)
        )
        if measured
        else None,
    }
    return out


def _score(
    x: list[float],
    rate: list[float],
    label: list[bool],
    task: list[str],
    resamples: int,
    seed: int,
    resolved: list[bool] | None = None,
) -> dict[str, Any]:
    """Spearman rho, AUROC (all tests pass; resolved: tests and sanitizers) and within-task AUROC
    of one predictor, each with its two bootstrap CIs."""
    won = resolved if resolved is not None else label

    def rho(idx: list[int]) -> float | None:
        return spearman([x[i] for i in idx], [rate[i] for i in idx])

    def auc(idx: list[int]) -> float | None:
        return auroc([x[i] for i in idx], [label[i] for i in idx])

    def auc_resolved(idx: list[int]) -> float | None:
        return auroc([x[i] for i in idx], [won[i] for i in idx])

    def auc_in(idx: list[int]) -> float | None:
        # a task drawn twice is two tasks: pairs stay within one draw
        seen: dict[int, int] = {}
        groups = []
        for i in idx:
            seen[i] = seen.get(i, 0) + 1
            groups.append(f"{task[i]}#{seen[i]}")
        return auroc_within([x[i] for i in idx], [label[i] for i in idx], groups)

    entry: dict[str, Any] = {"constant": len(set(x)) <= 1}
    clusters = len(set(task)) >= MIN_CLUSTERS
    for stat_name, fn in (
        ("spearman_pass_rate", rho),
        ("auroc_all_pass", auc),
        ("auroc_within_task", auc_in),
        ("auroc_resolved", auc_resolved),
    ):
        entry[stat_name] = {
            "value": _round(fn(list(range(len(x))))),
            "ci": bootstrap_ci(fn, len(x), resamples=resamples, seed=seed),
            "ci_by_task": bootstrap_ci(fn, len(x), resamples=resamples, seed=seed, groups=task)
            if clusters
            else {"lo": None, "hi": None, "why": f"fewer than {MIN_CLUSTERS} tasks"},
        }
    return entry


def step_level(trajectories: Sequence[Trajectory], *, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Does a step's reward tell a correct step from a faulty one?

    Edit steps are labelled by their plan notes (``gold``, ``fault``,
    ``revert``, ``cut short``); the AUROC is for gold against fault steps,
    with the recorded reward and with the reward whose D after the step is
    re-read (:meth:`Trajectory.step_rewards_fixed`).  Its interval resamples
    trajectories (a trajectory's steps together).
    """
    kinds: dict[str, dict[str, list[float]]] = {}
    rows: list[tuple[int, str, float, float | None]] = []  # trajectory, kind, recorded, fixed
    for n, t in enumerate(trajectories):
        edit_rewards = [c[0] + c[1] + c[2] for c in t.components]
        fixed = t.step_rewards_fixed()
        for i, (note, r) in enumerate(zip(t.notes, edit_rewards, strict=False)):
            kind = "cut" if "cut short" in note else note.split()[0]
            f = fixed[i] if fixed is not None else None
            rows.append((n, kind, r, f))
            e = kinds.setdefault(kind, {"recorded": [], "fixed": []})
            e["recorded"].append(r)
            if f is not None:
                e["fixed"].append(f)
    out: dict[str, Any] = {
        "by_kind": {
            k: {
                "steps": len(v["recorded"]),
                "mean_recorded": _round(sum(v["recorded"]) / len(v["recorded"])),
                "mean_fixed": _round(sum(v["fixed"]) / len(v["fixed"])) if v["fixed"] else None,
            }
            for k, v in sorted(kinds.items())
        }
    }
    pairs = [r for r in rows if r[1] in ("gold", "fault")]
    units = sorted({r[0] for r in pairs})
    for which, col in (("recorded", 2), ("fixed", 3)):
        usable = [r for r in pairs if r[col] is not None]

        def auc(
            idx: list[int], usable: list[tuple[int, str, float, float | None]] = usable, col: int = col
        ) -> float | None:
            by_unit: dict[int, list[tuple[int, str, float, float | None]]] = {}
            for r in usable:
                by_unit.setdefault(r[0], []).append(r)
            picked = [r for i in idx for r in by_unit.get(units[i], [])]
            return auroc([float(r[col] or 0.0) for r in picked], [r[1] == "gold" for r in picked])

        everything = list(range(len(units)))
        within = auroc_within(
            [float(r[col] or 0.0) for r in usable],
            [r[1] == "gold" for r in usable],
            [f"{trajectories[r[0]].dataset}::{trajectories[r[0]].task}" for r in usable],
        )
        out[f"auroc_gold_vs_fault_{which}"] = {
            "value": _round(auc(everything)),
            "steps": len(usable),
            "within_task": _round(within),
            "ci": bootstrap_ci(auc, len(units), resamples=resamples, seed=seed),
        }
    return out


def by_agent(trajectories: Sequence[Trajectory]) -> dict[str, dict[str, Any]]:
    """Per agent family (``corrupt:3`` -> ``corrupt``): counts, outcomes, mean reward and pass rate."""
    out: dict[str, dict[str, Any]] = {}
    for t in trajectories:
        fam = t.agent.split(":")[0]
        e = out.setdefault(fam, {"n": 0, "outcomes": {}, "reward_sum": 0.0, "pass_rate_sum": 0.0, "all_pass": 0})
        e["n"] += 1
        e["outcomes"][t.outcome] = e["outcomes"].get(t.outcome, 0) + 1
        e["reward_sum"] += t.cumulative
        e["pass_rate_sum"] += t.pass_rate
        e["all_pass"] += int(t.all_pass)
    for e in out.values():
        e["mean_cumulative_reward"] = round(e.pop("reward_sum") / e["n"], 6)
        e["mean_pass_rate"] = round(e.pop("pass_rate_sum") / e["n"], 6)
    return dict(sorted(out.items()))
