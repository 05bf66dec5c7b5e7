"""Reports of benchmark runs: one comparison of several runs (or agents) side by side.

:func:`load_comparison` reads runs from the store; :func:`render_markdown` and
:func:`comparison_json` are for terminals and CI logs, and
:func:`lanser.harness.report.html.render_html` writes the one self-contained
HTML page (inline SVG, no external asset).  The evidence behind a verdict
(:func:`evidence`) is read defensively: what the grader recorded
(``verdict["evidence"]``, the sanitizer reports with their stacks, the
reason, the edits it dropped) and, for rows of an older grader, what the
stage logs show.  Every string in a row is the agent's or its project's:
hostile, escaped by the renderers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lanser.errors import NotFound
from lanser.harness.report.passk import AgentSummary, attempt_reward, attempt_seconds, summarize

__all__ = [
    "Comparison",
    "Evidence",
    "comparison_json",
    "evidence",
    "format_cost",
    "load_comparison",
    "render_markdown",
    "stage_order",
    "summary_line",
    "summary_rows",
    "usage_lines",
    "usage_of",
    "usage_totals",
]

#: The order stages run in (the store keeps stages as a JSON object with sorted keys).
STAGE_ORDER = ("setup", "apply", "build", "test", "sanitize")
_MAX_LINES = 60


def summary_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per stored attempt, as ``bench show`` prints it."""
    rows = []
    for r in results:
        v = r["verdict"]
        san = v.get("sanitizer") or {}
        row = {
            "task": r["task_id"],
            "agent": r["agent"],
            "attempt": r.get("attempt", 0),
            "outcome": v["outcome"],
            "compiled": v.get("compiled"),
            "tests": f"{v.get('tests_passed', 0)}/{v.get('tests_total', 0)}",
            "sanitizer": "clean"
            if san.get("clean", True)
            else ", ".join(f"{x.get('kind')} in {x.get('frame')}" for x in san.get("reports") or []),
            "steps": len(r["steps"]),
            "reward": round(attempt_reward(r), 6),
        }
        if r.get("reused_from"):
            row["reused_from"] = r["reused_from"]
        usage = usage_of(r)
        if usage is not None:
            row["usage"] = usage
        rows.append(row)
    return rows


# -- a model-driven agent's accounting -------------------------------------------------------------

#: The counts of a model-driven attempt's ``extra.usage`` (lanser.harness.run.llm.agent.LLMAgent.usage).
USAGE_COUNTS = ("calls", "prompt_tokens", "completion_tokens", "tool_errors", "truncated")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _amount(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value) if math.isfinite(value) and value >= 0 else 0.0


def usage_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A model-driven attempt's accounting, stored as its ``extra.usage``: model calls, prompt and
    completion tokens, cost (USD), summed model latency, tool errors, truncations, and the runner
    steps it took; None for an agent that keeps none.  Read as data (a non-count is 0)."""
    raw = (row.get("extra") or {}).get("usage")
    if not isinstance(raw, Mapping):
        return None
    out: dict[str, Any] = {k: _count(raw.get(k)) for k in USAGE_COUNTS}
    out["cost"] = round(_amount(raw.get("cost")), 9)
    out["latency_s"] = round(_amount(raw.get("latency_s")), 6)
    out["model"] = str(raw.get("model") or "")[:200]
    out["steps"] = len(row.get("steps") or [])
    return out


def usage_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The accounting of ``rows`` added up (``attempts``: how many had one); None when none had."""
    found = [u for u in map(usage_of, rows) if u is not None]
    if not found:
        return None
    out: dict[str, Any] = {"attempts": len(found)}
    for key in (*USAGE_COUNTS, "steps"):
        out[key] = sum(u[key] for u in found)
    out["cost"] = round(sum(u["cost"] for u in found), 9)
    out["latency_s"] = round(sum(u["latency_s"] for u in found), 6)
    return out


def format_cost(usd: float) -> str:
    """USD with the digits a per-token price needs (0.00679, not 0.01)."""
    return "$0" if usd == 0 else f"${usd:.4g}" if usd < 1 else f"${usd:,.2f}"


def _usage_text(u: Mapping[str, Any]) -> str:
    return (
        f"{u['calls']} calls, {u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens, "
        f"{format_cost(u['cost'])}, model latency {u['latency_s']:.2f}s, {u['steps']} steps"
        + (f", {u['tool_errors']} tool errors" if u.get("tool_errors") else "")
        + (f", {u['truncated']} truncated" if u.get("truncated") else "")
    )


