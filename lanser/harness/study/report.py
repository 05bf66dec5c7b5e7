"""The study's plots (inline-free SVG files, no plotting library) and markdown summary (pure)."""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from typing import Any

from lanser.harness.study.analysis import MIN_CLUSTERS, PREDICTORS, Trajectory

__all__ = ["build_study", "curves_svg", "faults_table", "predictors_svg", "scatter_svg", "summary_markdown"]

_AGENT_COLOURS = {
    "oracle": "#2e7d32",
    "shuffle": "#1565c0",
    "corrupt": "#c62828",
    "partial": "#ef6c00",
    "noop": "#616161",
    "replay": "#6a1b9a",
}
_FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def _colour(agent: str) -> str:
    return _AGENT_COLOURS.get(agent.split(":")[0], "#00838f")


def _jitter(key: str, span: float) -> float:
    """A fixed offset per trajectory (from its key), so equal points stay visible and plots reproducible."""
    return (int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF - 0.5) * span


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {_FONT}><title>{html.escape(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="white"/>' + "".join(body) + "</svg>\n"
    )


def _axis(
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    xlo: float,
    xhi: float,
    ylo: float,
    yhi: float,
    xlabel: str,
    ylabel: str,
    yticks: Sequence[float],
    xticks: int = 4,
) -> list[str]:
    out = [
        f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>',
        f'<text x="{(x0 + x1) / 2}" y="{y1 + 30}" text-anchor="middle">{html.escape(xlabel)}</text>',
        f'<text x="12" y="{(y0 + y1) / 2}" text-anchor="middle" transform="rotate(-90 12 {(y0 + y1) / 2})">'
        f"{html.escape(ylabel)}</text>",
    ]
    for k in range(xticks + 1):
        v = xlo + (xhi - xlo) * k / xticks
        x = x0 + (x1 - x0) * k / xticks
        out.append(f'<text x="{x:.1f}" y="{y1 + 14}" text-anchor="middle">{v:.3g}</text>')
    for v in yticks:
        y = y1 - (y1 - y0) * (v - ylo) / ((yhi - ylo) or 1)
        out.append(
            f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>'
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#eee"/>'
        )
    return out


def _legend(x: float, y: float, agents: Sequence[str]) -> list[str]:
    out = []
    for i, a in enumerate(agents):
        out.append(
            f'<circle cx="{x}" cy="{y + 14 * i}" r="4" fill="{_colour(a)}"/>'
            f'<text x="{x + 8}" y="{y + 14 * i + 4}">{html.escape(a)}</text>'
        )
    return out


def scatter_svg(ts: Sequence[Trajectory], width: int = 620, height: int = 380) -> str:
    """Cumulative reward (x) against the test pass rate (y), one dot per trajectory, by agent."""
    x0, y0, x1, y1 = 50.0, 20.0, width - 110.0, height - 45.0
    xs = [t.cumulative for t in ts] or [0.0]
    lo, hi = min(xs + [0.0]), max(xs + [0.0])
    span = (hi - lo) or 1.0
    lo, hi = lo - span * 0.05, hi + span * 0.05
    body = _axis(x0, y0, x1, y1, lo, hi, 0, 1, "cumulative process reward", "test pass rate", (0, 0.25, 0.5, 0.75, 1))
    for t in ts:
        x = x0 + (x1 - x0) * (t.cumulative - lo) / (hi - lo) + _jitter(t.key + "x", 6)
        y = y1 - (y1 - y0) * t.pass_rate + _jitter(t.key, 10)
        shape = "" if t.all_pass else ' fill-opacity="0.55"'
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{_colour(t.agent)}"{shape}>'
            f"<title>{html.escape(t.task)} {html.escape(t.agent)}: reward {t.cumulative}, "
            f"pass rate {t.pass_rate:.2f}, {html.escape(t.outcome)}</title></circle>"
        )
    body += _legend(x1 + 20, y0 + 10, sorted({t.agent.split(":")[0] for t in ts}))
    return _svg(width, height, body, "process reward vs outcome")


