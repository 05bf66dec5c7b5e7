"""The hard study (issue 24): paired, task-clustered comparisons of the rewards against the baselines that
beat them, by stratum, from stored study results (pure, plus a small CLI over ``results.json`` files).

Every comparison is a paired difference, AUROC(A) - AUROC(B) on the same trajectories, with a 95%
percentile interval from a bootstrap that resamples whole tasks (a task's trajectories share its
difficulty, so resampling trajectories would make the interval too narrow).  Strata:

- ``all``: every trajectory;
- ``compile_clean``: trajectories whose build succeeded (build failures are what any compiler finds);
- ``compile_clean_edited``: compiled and made at least one edit: the passes against the realistic
  failures (it compiles, it changed something, it is still wrong).  The headline;
- ``fault:<kind>``: the passes against the failures of one kind (a fault kind, ``cut short``,
  ``noop``, ``partial``).

What can be recomputed offline from ``results.json``: the stored trajectory keeps per edit step the
recorded D before the step (``d_prevs``, errors and warnings counted alike), the fresh D of the start
and final states (when remeasured), whether the build succeeded, the compiler warnings added and the
step count.  Not the diagnostics themselves: their severities and lines are in the store's step
bundles, not in ``results.json``.  So pr-v2 re-scored offline is its potential with one weight for
every severity and no changed-line weight, ``a * (D_start - D_final)`` (severity-blind pr-v2,
``reward_v2_blind``); from remeasured D where there is one, else from the recorded steps' D (which
telescopes the same way once the D-after-step bug was fixed).  Compiler error counts are not stored
either (only "the build succeeded").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from lanser.harness.study.analysis import MIN_CLUSTERS, Trajectory, auroc, bootstrap_ci

__all__ = [
    "BAR",
    "HARD_PREDICTORS",
    "hard_study",
    "hard_markdown",
    "load_trajectories",
    "paired",
    "strata",
    "step_credit",
]

#: The bar set in issue 24 before any run.
BAR = (
    "on compile-clean failures, reward v2's AUROC beats build + steps with the paired 95% interval above "
    "zero, on real-bug tasks"
)


def _edits(t: Trajectory) -> int:
    return len(t.components)


def _v2_blind(t: Trajectory) -> float:
    """Severity-blind pr-v2: Phi = -a*D, so the sum is a*(D_start - D_final)."""
    if t.diag_remeasured is not None:
        return t.diag_remeasured
    if not t.components:
        return 0.0
    return t.diag_recorded  # the recorded a*(D_prev - D_now) over the steps, which telescopes the same way


#: name -> (score, what it is).  Higher means success.
HARD_PREDICTORS: dict[str, tuple[Callable[[Trajectory], float], str]] = {
    "reward_v1": (lambda t: t.cumulative, "pr-v1 (Eq. 5.1) summed, as recorded"),
    "reward_v2_blind": (_v2_blind, "pr-v2 re-scored offline without severities: a*(D_start - D_final)"),
    "build": (lambda t: float(t.compiled), "baseline: the build succeeds (1/0)"),
    "build_more_steps": (
        lambda t: float(t.compiled) * 1000 + _edits(t),
        "baseline: build succeeds, ties broken by more edit steps (issue 24's build + steps)",
    ),
    "build_fewer_steps": (
        lambda t: float(t.compiled) * 1000 - _edits(t),
        "baseline: build succeeds, ties broken by fewer edit steps",
    ),
    "fewer_warnings": (lambda t: -t.warnings_delta, "baseline: minus the compiler warnings added"),
    "edit_steps": (lambda t: float(_edits(t)), "baseline: number of edit steps"),
}

#: (A, B) pairs reported as paired differences A - B.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("reward_v2_blind", "build_more_steps"),
    ("reward_v1", "build_more_steps"),
    ("reward_v2_blind", "build_fewer_steps"),
    ("reward_v1", "build_fewer_steps"),
    ("reward_v2_blind", "build"),
    ("reward_v1", "build"),
    ("reward_v2_blind", "reward_v1"),
    ("reward_v2_blind", "fewer_warnings"),
)
RESCORED_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("reward_v2", "build_more_steps"),
    ("reward_v2", "build"),
    ("reward_v2", "reward_v1"),
    ("reward_v2", "reward_v2_blind"),
)


def load_trajectories(path: Path) -> list[Trajectory]:
    """The trajectories of a study's ``results.json`` (fields the stored version lacks keep their defaults)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in fields(Trajectory)}
    out = []
    for row in data["trajectories"]:
        kw = {k: v for k, v in row.items() if k in names}
        for k in ("rewards", "notes", "d_prevs"):
            if k in kw:
                kw[k] = tuple(kw[k])
        if "components" in kw:
            kw["components"] = tuple(tuple(c) for c in kw["components"])
        out.append(Trajectory(**kw))
    return out


