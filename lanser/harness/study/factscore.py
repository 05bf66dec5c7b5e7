"""Do the extra facts (:mod:`lanser.harness.study.facts`) help pr-v2 on compile-clean failures? (pure,
plus a small CLI)

Each candidate is pr-v2 with one more potential component, ``Phi += -a * w * count`` (``a`` = 0.5,
``w`` = 1: one such diagnostic weighs one error), so its trajectory score is
``reward_v2 - a * w * (count_final - count_start)``:

- ``tidy_all``: every bugprone-*/cert-* diagnostic; ``tidy_sel``: only the checks selected;
- ``w_all``: every diagnostic the extra -W flags add; ``w_sel``: only the flags selected;
- ``ref``: checking calls (in an if/while condition or an assert) that disappeared.

Selection, by measurement and before the evaluation: a check or flag is selected when, on the
selection sets, it rose in at least one compile-clean failing trajectory and in no passing one.
Scored on the compile-clean, edited stratum (passes against failures that compile and edited
something), as paired AUROC differences with task-clustered bootstrap intervals, against pr-v2
alone and against build + steps.

``python -m lanser.harness.study.factscore --select SET... --out DIR NAME=RESULTS,FACTS,RESCORED...``
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lanser.harness.study.analysis import Trajectory, auroc
from lanser.harness.study.facts import deltas, firing
from lanser.harness.study.stats import load_trajectories, paired

__all__ = ["CANDIDATES", "score_facts", "select"]

SCALE = 0.5  #: pr-v2's a
CANDIDATES = ("tidy_all", "tidy_sel", "w_all", "w_sel", "ref")


def _rows(
    ts: Sequence[Trajectory], facts: Mapping[str, Any], rescored: Mapping[str, Any]
) -> list[tuple[Trajectory, dict[str, float], float]]:
    """(trajectory, fact deltas, pr-v2) of the compile-clean, edited trajectories that have both."""
    out = []
    for t in ts:
        if t.outcome == "infra_error" or not t.compiled or not (t.all_pass or t.components):
            continue
        d = deltas(facts, t.key)
        if d is None or t.key not in rescored:
            continue
        out.append((t, d, float(rescored[t.key]["reward_v2"])))
    return out


def select(rows: Sequence[tuple[Trajectory, Mapping[str, float], float]]) -> list[str]:
    """The checks and flags that rose in a failing trajectory and in no passing one."""
    fired = firing([(t.all_pass, d) for t, d, _ in rows])
    return sorted(k for k, v in fired.items() if v["fail"] > 0 and v["pass"] == 0 and k != "ref")


def _count(d: Mapping[str, float], candidate: str, selected: Sequence[str]) -> float:
    if candidate == "ref":
        return d.get("ref", 0.0)
    prefix = "tidy:" if candidate.startswith("tidy") else "w:"
    keys = [k for k in d if k.startswith(prefix) and (candidate.endswith("_all") or k in selected)]
    return sum(d[k] for k in keys)


def score_facts(
    sets: Mapping[str, tuple[Sequence[Trajectory], Mapping[str, Any], Mapping[str, Any]]],
    select_on: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Firing tables, the selection, and every candidate's AUROC and paired differences per set,
    for the selection sets pooled and for the other sets pooled (held out)."""
    rows = {name: _rows(*v) for name, v in sets.items()}
    chosen = select([r for name in select_on for r in rows.get(name, [])])
    held = [n for n in rows if n not in select_on]
    groups = {
        **{n: rows[n] for n in rows},
        "selection": [r for n in select_on for r in rows.get(n, [])],
        "held_out": [r for n in held for r in rows[n]],
    }
    out: dict[str, Any] = {"selected": chosen, "select_on": list(select_on), "held_out": held, "sets": {}}
    for name, rs in groups.items():
        label = [t.all_pass for t, _, _ in rs]
        entry: dict[str, Any] = {
            "n": len(rs),
            "passing": sum(label),
            "failing": len(label) - sum(label),
            "tasks": len({(t.dataset, t.task) for t, _, _ in rs}),
            "firing": firing([(t.all_pass, d) for t, d, _ in rs]),
        }
        if any(label) and not all(label):
            task = [f"{t.dataset}::{t.task}" for t, _, _ in rs]
            v2 = [r for _, _, r in rs]
            steps = [float(t.compiled) * 1000 + len(t.components) for t, _, _ in rs]
            entry["auroc"] = {"reward_v2": _r(auroc(v2, label)), "build_more_steps": _r(auroc(steps, label))}
            entry["paired"] = {}
            for c in CANDIDATES:
                score = [r - SCALE * _count(d, c, chosen) for _, d, r in rs]
                entry["auroc"][c] = _r(auroc(score, label))
                entry["paired"][f"{c} - reward_v2"] = paired(score, v2, label, task, resamples=resamples, seed=seed)
                entry["paired"][f"{c} - build_more_steps"] = paired(
                    score, steps, label, task, resamples=resamples, seed=seed
                )
            entry["paired"]["reward_v2 - build_more_steps"] = paired(
                v2, steps, label, task, resamples=resamples, seed=seed
            )
        out["sets"][name] = entry
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _ci(p: Mapping[str, Any]) -> str:
    lo, hi = p["ci"]["lo"], p["ci"]["hi"]
    if p["diff"] is None:
        return "n/a"
    return f"{p['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]" if lo is not None else f"{p['diff']:+.3f} [-]"