def usage_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """``bench show``'s model usage: a line per attempt that has one, and the total when several do."""
    lines = []
    for r in results:
        u = usage_of(r)
        if u is not None:
            lines.append(f"usage {r['task_id']} #{int(r.get('attempt') or 0) + 1}: {_usage_text(u)}")
    total = usage_totals(results)
    if total is not None and total["attempts"] > 1:
        lines.append(f"usage total ({total['attempts']} attempts): {_usage_text(total)}")
    return lines


def summary_line(s: AgentSummary) -> str:
    """One line of an agent's numbers in a run."""
    parts = [f"{s.run_id} ({s.agent}): {s.resolved}/{s.graded} resolved"]
    if s.resolve_rate is not None:
        parts[0] += f" ({s.resolve_rate:.0%})"
    if s.pass_at:
        parts.append(f"pass@1 {s.pass_at[1]:.3f}")
        if s.k > 1:
            parts.append(f"pass@{s.k} {s.pass_at[s.k]:.3f}")
    if s.mean_reward is not None:
        parts.append(f"mean reward {s.mean_reward:.3f}")
    parts.append(f"{s.seconds:.1f}s")
    if s.infra_errors:
        parts.append(f"{s.infra_errors} infra errors")
    if s.reused:
        parts.append(f"{s.reused} reused")
    return ", ".join(parts)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: their metadata (in the order asked), every row of theirs, a summary per agent."""

    runs: list[dict[str, Any]]
    results: list[dict[str, Any]]
    summaries: list[AgentSummary] = field(default_factory=list)

    def tasks(self) -> list[str]:
        return sorted({str(r["task_id"]) for r in self.results})

    def rows_of(self, task: str) -> list[dict[str, Any]]:
        """A task's rows, by run in the order asked, then agent and attempt."""
        order = {run["run_id"]: i for i, run in enumerate(self.runs)}
        return sorted(
            (r for r in self.results if r["task_id"] == task),
            key=lambda r: (order.get(r["run_id"], len(order)), r["agent"], r.get("attempt", 0)),
        )


def load_comparison(store: Any, run_ids: Sequence[str]) -> Comparison:
    """The runs ``run_ids`` of ``store`` (each once, in order); :class:`NotFound` names a missing
    run, or a run that holds no result."""
    known = {r["run_id"]: r for r in store.runs()}
    wanted = list(dict.fromkeys(run_ids))
    missing = [r for r in wanted if r not in known]
    if missing:
        raise NotFound(f"no run {', '.join(map(repr, missing))} in the store; runs: {', '.join(known) or 'none'}")
    results: list[dict[str, Any]] = []
    for run_id in wanted:
        rows = store.results(run_id)
        if not rows:
            raise NotFound(f"run {run_id!r} holds no result (it stopped before any attempt finished)")
        results.extend(rows)
    by_run = {(s.run_id, s.agent): s for s in summarize(results)}
    summaries = [s for run_id in wanted for (rid, _), s in by_run.items() if rid == run_id]
    return Comparison([known[r] for r in wanted], results, summaries)


# -- evidence ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on, each part empty when there is nothing to show."""

    reason: str = ""
    parser: str = ""
    failing_tests: list[str] = field(default_factory=list)
    test_log: str = ""
    sanitizer: list[dict[str, Any]] = field(default_factory=list)
    sanitizer_log: str = ""
    build_error: str = ""
    patch: str = ""
    dropped: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            self.reason
            or self.failing_tests
            or self.test_log
            or self.sanitizer
            or self.sanitizer_log
            or self.build_error
            or self.patch
            or self.dropped
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v}


def _text(value: Any, limit: int = 12000) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    return str(value)[:limit]


def _lines(value: Any, limit: int = _MAX_LINES) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if isinstance(value, Mapping):
        value = [f"{k}: {v}" for k, v in value.items()]
    if not isinstance(value, (list, tuple)):
        return [str(value)[:300]]
    out = []
    for item in value[:limit]:
        if isinstance(item, Mapping):
            item = " ".join(f"{k}={v}" for k, v in item.items())
        out.append(str(item)[:300])
    return out


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])[-6000:]