def curves_svg(ts: Sequence[Trajectory], width: int = 720, height: int = 380) -> str:
    """Cumulative reward after each edit step: passing trajectories green, failing red, means bold
    (a trajectory that has ended counts at its last value)."""
    x0, y0, x1, y1 = 50.0, 20.0, width - 200.0, height - 45.0
    series = [(t, [0.0] + _edit_cumsum(t)) for t in ts]
    steps = max((len(s) for _, s in series), default=1) - 1 or 1
    ys = [v for _, s in series for v in s] or [0.0]
    lo, hi = min(ys + [0.0]), max(ys + [0.0])
    span = (hi - lo) or 1.0

    def pt(i: int, v: float) -> str:
        return f"{x0 + (x1 - x0) * i / steps:.1f},{y1 - (y1 - y0) * (v - lo) / span:.1f}"

    ticks = sorted({round(lo, 2), 0.0, round(hi, 2)})
    body = _axis(x0, y0, x1, y1, 0, steps, lo, hi, "edit step", "cumulative reward", ticks, xticks=steps)
    for t, s in series:
        colour = "#2e7d32" if t.all_pass else "#c62828"
        body.append(
            f'<polyline points="{" ".join(pt(i, v) for i, v in enumerate(s))}" fill="none" '
            f'stroke="{colour}" stroke-opacity="0.25" stroke-width="1.5"><title>{html.escape(t.task)} '
            f"{html.escape(t.agent)}</title></polyline>"
        )
    for passing, colour, label in ((True, "#1b5e20", "mean, all tests pass"), (False, "#b71c1c", "mean, failing")):
        group = [s for t, s in series if t.all_pass == passing]
        if not group:
            continue
        mean = [sum(s[min(i, len(s) - 1)] for s in group) / len(group) for i in range(steps + 1)]
        body.append(
            f'<polyline points="{" ".join(pt(i, v) for i, v in enumerate(mean))}" fill="none" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        k = 0 if passing else 1
        body.append(
            f'<line x1="{x1 + 10}" y1="{y0 + 14 * k}" x2="{x1 + 30}" y2="{y0 + 14 * k}" stroke="{colour}" '
            f'stroke-width="3"/><text x="{x1 + 34}" y="{y0 + 14 * k + 4}">{label} ({len(group)})</text>'
        )
    return _svg(width, height, body, "per-step reward curves, passing vs failing")


def _edit_cumsum(t: Trajectory) -> list[float]:
    """Cumulative reward after each edit step (the step's reward is the sum of its terms)."""
    out, total = [], 0.0
    for c in t.components:
        total += sum(c)
        out.append(round(total, 9))
    return out


def predictors_svg(analysis: dict[str, Any], width: int = 820) -> str:
    """AUROC (all tests pass) and Spearman rho (pass rate) per predictor, with 95% CI whiskers."""
    names = list(PREDICTORS)
    row, top = 22, 30
    height = top + row * len(names) + 40
    label_w, gap = 230.0, 50.0
    panel = (width - label_w - gap - 20) / 2
    body = [
        f'<text x="{label_w + panel / 2}" y="16" text-anchor="middle" font-weight="bold">AUROC, all tests pass</text>',
        f'<text x="{label_w + panel * 1.5 + gap}" y="16" text-anchor="middle" font-weight="bold">'
        "Spearman rho vs pass rate</text>",
    ]
    panels = ((label_w, "auroc_all_pass", 0.0, 1.0, 0.5), (label_w + panel + gap, "spearman_pass_rate", -1.0, 1.0, 0.0))
    for px, stat, lo, hi, ref in panels:

        def sx(v: float, px: float = px, lo: float = lo, hi: float = hi) -> float:
            return px + panel * (v - lo) / (hi - lo)

        body.append(
            f'<line x1="{sx(ref):.1f}" y1="{top - 6}" x2="{sx(ref):.1f}" y2="{top + row * len(names)}" '
            f'stroke="#555" stroke-dasharray="4 3"/>'
        )
        for v in (lo, ref, hi):
            body.append(f'<text x="{sx(v):.1f}" y="{top + row * len(names) + 14}" text-anchor="middle">{v:g}</text>')
        for i, name in enumerate(names):
            y = top + row * i
            e = analysis["predictors"][name][stat]
            colour = "#1565c0" if name.startswith("reward") else "#ef6c00" if name.startswith("ablation") else "#757575"
            if e["value"] is None:
                body.append(f'<text x="{sx(ref) + 4:.1f}" y="{y + 13}">n/a</text>')
                continue
            body.append(
                f'<rect x="{min(sx(ref), sx(e["value"])):.1f}" y="{y + 3}" '
                f'width="{abs(sx(e["value"]) - sx(ref)):.1f}" height="{row - 8}" fill="{colour}">'
                f"<title>{name}: {e['value']}</title></rect>"
            )
            ci = e["ci"]
            if ci["lo"] is not None:
                ym = y + row / 2 - 1
                body.append(
                    f'<line x1="{sx(ci["lo"]):.1f}" y1="{ym}" x2="{sx(ci["hi"]):.1f}" y2="{ym}" '
                    f'stroke="#111"/><line x1="{sx(ci["lo"]):.1f}" y1="{ym - 4}" x2="{sx(ci["lo"]):.1f}" '
                    f'y2="{ym + 4}" stroke="#111"/><line x1="{sx(ci["hi"]):.1f}" y1="{ym - 4}" '
                    f'x2="{sx(ci["hi"]):.1f}" y2="{ym + 4}" stroke="#111"/>'
                )
    for i, name in enumerate(names):
        body.append(f'<text x="{label_w - 8}" y="{top + row * i + 15}" text-anchor="end">{html.escape(name)}</text>')
    body.append(
        f'<text x="8" y="{height - 8}">bars: value on all trajectories; whiskers: 95% bootstrap CI '
        "(trajectories resampled)</text>"
    )
    return _svg(width, height, body, "predictors and reward ablations")


def faults_table(ts: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """Per injected fault kind (from the trajectory notes): how the reward and the outcome saw it."""
    rows: dict[str, list[Trajectory]] = {}
    for t in ts:
        for note in t.notes:
            if note.startswith("fault ") and not t.agent.startswith("shuffle"):
                rows.setdefault(note.split()[1], []).append(t)
    out = []
    for kind, group in sorted(rows.items()):
        n = len(group)
        fresh = [t.diag_remeasured for t in group if t.diag_remeasured is not None]
        out.append(
            {
                "fault": kind,
                "n": n,
                "mean_diag_term": round(sum(t.diag_recorded for t in group) / n, 4),
                "mean_diag_remeasured": round(sum(fresh) / len(fresh), 4) if fresh else None,
                "mean_cumulative_reward": round(sum(t.cumulative for t in group) / n, 4),
                "compiled": sum(t.compiled for t in group),
                "all_pass": sum(t.all_pass for t in group),
            }
        )
    return out


def _fmt(e: dict[str, Any]) -> str:
    v = e["value"]
    if v is None:
        return "n/a"

    def ci(c: dict[str, Any]) -> str:
        return "[-]" if c["lo"] is None else f"[{c['lo']:.2f}, {c['hi']:.2f}]"

    return f"{v:.3f} {ci(e['ci'])} {ci(e['ci_by_task'])}"


def _reading(name: str, e: dict[str, Any]) -> str:
    a = e["auroc_all_pass"]
    if e.get("constant"):
        return f"- `{name}`: constant on these trajectories; it carries no information here."
    if a["value"] is None:
        return f"- `{name}`: AUROC undefined (the trajectories do not contain both passing and failing ones)."
    by_task = a["ci_by_task"]["lo"] is not None
    ci = a["ci_by_task"] if by_task else a["ci"]
    lo, hi = ci["lo"], ci["hi"]
    how = (
        "with whole tasks resampled"
        if by_task
        else "resampling trajectories only (too few tasks to resample tasks; this interval is optimistic)"
    )
    if lo is None:
        verdict = "no interval (too few defined resamples)"
    elif lo > 0.5:
        verdict = f"above chance {how}"
    elif hi < 0.5:
        verdict = f"below chance, pointing the wrong way, {how}"
    else:
        verdict = f"not distinguishable from chance {how}"
    w = e["auroc_within_task"]["value"]
    within = "n/a" if w is None else f"{w:.3f}"
    return f"- `{name}` (n={e['n']}): AUROC {a['value']:.3f}, {verdict}; within the same task {within}."


def _step_lines(steps: dict[str, Any]) -> list[str]:
    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    lines = [
        "",
        "## Step level: does a step's reward tell a correct step from a faulty one?",
        "",
        "Edit steps by what the plan made them (gold hunk, hunk with a fault, revert of a fault, hunk cut "
        'short). "Re-read" takes D after a step from the next step\'s D before (the same disk state) and, '
        "after the last step, from the fresh D_final.",
        "",
        "| step | n | mean reward, recorded | mean reward, D re-read |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v['steps']} | {num(v['mean_recorded'])} | {num(v['mean_fixed'])} |"
        for k, v in steps["by_kind"].items()
    ]
    for which in ("recorded", "fixed"):
        e = steps[f"auroc_gold_vs_fault_{which}"]
        ci = "" if e["ci"]["lo"] is None else f" [{e['ci']['lo']:.2f}, {e['ci']['hi']:.2f}]"
        label = "recorded" if which == "recorded" else "D re-read"
        lines.append(
            f"- AUROC of the step reward, gold against fault steps ({label}, {e['steps']} steps): "
            f"{num(e['value'])}{ci}; pairs within one task only: {num(e['within_task'])}"
        )
    return lines


def _check_lines(check: dict[str, Any]) -> list[str]:
    if not check["measured"]:
        return []
    return [
        "",
        "## Check of the recorded diagnostics term",
        "",
        "D of each trajectory's start and final state was measured again, each in a fresh language server. "
        "Summed over steps, the recorded diagnostics terms should equal a*(D_start - D_final).",
        "",
        f"- trajectories with edits measured: {check['measured']}",
        f"- recorded D before the first step equals the fresh D_start: {check['start_agrees']}",
        f"- recorded sum of diagnostics terms equals a*(D_start - D_final): {check['sum_agrees']}",
        f"- mean of (recorded - remeasured): {check['recorded_minus_remeasured_mean']}",
    ]


def summary_markdown(
    title: str,
    meta: dict[str, Any],
    analysis: dict[str, Any],
    agents: dict[str, Any],
    faults: list[dict[str, Any]],
    plots: dict[str, str],
    steps: dict[str, Any] | None = None,
) -> str:
    """The generated part of the write-up: what ran, the numbers, a mechanical reading of them."""
    lines = [
        f"# {title}",
        "",
        "Generated by `" + meta["command"] + "`; numbers are in `results.json`.",
        "",
        "The trajectories come from synthetic agents made from the gold patches (oracle, partial, corrupt, "
        "shuffle, noop): they stand in for real agents, whose trajectories can be added with "
        "`replay:FILE` or `cmd:COMMAND`. Their faults are injected on purpose, so the mix of failures is "
        "ours, not an agent's.",
        "",
        f"- datasets: {', '.join(meta['datasets'])}; tasks: {analysis['tasks']}; "
        f"trajectories: {analysis['n']} (passing all tests: {analysis['passing']}; resolved: {analysis['resolved']}; "
        f"left out for infrastructure errors: {analysis['excluded_infra_error']}; "
        f"duplicate plans not run twice: {meta['duplicates']})",
        f"- agents: {', '.join(meta['agents'])}; seeds per seeded agent: {meta['seeds']}; "
        f"bootstrap: {meta['resamples']} resamples, seed {meta['bootstrap_seed']}",
        "",
        "## Outcomes by agent",
        "",
        "| agent | n | all tests pass | mean pass rate | mean cumulative reward | outcomes |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in agents.items():
        outs = ", ".join(f"{k} {v}" for k, v in sorted(e["outcomes"].items()))
        lines.append(
            f"| {name} | {e['n']} | {e['all_pass']} | {e['mean_pass_rate']:.3f} | "
            f"{e['mean_cumulative_reward']:.3f} | {outs} |"
        )
    lines += [
        "",
        "## Predictors",
        "",
        "Each cell: value on all trajectories, 95% CI resampling trajectories, 95% CI resampling whole "
        f'tasks ([-]: not computed with fewer than {MIN_CLUSTERS} tasks). AUROC is for "all tests pass"; within-task AUROC compares only trajectories of the same '
        'task; Spearman rho is against the test pass rate; "resolved" also needs the sanitizers clean.',
        "",
        "| predictor | AUROC | within-task AUROC | Spearman rho | AUROC, resolved |",
        "|---|---|---|---|---|",
    ]
    for name, e in analysis["predictors"].items():
        lines.append(
            f"| `{name}` | {_fmt(e['auroc_all_pass'])} | {_fmt(e['auroc_within_task'])} | "
            f"{_fmt(e['spearman_pass_rate'])} | {_fmt(e['auroc_resolved'])} |"
        )
    lines += ["", "Mechanical reading (the discussion in the study's README interprets it):", ""]
    lines += [_reading(name, e) for name, e in analysis["predictors"].items()]
    lines += _check_lines(analysis["diagnostics_check"])
    if faults:
        lines += [
            "",
            "## Injected faults (corrupt agent)",
            "",
            "A trajectory with faults in two hunks counts under both.",
            "",
            "| fault | trajectories | mean diagnostics term, recorded | the same, remeasured | "
            "mean cumulative reward | compiled | all pass |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {f['fault']} | {f['n']} | {f['mean_diag_term']:.3f} | "
            f"{'-' if f['mean_diag_remeasured'] is None else format(f['mean_diag_remeasured'], '.3f')} | "
            f"{f['mean_cumulative_reward']:.3f} | {f['compiled']} | {f['all_pass']} |"
            for f in faults
        ]
    if steps and steps["by_kind"]:
        lines += _step_lines(steps)
    lines += ["", "## Plots", ""] + [f"- [{label}]({path})" for label, path in plots.items()] + [""]
    return "\n".join(lines)


def build_study(
    rows: Sequence[dict[str, Any]],
    wanted: Sequence[dict[str, Any]],
    meta: dict[str, Any],
    *,
    title: str,
    resamples: int = 1000,
    seed: int = 0,
    reward_version: str = "pr-v1",
) -> tuple[dict[str, str], dict[str, Any]]:
    """The study's files (name -> text) from store rows and the trajectories wanted
    (``dataset``, ``task``, ``spec``, ``key``, ``notes``, optionally ``remeasured`` and
    ``last_paths``), and its headline numbers.

    The warnings baseline compares each build log with the noop attempt's
    (the starting state) of the same task; without a noop the raw count is used.
    ``reward_version``: the version the headline's hard comparison is about (pr-v1 as recorded, or pr-v2
    re-scored from the stored facts; ``hard.md`` reports both).
    """
    from lanser.harness.study.analysis import analyse, by_agent, count_warnings, step_level, trajectory_from_result

    by_key = {r["key"]: r for r in rows}
    missing = [w for w in wanted if w["key"] not in by_key]
    if missing:
        raise ValueError(
            f"{len(missing)} wanted trajectories are not in the store "
            f"(first: {missing[0]['task']} {missing[0]['spec']})"
        )
    start: dict[tuple[str, str], int] = {}
    for w in wanted:
        if w["spec"] == "noop":
            build = (by_key[w["key"]].get("stages") or {}).get("build") or {}
            start[(w["dataset"], w["task"])] = count_warnings(build.get("output", ""))
    ts = [
        trajectory_from_result(
            by_key[w["key"]],
            w["dataset"],
            start.get((w["dataset"], w["task"])),
            w["notes"],
            w.get("remeasured"),
            w.get("last_paths"),
        )
        for w in wanted
    ]
    pooled = analyse(ts, resamples=resamples, seed=seed)
    per_dataset = (
        {
            name: analyse([t for t in ts if t.dataset == name], resamples=resamples, seed=seed)
            for name in meta["datasets"]
        }
        if len(meta["datasets"]) > 1
        else {}
    )
    agents, faults = by_agent(ts), faults_table(ts)
    steps = step_level([t for t in ts if t.outcome != "infra_error"], resamples=resamples, seed=seed)
    results: dict[str, Any] = {
        "schema": "lanser.study/1",
        "meta": meta,
        "analysis": pooled,
        "by_dataset": per_dataset,
        "agents": agents,
        "faults": faults,
        "step_level": steps,
        "trajectories": [t.to_dict() for t in ts],
    }
    plots = {
        "reward vs outcome": "scatter.svg",
        "per-step reward, passing vs failing": "curves.svg",
        "predictors and ablations (AUROC, Spearman)": "predictors.svg",
    }
    summary = summary_markdown(title, meta, pooled, agents, faults, plots, steps)
    for name, part in per_dataset.items():
        summary += f"\n## {name} alone\n\n" + "\n".join(_reading(p, e) for p, e in part["predictors"].items()) + "\n"
    from lanser.harness.study.stats import hard_markdown, hard_study

    hard = hard_study(
        {name: [t for t in ts if t.dataset == name] for name in meta["datasets"]}, resamples=resamples, seed=seed
    )
    hard["rewards"] = {
        "recorded": "pr-v1",
        "rescored": "pr-v2 (severity-blind, from the stored facts)",
        "headline": reward_version,
    }
    results["meta"] = {**meta, "reward_recorded": "pr-v1", "reward_headline": reward_version}
    files = {
        "results.json": json.dumps(results, indent=1, sort_keys=True) + "\n",
        "summary.md": summary,
        "scatter.svg": scatter_svg(ts),
        "curves.svg": curves_svg(ts),
        "predictors.svg": predictors_svg(pooled),
        "hard.json": json.dumps(hard, indent=1, sort_keys=True) + "\n",
        "hard.md": hard_markdown(hard, meta["command"]),
    }
    reward = pooled["predictors"]["reward_cumulative"]
    fixed = pooled["predictors"]["reward_remeasured"]
    headline = {
        "n": pooled["n"],
        "tasks": pooled["tasks"],
        "passing": pooled["passing"],
        "auroc": reward["auroc_all_pass"]["value"],
        "spearman": reward["spearman_pass_rate"]["value"],
        "auroc_remeasured": fixed["auroc_all_pass"]["value"],
        "reward_version": reward_version,
    }
    which = "reward_v2_blind" if reward_version == "pr-v2" else "reward_v1"
    headline_stratum = hard["sets"]["pooled"]["strata"].get("compile_clean_edited")
    if headline_stratum is not None:
        pair = headline_stratum["paired"][f"{which} - build_more_steps"]
        headline["compile_clean_vs_build_steps"] = {
            "diff": pair["diff"],
            "lo": pair["ci"]["lo"],
            "hi": pair["ci"]["hi"],
        }
    return files, headline