def markdown(result: Mapping[str, Any], command: str = "") -> str:
    lines = [
        "# Extra facts for compile-clean faults (clang-tidy, extra -W flags, reference deltas)",
        "",
        f"Selected on {', '.join(result['select_on'])} (rose in a compile-clean failure, in no pass): "
        + (", ".join(f"`{k}`" for k in result["selected"]) or "nothing"),
        "",
        "Stratum: compile-clean, edited trajectories. Candidate = pr-v2 - 0.5 x (count final - count start).",
        "",
        "| set | passes / failures (tasks) | pr-v2 | build + steps | "
        + " | ".join(CANDIDATES)
        + " | best candidate - pr-v2 [95% CI] |",
        "|---" * (5 + len(CANDIDATES)) + "|",
    ]
    for name, e in result["sets"].items():
        if "auroc" not in e:
            lines.append(
                f"| {name} | {e['passing']} / {e['failing']} ({e['tasks']}) | n/a |" + " |" * (2 + len(CANDIDATES))
            )
            continue
        a = e["auroc"]
        best = max(CANDIDATES, key=lambda c: a[c] if a[c] is not None else -1.0)
        lines.append(
            f"| {name} | {e['passing']} / {e['failing']} ({e['tasks']}) | {a['reward_v2']} | {a['build_more_steps']} | "
            + " | ".join(str(a[c]) for c in CANDIDATES)
            + f" | {best}: {_ci(e['paired'][f'{best} - reward_v2'])} |"
        )
    lines += ["", "## What fired (final minus start > 0), in how many passing / failing trajectories", ""]
    for name, e in result["sets"].items():
        fired = e["firing"]
        lines.append(
            f"- {name}: "
            + (", ".join(f"`{k}` {v['pass']}/{v['fail']}" for k, v in fired.items()) if fired else "nothing rose")
        )
    if command:
        lines += ["", "Produced by:", "", "```", command, "```"]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out, select_on = Path("study/facts"), []
    sets: dict[str, tuple[Sequence[Trajectory], Mapping[str, Any], Mapping[str, Any]]] = {}
    i = 0
    while i < len(args):
        if args[i] == "--out":
            out = Path(args[i + 1])
            i += 2
        elif args[i] == "--select":
            select_on = args[i + 1].split(",")
            i += 2
        else:
            name, _, files = args[i].partition("=")
            res, facts, rescored = files.split(",")
            sets[name] = (
                [t for t in load_trajectories(Path(res)) if t.dataset == name or name not in _datasets(Path(res))],
                json.loads(Path(facts).read_text()),
                json.loads(Path(rescored).read_text())["trajectories"],
            )
            i += 1
    result = score_facts(sets, select_on)
    out.mkdir(parents=True, exist_ok=True)
    (out / "facts.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    command = " ".join(["python -m lanser.harness.study.factscore", *args])
    (out / "facts.md").write_text(markdown(result, command), encoding="utf-8")
    return 0


def _datasets(results: Path) -> set[str]:
    return {str(r.get("dataset")) for r in json.loads(results.read_text())["trajectories"]}


if __name__ == "__main__":
    raise SystemExit(main())