def _stage(row: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    stage = (row.get("stages") or {}).get(name)
    return stage if isinstance(stage, Mapping) else {}


def evidence(row: Mapping[str, Any]) -> Evidence:
    """The evidence behind one row's verdict (see the module docstring for where it is read)."""
    verdict = row.get("verdict") or {}
    recorded: dict[str, Any] = {}
    for source in ((row.get("extra") or {}).get("evidence"), verdict.get("evidence")):
        if isinstance(source, Mapping):
            recorded.update(source)
    outcome = verdict.get("outcome")
    # Failing tests: the grader's lines, else the oracle tests that did not pass.
    failing = _lines(recorded.get("failing_tests") or recorded.get("failed_tests"))
    if not failing and outcome in ("tests_failed", "timeout"):
        for group in ("fail_to_pass", "pass_to_pass"):
            tests = verdict.get(group) or {}
            if isinstance(tests, Mapping):
                failing += [f"{name}: {status}" for name, status in tests.items() if status != "pass"]
        failing = failing[:_MAX_LINES]
    test_log = _text(recorded.get("test_tail"))
    if not test_log and not failing and outcome in ("tests_failed", "task_error"):
        test_log = _tail(str(_stage(row, "test").get("output") or ""))
    sanitizer = verdict.get("sanitizer") or {}
    reports = (
        [r for r in (sanitizer.get("reports") or []) if isinstance(r, Mapping)]
        if isinstance(sanitizer, Mapping)
        else []
    )
    sanitizer_log = _text(recorded.get("sanitize_tail"))
    if not reports and not sanitizer_log and outcome == "sanitizer_error":
        sanitizer_log = _tail(str(_stage(row, "sanitize").get("output") or ""))
    build = _stage(row, "build")
    build_error = _text(recorded.get("build_tail") or recorded.get("build_error"))
    if not build_error and outcome == "build_failed":
        build_error = _tail(str(build.get("output") or ""))
    dropped = (
        _lines(verdict.get("notes"))
        or [
            f"edits to {d.get('path')} ignored ({d.get('why')})" if isinstance(d, Mapping) else str(d)
            for d in (verdict.get("dropped") or [])
        ][:_MAX_LINES]
    )
    return Evidence(
        reason=_text(verdict.get("reason") or verdict.get("error"), 2000),
        parser=_text(verdict.get("parser"), 100),
        failing_tests=failing,
        test_log=test_log,
        sanitizer=[dict(r) for r in reports],
        sanitizer_log=sanitizer_log,
        build_error=build_error,
        patch=_text(row.get("patch"), 60000),
        dropped=dropped,
    )


def stage_order(stages: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """A row's stages in the order they ran (known stages first, then the others by name)."""
    known = [(n, stages[n]) for n in STAGE_ORDER if isinstance(stages.get(n), Mapping)]
    rest = sorted((n, s) for n, s in stages.items() if n not in STAGE_ORDER and isinstance(s, Mapping))
    return known + rest


# -- text formats --------------------------------------------------------------------------------


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cell(text: Any) -> str:
    """A markdown table cell: one line, no pipe to break the table."""
    return " ".join(str(text).split()).replace("|", "\\|")[:200]


def render_markdown(c: Comparison) -> str:
    """The comparison for a terminal or a CI log: summary table, per-task outcomes, why each failed."""
    out = [
        "# lanser bench: " + " vs ".join(_cell(r["run_id"]) for r in c.runs),
        "",
        "| run | agent | tasks | attempts | resolved | pass@1 | pass@k | mean reward | time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in c.summaries:
        k = f"pass@{s.k} {_rate(s.pass_at.get(s.k))}" if s.k > 1 else "-"
        resolved = f"{s.resolved}/{s.graded}" + (f" ({s.resolve_rate:.0%})" if s.resolve_rate is not None else "")
        out.append(
            f"| {_cell(s.run_id)} | {_cell(s.agent)} | {s.tasks} | {s.attempts} | {resolved} | "
            f"{_rate(s.pass_at.get(1))} | {k} | {_rate(s.mean_reward)} | {s.seconds:.1f}s |"
        )
    heads = [f"{_cell(s.run_id)} ({_cell(s.agent)})" for s in c.summaries]
    out += ["", "| task | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    for task in c.tasks():
        cells = []
        for s in c.summaries:
            rows = [r for r in c.rows_of(task) if r["run_id"] == s.run_id and r["agent"] == s.agent]
            cells.append(", ".join(_short(r) for r in rows) or "-")
        out.append(f"| {_cell(task)} | " + " | ".join(_cell(x) for x in cells) + " |")
    out += _usage_markdown(c)
    failures = [r for task in c.tasks() for r in c.rows_of(task) if r["outcome"] != "resolved"]
    if failures:
        out += ["", "## Why", ""]
        for r in failures:
            ev = evidence(r)
            why = ev.reason or (ev.failing_tests[0] if ev.failing_tests else "") or r["outcome"]
            out.append(
                f"- {_cell(r['task_id'])} · {_cell(r['run_id'])} #{r.get('attempt', 0) + 1}: "
                f"{_cell(r['outcome'])}: {_cell(why)}"
            )
            for report in ev.sanitizer[:3]:
                out.append(
                    f"  - {_cell(report.get('tool'))} {_cell(report.get('kind'))} in "
                    f"{_cell(report.get('frame'))} {_cell(report.get('location') or '')}".rstrip()
                )
            for line in ev.dropped[:3]:
                out.append(f"  - {_cell(line)}")
    return "\n".join(out) + "\n"


def _usage_markdown(c: Comparison) -> list[str]:
    """The model usage section: totals per run and agent, then every attempt that has an accounting."""
    totals = [
        (s, usage_totals([r for r in c.results if r["run_id"] == s.run_id and r["agent"] == s.agent]))
        for s in c.summaries
    ]
    if all(t is None for _, t in totals):
        return []
    out = [
        "",
        "## Model usage",
        "",
        "| run | agent | attempts | model calls | steps | prompt tokens | completion tokens | cost | model latency |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s, t in totals:
        if t is not None:
            out.append(
                f"| {_cell(s.run_id)} | {_cell(s.agent)} | {t['attempts']} | {t['calls']} | {t['steps']} | "
                f"{t['prompt_tokens']} | {t['completion_tokens']} | {format_cost(t['cost'])} | "
                f"{t['latency_s']:.2f}s |"
            )
    out += [
        "",
        "| task | run | attempt | outcome | model calls | steps | prompt tokens | completion tokens | cost "
        "| model latency | tool errors |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task in c.tasks():
        for r in c.rows_of(task):
            u = usage_of(r)
            if u is not None:
                out.append(
                    f"| {_cell(task)} | {_cell(r['run_id'])} | {int(r.get('attempt') or 0) + 1} | "
                    f"{_cell(r['outcome'])} | {u['calls']} | {u['steps']} | {u['prompt_tokens']} | "
                    f"{u['completion_tokens']} | {format_cost(u['cost'])} | {u['latency_s']:.2f}s | "
                    f"{u['tool_errors']} |"
                )
    return out


def _short(row: Mapping[str, Any]) -> str:
    verdict = row.get("verdict") or {}
    tests = f" {verdict.get('tests_passed', 0)}/{verdict.get('tests_total', 0)}" if "tests_total" in verdict else ""
    return f"{row['outcome']}{tests}" + (" (reused)" if row.get("reused_from") else "")


def comparison_json(c: Comparison) -> dict[str, Any]:
    """The comparison as data: runs, summaries, and per task every attempt with its evidence."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    for task in c.tasks():
        for r in c.rows_of(task):
            verdict = r.get("verdict") or {}
            tasks.setdefault(task, []).append(
                {
                    "run": r["run_id"],
                    "agent": r["agent"],
                    "attempt": r.get("attempt", 0),
                    "outcome": r["outcome"],
                    "tests_passed": verdict.get("tests_passed"),
                    "tests_total": verdict.get("tests_total"),
                    "reward": round(attempt_reward(r), 9),
                    "seconds": round(attempt_seconds(r), 3),
                    "steps": [
                        {
                            "step": s.get("step"),
                            "action": s.get("action"),
                            "reward": s.get("reward"),
                            "cumulative": s.get("cumulative"),
                        }
                        for s in r.get("steps") or []
                    ],
                    "stages": [
                        {"name": n, "seconds": s.get("seconds"), "exit_code": s.get("exit_code")}
                        for n, s in stage_order(r.get("stages") or {})
                    ],
                    "reused_from": r.get("reused_from"),
                    "usage": usage_of(r),
                    "evidence": evidence(r).to_dict(),
                }
            )
    summaries = []
    for s in c.summaries:
        summary = s.to_dict()
        summary["usage"] = usage_totals([r for r in c.results if r["run_id"] == s.run_id and r["agent"] == s.agent])
        summaries.append(summary)
    return {"runs": c.runs, "summaries": summaries, "tasks": tasks}