def failure_kind(t: Trajectory) -> str:
    """What a failing trajectory is: its first fault's kind, ``cut_short``, or its agent family."""
    for note in t.notes:
        if note.startswith("fault "):
            return note.split()[1]
        if "cut short" in note:
            return "cut_short"
    return t.agent.split(":")[0]


def strata(ts: Sequence[Trajectory]) -> dict[str, list[int]]:
    """Stratum name -> indices into ``ts`` (each stratum keeps every passing trajectory it can)."""
    out: dict[str, list[int]] = {
        "all": list(range(len(ts))),
        "compile_clean": [i for i, t in enumerate(ts) if t.compiled],
        "compile_clean_edited": [i for i, t in enumerate(ts) if t.compiled and (t.all_pass or t.components)],
    }
    kinds = sorted({failure_kind(t) for t in ts if not t.all_pass})
    for k in kinds:
        out[f"fault:{k}"] = [i for i, t in enumerate(ts) if t.all_pass or failure_kind(t) == k]
    return out


def paired(
    a: Sequence[float],
    b: Sequence[float],
    label: Sequence[bool],
    task: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """AUROC(a), AUROC(b) and their paired difference, with task-clustered bootstrap intervals."""

    def auc(x: Sequence[float]) -> Callable[[list[int]], float | None]:
        return lambda idx: auroc([x[i] for i in idx], [label[i] for i in idx])

    def diff(idx: list[int]) -> float | None:
        u, v = auc(a)(idx), auc(b)(idx)
        return None if u is None or v is None else u - v

    everything = list(range(len(label)))
    clusters = len(set(task))
    d = diff(everything)
    out: dict[str, Any] = {
        "n": len(label),
        "tasks": clusters,
        "passing": sum(label),
        "failing": len(label) - sum(label),
        "a": _r(auc(a)(everything)),
        "b": _r(auc(b)(everything)),
        "diff": _r(d),
    }
    ci = bootstrap_ci(diff, len(label), resamples=resamples, seed=seed, groups=list(task))
    out["ci"] = {"lo": ci["lo"], "hi": ci["hi"], "undefined": ci["undefined"]}
    out["few_tasks"] = clusters < MIN_CLUSTERS  # the interval is then too narrow to trust
    out["above_zero"] = ci["lo"] is not None and ci["lo"] > 0
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def hard_study(
    sets: Mapping[str, Sequence[Trajectory]],
    *,
    resamples: int = 2000,
    seed: int = 0,
    rescored: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every comparison in every stratum of every set (and of all sets pooled), plus step-level credit.

    ``rescored``: trajectory key -> ``{"reward_v2", "rewards_v2"}`` from :mod:`lanser.harness.study.rescore`
    (pr-v2 from real severities and lines); a set whose every trajectory has one also gets ``reward_v2``.
    """
    extra = rescored or {}
    # Recorded (human) trajectories are material of their own: out of the synthetic sets and their pool,
    # then pooled with them in ``pooled_with_human`` (their passes against the same synthetic failures).
    human = [t for ts in sets.values() for t in ts if is_recorded(t) and t.outcome != "infra_error"]
    sets = {name: kept for name, ts in sets.items() if (kept := [t for t in ts if not is_recorded(t)])}
    pooled = [t for ts in sets.values() for t in ts]
    covered = [name for name, ts in sets.items() if ts and all(t.key in extra for t in ts)]
    groups = [*sets.items(), ("pooled", pooled)]
    if 1 < len(covered) < len(sets):  # the sets pr-v2 was re-scored on, together
        groups.append(("pooled_rescored", [t for name in covered for t in sets[name]]))
    if human:
        groups.append(("pooled_with_human", [*pooled, *human]))
    out: dict[str, Any] = {
        "bar": BAR,
        "predictors": {k: v[1] for k, v in HARD_PREDICTORS.items()},
        "sets": {},
        "resamples": resamples,
        "bootstrap_seed": seed,
        "human": [_recorded_row(t, pooled, extra) for t in human],
    }
    for name, ts in groups:
        ts = [t for t in ts if t.outcome != "infra_error"]
        scores = {k: [f(t) for t in ts] for k, (f, _) in HARD_PREDICTORS.items()}
        comparisons = list(COMPARISONS)
        if ts and all(t.key in extra for t in ts):
            scores["reward_v2"] = [float(extra[t.key]["reward_v2"]) for t in ts]
            comparisons = [(a, b) for a, b in RESCORED_COMPARISONS] + comparisons
            out["predictors"]["reward_v2"] = (
                "pr-v2 re-scored from real clangd facts (severity-weighted, changed "
                "lines x2), states rebuilt from the regenerated plans"
            )
        label = [t.all_pass for t in ts]
        task = [f"{t.dataset}::{t.task}" for t in ts]
        entry: dict[str, Any] = {}
        for sname, idx in strata(ts).items():
            lab = [label[i] for i in idx]
            if not any(lab) or all(lab):
                continue
            tk = [task[i] for i in idx]
            single = {k: _r(auroc([v[i] for i in idx], lab)) for k, v in scores.items()}
            comps = {
                f"{x} - {y}": paired(
                    [scores[x][i] for i in idx], [scores[y][i] for i in idx], lab, tk, resamples=resamples, seed=seed
                )
                for x, y in comparisons
            }
            entry[sname] = {
                "n": len(idx),
                "tasks": len(set(tk)),
                "passing": sum(lab),
                "failing": len(lab) - sum(lab),
                "auroc": single,
                "paired": comps,
            }
        out["sets"][name] = {
            "strata": entry,
            "step_credit": step_credit(ts, resamples=resamples, seed=seed, rescored=extra),
        }
    return out


def is_recorded(t: Trajectory) -> bool:
    """A trajectory recorded from a real agent or a human (``replay:FILE``), not a synthetic one."""
    return t.agent.startswith("replay:")


def _recorded_row(t: Trajectory, synthetic: Sequence[Trajectory], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded trajectory's rewards per step and summed, beside the same task's oracle, and how many
    of the same task's synthetic trajectories have a higher, equal or lower pr-v2 sum."""
    same = [s for s in synthetic if s.dataset == t.dataset and s.task == t.task]
    oracle = next((s for s in same if s.agent == "oracle"), None)
    v2 = extra.get(t.key, {}).get("reward_v2")
    row: dict[str, Any] = {
        "dataset": t.dataset,
        "task": t.task,
        "agent": t.agent,
        "outcome": t.outcome,
        "all_pass": t.all_pass,
        "edit_steps": _edits(t),
        "notes": list(t.notes),
        "reward_v1": round(t.cumulative, 6),
        "rewards_v1": [round(c[0] + c[1] + c[2], 6) for c in t.components],
        "reward_v2": v2,
        "rewards_v2": extra.get(t.key, {}).get("rewards_v2"),
        "oracle_reward_v1": None if oracle is None else round(oracle.cumulative, 6),
        "oracle_reward_v2": None if oracle is None else extra.get(oracle.key, {}).get("reward_v2"),
        "synthetic_on_task": len(same),
    }
    if v2 is not None and same and all(s.key in extra for s in same):
        others = [float(extra[s.key]["reward_v2"]) for s in same]
        row["v2_vs_synthetic"] = {
            "higher": sum(o > float(v2) for o in others),
            "tied": sum(o == float(v2) for o in others),
            "lower": sum(o < float(v2) for o in others),
        }
    return row


def step_credit(
    ts: Sequence[Trajectory],
    *,
    resamples: int = 2000,
    seed: int = 0,
    rescored: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Step level: gold steps against fault steps, pr-v1's step reward (D after a step re-read) against
    severity-blind pr-v2's (the same without its constant safety and ambiguity terms), as a paired
    difference with a task-clustered interval; and first-error accuracy: in trajectories with a fault
    step, is the lowest-rewarded step the first fault?"""
    extra = rescored or {}
    full = bool(ts) and all(t.key in extra for t in ts)
    rows: list[tuple[str, bool, float, float, float]] = []  # task, gold?, v1, v2 blind, v2 (or v2 blind)
    first_hits: dict[str, list[bool]] = {"reward_v1": [], "reward_v2_blind": [], **({"reward_v2": []} if full else {})}
    for t in ts:
        fixed = t.step_rewards_fixed()
        if fixed is None:
            fixed = [c[0] + c[1] + c[2] for c in t.components]
        v2 = [round(r - c[1] - c[2], 9) for r, c in zip(fixed, t.components, strict=False)]
        real = [float(x) for x in extra[t.key]["rewards_v2"]] if full else v2
        kinds = [
            "fault" if n.startswith("fault ") else "gold" if n.startswith("gold") and "cut" not in n else "other"
            for n in t.notes[: len(fixed)]
        ]
        for k, r1, r2, r3 in zip(kinds, fixed, v2, real, strict=False):
            if k in ("gold", "fault"):
                rows.append((f"{t.dataset}::{t.task}", k == "gold", r1, r2, r3))
        if "fault" in kinds:
            first = kinds.index("fault")
            for name, rs in (("reward_v1", fixed), ("reward_v2_blind", v2), ("reward_v2", real)):
                if name in first_hits:
                    low = min(rs)
                    first_hits[name].append(rs[first] == low and rs.index(low) == first)
    if not rows:
        return {"steps": 0}
    res = paired(
        [r[3] for r in rows],
        [r[2] for r in rows],
        [r[1] for r in rows],
        [r[0] for r in rows],
        resamples=resamples,
        seed=seed,
    )
    gold_vs_fault = {
        "reward_v2_blind": res["a"],
        "reward_v1": res["b"],
        "v2_minus_v1": res["diff"],
        "ci": res["ci"],
        "tasks": res["tasks"],
    }
    if full:
        real_res = paired(
            [r[4] for r in rows],
            [r[2] for r in rows],
            [r[1] for r in rows],
            [r[0] for r in rows],
            resamples=resamples,
            seed=seed,
        )
        gold_vs_fault.update(reward_v2=real_res["a"], real_v2_minus_v1=real_res["diff"], real_ci=real_res["ci"])
    return {
        "steps": len(rows),
        "gold_vs_fault": gold_vs_fault,
        "first_error_accuracy": {
            k: {"trajectories": len(v), "hits": sum(v), "accuracy": _r(sum(v) / len(v)) if v else None}
            for k, v in first_hits.items()
        },
        "test_delta_tracking": "not measurable offline: no stored trajectory has per-step test outcomes",
    }


def _ci(p: dict[str, Any]) -> str:
    lo, hi = p["ci"]["lo"], p["ci"]["hi"]
    flag = "*" if p["few_tasks"] else ""
    return (
        "n/a"
        if p["diff"] is None
        else (f"{p['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]{flag}" if lo is not None else f"{p['diff']:+.3f} [-]")
    )


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def _steps(rs: Sequence[float]) -> str:
    return ", ".join(f"{r:+.3f}" for r in rs)


def hard_markdown(result: dict[str, Any], command: str = "") -> str:
    """The predictors x strata tables with their paired intervals."""
    lines = [
        "# The hard study: rewards against build + steps, by stratum",
        "",
        f"Generated by `{command}`." if command else "",
        "",
        f"Pre-registered bar (issue 24): {result['bar']}.",
        "",
        'Each paired cell: AUROC(A) - AUROC(B) on the same trajectories for "all tests pass", 95% '
        f"percentile interval resampling whole tasks ({result.get('resamples', 2000)} resamples, seed "
        f"{result.get('bootstrap_seed', 0)}). `*`: fewer than "
        f"{MIN_CLUSTERS} tasks, so the interval is too narrow to trust. Predictors:",
        "",
    ]
    lines += [f"- `{k}`: {v}" for k, v in result["predictors"].items()]
    for name, s in result["sets"].items():
        names = list(next(iter(s["strata"].values()))["auroc"]) if s["strata"] else []
        lines += [
            "",
            f"## {name}",
            "",
            "| stratum | n (pass/fail, tasks) | " + " | ".join(f"`{k}`" for k in names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for sname, e in s["strata"].items():
            lines.append(
                f"| {sname} | {e['n']} ({e['passing']}/{e['failing']}, {e['tasks']}) | "
                + " | ".join("-" if v is None else f"{v:.3f}" for v in e["auroc"].values())
                + " |"
            )
        comps = next(iter(s["strata"].values()))["paired"] if s["strata"] else {}
        lines += ["", "| stratum | " + " | ".join(f"`{c}`" for c in comps) + " |", "|---|" + "---|" * len(comps)]
        for sname, e in s["strata"].items():
            lines.append(f"| {sname} | " + " | ".join(_ci(p) for p in e["paired"].values()) + " |")
        sc = s["step_credit"]
        if sc.get("steps"):
            g, fe = sc["gold_vs_fault"], sc["first_error_accuracy"]
            lines += [
                "",
                f"Step level ({sc['steps']} gold or fault steps, {g['tasks']} tasks): gold vs fault AUROC "
                f"pr-v1 {g['reward_v1']}, severity-blind pr-v2 {g['reward_v2_blind']}, difference "
                f"{g['v2_minus_v1']} [{g['ci']['lo']}, {g['ci']['hi']}]. First-error accuracy (the lowest "
                f"step reward is the first fault step): pr-v1 {fe['reward_v1']['hits']}/"
                f"{fe['reward_v1']['trajectories']}, pr-v2 {fe['reward_v2_blind']['hits']}/"
                f"{fe['reward_v2_blind']['trajectories']}. {sc['test_delta_tracking']}.",
            ]
            if "reward_v2" in g:
                lines += [
                    "",
                    f"With pr-v2 re-scored from real clangd facts: gold vs fault AUROC {g['reward_v2']}, "
                    f"minus pr-v1: {g['real_v2_minus_v1']} [{g['real_ci']['lo']}, {g['real_ci']['hi']}]; "
                    f"first-error accuracy {fe['reward_v2']['hits']}/{fe['reward_v2']['trajectories']}.",
                ]
    if result.get("human"):
        lines += [
            "",
            "## Human trajectories (recorded, replayed through the grader)",
            "",
            "Material of their own: not in the sets above or in `pooled`, only in `pooled_with_human`. "
            "Last column: how many of the same task's synthetic trajectories have a higher / equal / lower pr-v2 "
            "sum than the human's.",
            "",
            "| task | outcome | steps | pr-v1 per step (sum) | pr-v2 per step (sum) | oracle pr-v1 / pr-v2 "
            "| synthetic pr-v2 higher / equal / lower |",
            "|---|---|---|---|---|---|---|",
        ]
        for h in result["human"]:
            v2 = "-" if h["rewards_v2"] is None else _steps(h["rewards_v2"])
            vs = h.get("v2_vs_synthetic")
            rank = "-" if vs is None else f"{vs['higher']} / {vs['tied']} / {vs['lower']}"
            lines.append(
                f"| {h['dataset']}/{h['task'].split('/')[-1]} (`{h['agent']}`) | {h['outcome']} | {h['edit_steps']} | "
                f"{_steps(h['rewards_v1'])} ({_num(h['reward_v1'])}) | {v2} ({_num(h['reward_v2'])}) | "
                f"{_num(h['oracle_reward_v1'])} / {_num(h['oracle_reward_v2'])} | {rank} |"
            )
    return "\n".join(lines) + "\n"


USAGE = """usage: python -m lanser.harness.study.stats RESULTS.json... [--rescored RESCORED.json]... [--out DIR]

The hard study (issue 24) over one or more studies' results.json (each named by its directory):
every predictor's AUROC per stratum, paired differences with task-resampled intervals, step-level
credit. Writes hard.json and hard.md in DIR (default study/hard). --rescored adds pr-v2 re-scored
from real language-server facts (python -m lanser.harness.study.rescore; repeatable).

Example:
  python -m lanser.harness.study.stats study/kernel-crash/results.json --out study/kernel-crash"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lanser.harness.study.stats RESULTS.json... --out DIR``: hard.json and hard.md in DIR."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args) or not args:
        print(USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    missing = [
        a
        for i, a in enumerate(args)
        if (i == 0 or args[i - 1] not in ("--out",)) and a.endswith(".json") and not Path(a).is_file()
    ]
    if missing:
        print(f"no such file: {', '.join(missing)}\n\n{USAGE}", file=sys.stderr)
        return 2
    out = Path("study/hard")
    if "--out" in args:
        i = args.index("--out")
        out = Path(args[i + 1])
        del args[i : i + 2]
    rescored: dict[str, Any] = {}
    files: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "--rescored":
            rescored.update(json.loads(Path(args[i + 1]).read_text())["trajectories"])
            i += 2
        else:
            files.append(args[i])
            i += 1
    sets = {Path(a).parent.name: load_trajectories(Path(a)) for a in files}
    result = hard_study(sets, rescored=rescored)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hard.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out / "hard.md").write_text(
        hard_markdown(result, " ".join(["python -m lanser.harness.study.stats", *args, "--out", str(out)])),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
