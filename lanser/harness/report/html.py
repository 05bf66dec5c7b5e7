"""The HTML report of a comparison: one self-contained page (inline CSS and SVG, no script, no
external asset, nothing fetched).

Layout: the runs side by side (resolve rate, pass@1 and pass@k, mean reward,
time, outcomes), a task-by-run matrix, then per task one row per attempt:
its verdict, a plot of the per-step rewards (bars) and their running sum
(line), its stages in the order they ran, and the evidence behind the
verdict in a ``<details>`` (failing test lines, sanitizer reports with their
stacks, the build error, the dropped edits, the graded patch).  Every plot
of the page shares one scale (:class:`Scale`), so equal heights are equal
rewards across rows, tasks and runs; the axes say what the scale is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from lanser.harness.report.comparison import Comparison, evidence, format_cost, stage_order, usage_of, usage_totals
from lanser.harness.report.passk import AgentSummary

__all__ = ["Scale", "nice_ticks", "render_html", "reward_plot", "shared_scale"]

COLOURS = {
    "resolved": "#2e7d32",
    "tests_failed": "#c62828",
    "sanitizer_error": "#ef6c00",
    "build_failed": "#6a1b9a",
    "timeout": "#455a64",
    "task_error": "#8d6e63",
    "infra_error": "#9e9e9e",
}
_STAGE_COLOURS = {"setup": "#90a4ae", "apply": "#b0bec5", "build": "#5c6bc0", "test": "#26a69a", "sanitize": "#ffa726"}
PLOT_W, PLOT_H = 340, 130
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 14, 24
#: Value labels on the bars up to this many steps (beyond, the values are in each bar's tooltip).
LABELLED_STEPS = 14


def _num(value: float) -> str:
    """A reward for a label: short, no float noise."""
    if value == 0:
        return "0"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return text.replace("e-0", "e-").replace("e+0", "e")


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering [lo, hi] (0 among them when the range holds it)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    value = start
    while value <= hi + step * 1e-6 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi - 1e-12:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


@dataclass(frozen=True)
class Scale:
    """The one scale of every plot on a page: steps 1..``steps``, rewards ``lo``..``hi``."""

    steps: int
    lo: float
    hi: float
    ticks: tuple[float, ...]

    def x(self, step: float) -> float:
        """The centre of step ``step`` (from 1)."""
        inner = PLOT_W - _LEFT - _RIGHT
        return _LEFT + (step - 0.5) * inner / self.steps

    def y(self, value: float) -> float:
        inner = PLOT_H - _TOP - _BOTTOM
        return _TOP + (self.hi - value) * inner / (self.hi - self.lo)

    def bar_width(self) -> float:
        return max(1.0, (PLOT_W - _LEFT - _RIGHT) / self.steps * 0.6)


def shared_scale(rows: Sequence[Mapping[str, Any]]) -> Scale:
    """A scale holding every step reward and every running sum of ``rows`` (and 0)."""
    values = [0.0]
    steps = 1
    for row in rows:
        total = 0.0
        row_steps = row.get("steps") or []
        steps = max(steps, len(row_steps))
        for s in row_steps:
            reward = _float(s.get("reward"))
            total += reward
            values += [reward, _float(s.get("cumulative"), total)]
    ticks = nice_ticks(min(values), max(values))
    return Scale(steps, ticks[0], ticks[-1], tuple(ticks))


def _float(value: Any, default: float = 0.0) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def reward_plot(steps: Sequence[Mapping[str, Any]], scale: Scale) -> str:
    """Per-step rewards as bars and their running sum as a line, on ``scale``, with axes and values."""
    parts = [
        f'<svg class="plot" width="{PLOT_W}" height="{PLOT_H}" viewBox="0 0 {PLOT_W} {PLOT_H}" role="img" '
        f'aria-label="reward per step">'
    ]
    x0, x1 = _LEFT, PLOT_W - _RIGHT
    for tick in scale.ticks:  # the y axis: gridlines and values
        y = scale.y(tick)
        parts.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" class="{"zero" if tick == 0 else "grid"}"/>'
            f'<text x="{x0 - 4}" y="{y + 3.5:.1f}" class="ytick">{escape(_num(tick))}</text>'
        )
    parts.append(f'<line x1="{x0}" y1="{_TOP}" x2="{x0}" y2="{PLOT_H - _BOTTOM}" class="axis"/>')
    every = max(1, math.ceil(scale.steps / 12))
    for step in range(1, scale.steps + 1):  # the x axis: step numbers
        if step == 1 or step % every == 0 or step == scale.steps:
            parts.append(f'<text x="{scale.x(step):.1f}" y="{PLOT_H - _BOTTOM + 12}" class="xtick">{step}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{PLOT_H - 2}" class="xlabel">step</text>')
    if not steps:
        parts.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{PLOT_H / 2:.1f}" class="xlabel">no steps</text>')
    zero = scale.y(0.0)
    width = scale.bar_width()
    total = 0.0
    points = [(float(_LEFT), zero)]  # the running sum starts at 0, before step 1
    for i, s in enumerate(steps, 1):
        reward = _float(s.get("reward"))
        total += reward
        cumulative = _float(s.get("cumulative"), total)
        x, y = scale.x(i), scale.y(reward)
        top, height = min(y, zero), abs(zero - y)
        kind = escape(str(s.get("action") or "?"))
        parts.append(
            f'<rect x="{x - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" height="{max(height, 0.8):.1f}" '
            f'class="{"neg" if reward < 0 else "pos"}"><title>step {i} ({kind}): reward {escape(_num(reward))}'
            f", cumulative {escape(_num(cumulative))}</title></rect>"
        )
        if len(steps) <= LABELLED_STEPS and reward != 0:
            ly = top - 3 if reward > 0 else top + height + 9
            parts.append(f'<text x="{x:.1f}" y="{ly:.1f}" class="val">{escape(_num(reward))}</text>')
        points.append((x, scale.y(cumulative)))
    if steps:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline points="{path}" class="cum"/>')
        parts.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.2" class="cum"/>' for px, py in points[1:])
        lx, ly = points[-1]
        parts.append(
            f'<text x="{min(lx + 4, x1 - 2):.1f}" y="{ly - 5:.1f}" class="cumval">Σ {escape(_num(total))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _outcome_bar(summary: AgentSummary, most: int, width: int = 220) -> str:
    """The outcomes of an agent's attempts, one segment per outcome, on a width shared by every agent."""
    parts, x = [], 0.0
    for outcome, n in sorted(summary.outcomes.items(), key=lambda kv: -kv[1]):
        w = width * n / max(most, 1)
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="16" fill="{COLOURS.get(outcome, "#999")}">'
            f"<title>{escape(outcome)}: {n}</title></rect>"
        )
        if w > 18:
            parts.append(f'<text x="{x + w / 2:.1f}" y="12" class="barval">{n}</text>')
        x += w
    return f'<svg width="{width}" height="16" class="outcomes">{"".join(parts)}</svg>'


def _badge(outcome: str) -> str:
    return f'<span class="badge" style="background:{COLOURS.get(outcome, "#999")}">{escape(outcome)}</span>'


def _rate(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.0%}" if percent else f"{value:.3f}"


def _seconds(value: Any) -> str:
    v = _float(value, -1.0)
    return "?" if v < 0 else (f"{v:.2f}s" if v < 10 else f"{v:.1f}s")


def _stages(row: Mapping[str, Any], longest: float) -> str:
    """The stages in the order they ran: a bar on the page's shared time scale, and a line each."""
    stages = stage_order(row.get("stages") or {})
    if not stages:
        return '<span class="muted">no stage ran</span>'
    width, x, bar, lines = 200, 0.0, [], []
    for name, stage in stages:
        seconds = _float(stage.get("seconds"))
        w = width * seconds / longest if longest > 0 else 0
        bar.append(
            f'<rect x="{x:.1f}" y="0" width="{max(w, 1):.1f}" height="10" '
            f'fill="{_STAGE_COLOURS.get(name, "#bbb")}"><title>{escape(name)} {_seconds(seconds)}</title></rect>'
        )
        x += w
        status = ""
        if stage.get("infra_error"):
            status = " infra error"
        elif stage.get("timed_out"):
            status = " timed out"
        elif stage.get("exit_code") is not None:
            status = f" exit {escape(str(stage.get('exit_code')))}"
        lines.append(
            f'<span class="stage"><i style="background:{_STAGE_COLOURS.get(name, "#bbb")}"></i>'
            f"{escape(name)} {_seconds(stage.get('seconds'))}{status}</span>"
        )
    return f'<svg width="{width}" height="10" class="timing">{"".join(bar)}</svg><br>' + "<br>".join(lines)


def _pre(text: str, cls: str = "") -> str:
    return f'<pre class="{cls}">{escape(text)}</pre>'


def _crash(verdict: Mapping[str, Any]) -> str:
    """A kernel crash task's crash before (the task's report) and after the patch (issue 25)."""
    crash = verdict.get("crash")
    if not isinstance(crash, Mapping):
        return ""
    got = crash.get("before")
    before: Mapping[str, Any] = got if isinstance(got, Mapping) else {}
    parts = [
        f"<h4>Crash ({escape(str(crash.get('outcome')))}): before</h4>",
        _pre(str(before.get("report") or before.get("title") or "")[:6000], "fail"),
    ]
    after = [a for a in crash.get("after") or [] if isinstance(a, Mapping)]
    parts.append(
        "<h4>After the patch</h4>"
        + (
            "".join(_pre(str(a.get("report") or a.get("title"))[:6000], "fail") for a in after[:3])
            or '<p class="muted">no crash</p>'
        )
    )
    return "".join(parts)


def _evidence(row: Mapping[str, Any], opened: bool = False) -> str:
    ev = evidence(row)
    crash = _crash(row.get("verdict") or {})
    if ev.empty() and not crash:
        return '<span class="muted">–</span>'
    parts = [crash] if crash else []
    if ev.parser:
        parts.append(f'<p class="muted">tests read by the {escape(ev.parser)} parser</p>')
    if ev.failing_tests:
        parts.append("<h4>Failing tests</h4>" + _pre("\n".join(ev.failing_tests), "fail"))
    if ev.test_log:
        parts.append("<h4>Test log (tail)</h4>" + _pre(ev.test_log))
    for report in ev.sanitizer:
        head = " ".join(str(report.get(k) or "") for k in ("tool", "kind")).strip()
        where = f" in {report.get('frame')}" + (f" ({report.get('location')})" if report.get("location") else "")
        parts.append(f"<h4>{escape(head + where)}</h4>")
        if report.get("summary"):
            parts.append(f'<p class="muted">{escape(str(report["summary"]))}</p>')
        stacks = []
        for label, key in (("stack", "stack"), ("freed by", "freed"), ("allocated by", "allocated")):
            stack = report.get(key)
            if isinstance(stack, list) and stack:
                stacks.append(
                    f'<div class="stack"><b>{label}</b>'
                    + _pre("\n".join(f"#{i} {f}" for i, f in enumerate(map(str, stack[:24]))))
                    + "</div>"
                )
        if stacks:
            parts.append(f'<div class="stacks">{"".join(stacks)}</div>')
        if report.get("text") and not report.get("stack"):
            parts.append(_pre(str(report["text"])[:6000]))
    if ev.sanitizer_log:
        parts.append("<h4>Sanitizer log (tail)</h4>" + _pre(ev.sanitizer_log))
    if ev.build_error:
        parts.append("<h4>Build error</h4>" + _pre(ev.build_error, "fail"))
    if ev.dropped:
        parts.append(
            "<h4>Dropped by the grader</h4><ul>" + "".join(f"<li>{escape(d)}</li>" for d in ev.dropped) + "</ul>"
        )
    if ev.patch:
        parts.append(f"<h4>Graded patch ({ev.patch.count(chr(10))} lines)</h4>" + _diff(ev.patch))
    label = "why" if row.get("outcome") != "resolved" else "evidence"
    headline = escape(ev.reason) if ev.reason else ""
    return (
        f"<details{' open' if opened else ''}><summary><b>{label}</b> {headline}</summary>"
        f"<div class=ev>{''.join(parts)}</div></details>"
    )


def _diff(patch: str) -> str:
    lines = []
    for line in patch.splitlines()[:800]:
        cls = (
            "add"
            if line.startswith("+") and not line.startswith("+++")
            else "del"
            if line.startswith("-") and not line.startswith("---")
            else "hunk"
            if line.startswith("@@")
            else ""
        )
        lines.append(f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line))
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:22px 0 6px}
h4{font-size:13px;margin:10px 0 4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#777}.badge{color:#fff;border-radius:3px;padding:1px 6px;font-size:12px;white-space:nowrap}
.plot .grid{stroke:#eee}.plot .zero{stroke:#999}.plot .axis{stroke:#999}
.plot .ytick{font-size:10px;text-anchor:end;fill:#555}.plot .xtick{font-size:10px;text-anchor:middle;fill:#555}
.plot .xlabel{font-size:10px;text-anchor:middle;fill:#888}.plot .val{font-size:9px;text-anchor:middle;fill:#333}
.plot rect.pos{fill:#90caf9}.plot rect.neg{fill:#ef9a9a}.plot polyline.cum{fill:none;stroke:#0d47a1;stroke-width:1.6}
.plot circle.cum{fill:#0d47a1}.plot .cumval{font-size:10px;fill:#0d47a1;text-anchor:end}
.outcomes .barval{font-size:10px;fill:#fff;text-anchor:middle}
.stage{font-size:12px;white-space:nowrap}.stage i{display:inline-block;width:8px;height:8px;margin-right:4px}
pre{background:#fafafa;border:1px solid #eee;padding:6px;max-height:340px;overflow:auto;font-size:12px;margin:4px 0}
pre.fail{border-color:#f5c6c6}pre.diff .add{color:#1b5e20;background:#e8f5e9}pre.diff .del{color:#b71c1c;background:#ffebee}
pre.diff .hunk{color:#6a1b9a}details summary{cursor:pointer;color:#1565c0}.stacks{display:flex;gap:10px}.stacks .stack{flex:1;min-width:0}
tr.evrow td{border-top:none;padding:2px 8px 6px;background:#fcfcfc}
details summary{font-size:13px}.ev{display:grid;grid-template-columns:minmax(0,1fr);gap:2px}
.reason{margin:4px 0;font-weight:600}.usage{font-size:12px;color:#555}.legend{font-size:12px;color:#555}
.legend i{display:inline-block;width:12px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
table.attempts{table-layout:fixed;width:100%}table.attempts td{overflow-wrap:anywhere}
td.matrix span{display:inline-block;width:14px;height:14px;margin-right:2px;border-radius:2px}
"""


def render_html(c: Comparison, *, open_first_failure: bool = True) -> str:
    """The comparison as one HTML page; the evidence of the page's first failing attempt is shown
    open (``open_first_failure``), every other one is a click away."""
    title = " vs ".join(str(r["run_id"]) for r in c.runs)
    out = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>lanser bench: {escape(title)}</title>"
        f"<style>{_CSS}</style><body>",
        f"<h1>lanser bench: {escape(title)}</h1>",
    ]
    datasets = sorted({str(r.get("dataset")) for r in c.runs})
    images = sorted({str(r.get("image_id")) for r in c.runs})
    out.append(
        f'<p class="muted">dataset {escape(", ".join(datasets))} · image {escape(", ".join(images))} · '
        f"{len(c.tasks())} tasks</p>"
    )
    # -- side by side
    out.append(
        "<h2>Runs side by side</h2><table><tr><th>run</th><th>agent</th><th>tasks</th><th>attempts</th>"
        "<th>resolved</th><th>pass@1</th><th>pass@k</th><th>mean reward</th><th>time</th>"
        "<th>per attempt</th><th>outcomes</th></tr>"
    )
    most = max((s.attempts for s in c.summaries), default=1)
    for s in c.summaries:
        k = f"pass@{s.k} = {_rate(s.pass_at.get(s.k))}" if s.k > 1 else "–"
        note = []
        if s.reused:
            note.append(f"{s.reused} reused")
        if s.infra_errors:
            note.append(f"{s.infra_errors} infra errors")
        legend = ", ".join(f"{o} {n}" for o, n in s.outcomes.items())
        out.append(
            f"<tr><td>{escape(s.run_id)}</td><td>{escape(s.agent)}</td><td class=num>{s.tasks}</td>"
            f"<td class=num>{s.attempts}"
            + (f' <span class="muted">({escape(", ".join(note))})</span>' if note else "")
            + "</td>"
            f"<td class=num>{s.resolved}/{s.graded} ({_rate(s.resolve_rate, True)})</td>"
            f"<td class=num>{_rate(s.pass_at.get(1))}</td><td class=num>{k}</td>"
            f"<td class=num>{_rate(s.mean_reward)}</td><td class=num>{_seconds(s.seconds)}</td>"
            f"<td class=num>{_seconds(s.mean_seconds)}</td>"
            f'<td>{_outcome_bar(s, most)}<br><span class="muted">{escape(legend)}</span></td></tr>'
        )
    out.append("</table>")
    out.append(
        '<p class="legend">pass@k: the unbiased estimator 1 − C(n−c,k)/C(n,k) over each task\'s n graded '
        "attempts (c resolved), averaged over tasks; resolved counts attempts."
    )
    out.append("".join(f'<i style="background:{colour}"></i>{escape(o)}' for o, colour in COLOURS.items()) + "</p>")
    out += _usage_table(c)
    # -- task matrix
    out.append(
        "<h2>Tasks</h2><table><tr><th>task</th>"
        + "".join(f"<th>{escape(s.run_id)}<br><span class=muted>{escape(s.agent)}</span></th>" for s in c.summaries)
        + "</tr>"
    )
    for task in c.tasks():
        cells = []
        for s in c.summaries:
            rows = [r for r in c.rows_of(task) if r["run_id"] == s.run_id and r["agent"] == s.agent]
            cells.append(
                "<td class=matrix>"
                + "".join(
                    f'<span style="background:{COLOURS.get(r["outcome"], "#999")}" title="attempt '
                    f'{int(r.get("attempt", 0)) + 1}: {escape(r["outcome"])}"></span>'
                    for r in rows
                )
                + "</td>"
            )
        out.append(f'<tr><td><a href="#{escape(_anchor(task))}">{escape(task)}</a></td>{"".join(cells)}</tr>')
    out.append("</table>")
    # -- per task, a row per attempt
    scale = shared_scale(c.results)
    longest = max(
        (sum(_float(s.get("seconds")) for _, s in stage_order(r.get("stages") or {})) for r in c.results), default=0.0
    )
    out.append("<h2>Attempts</h2>")
    out.append(
        f'<p class="legend">Every plot has the same scale: steps 1–{scale.steps}, reward '
        f"{escape(_num(scale.lo))} to {escape(_num(scale.hi))}."
        '<i style="background:#90caf9"></i>step reward (value above the bar)'
        '<i style="background:#0d47a1;height:2px"></i>cumulative (Σ at the end). '
        "Stage bars share one time scale too.</p>"
    )
    opened = not open_first_failure
    for task in c.tasks():
        out.append(
            f'<h3 id="{escape(_anchor(task))}">{escape(task)}</h3><table class="attempts"><colgroup>'
            '<col style="width:190px"><col style="width:220px"><col style="width:364px">'
            "<col></colgroup><tr><th>run / agent</th>"
            "<th>verdict</th><th>reward per step</th><th>stages (in run order)</th></tr>"
        )
        for r in c.rows_of(task):
            show = not opened and r.get("outcome") not in ("resolved", "infra_error")
            opened = opened or show
            verdict = r.get("verdict") or {}
            tests = (
                f"<br>tests {escape(str(verdict.get('tests_passed', 0)))}/{escape(str(verdict.get('tests_total', 0)))}"
                if "tests_total" in verdict
                else ""
            )
            san = verdict.get("sanitizer") if isinstance(verdict.get("sanitizer"), Mapping) else {}
            sanitizer = ""
            if san and not san.get("clean", True):
                first = next((x for x in san.get("reports") or [] if isinstance(x, Mapping)), {})
                sanitizer = f"<br>{escape(str(first.get('kind')))} in {escape(str(first.get('frame')))}"
            elif san:
                sanitizer = "<br>sanitizers clean"
            reused = (
                f'<br><span class="muted">reused from {escape(str(r["reused_from"]))}</span>'
                if r.get("reused_from")
                else ""
            )
            out.append(
                f"<tr><td>{escape(str(r['run_id']))}<br><span class=muted>{escape(str(r['agent']))} · "
                f"attempt {int(r.get('attempt', 0)) + 1}</span>{reused}</td>"
                f"<td>{_badge(str(r['outcome']))}{tests}{sanitizer}{_usage_cell(r)}</td>"
                f"<td>{reward_plot(r.get('steps') or [], scale)}</td><td>{_stages(r, longest)}</td></tr>"
                f'<tr class="evrow"><td colspan=4>{_evidence(r, show)}</td></tr>'
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def _usage_table(c: Comparison) -> list[str]:
    """Model usage per run and agent (totals over the attempts that have an accounting)."""
    rows = []
    for s in c.summaries:
        t = usage_totals([r for r in c.results if r["run_id"] == s.run_id and r["agent"] == s.agent])
        if t is not None:
            per = t["attempts"]
            rows.append(
                f"<tr><td>{escape(s.run_id)}</td><td>{escape(s.agent)}</td><td class=num>{per}</td>"
                f"<td class=num>{t['calls']}</td><td class=num>{t['steps']}</td>"
                f"<td class=num>{t['prompt_tokens']}</td><td class=num>{t['completion_tokens']}</td>"
                f"<td class=num>{escape(format_cost(t['cost']))}</td><td class=num>{_seconds(t['latency_s'])}</td>"
                f"<td class=num>{(t['prompt_tokens'] + t['completion_tokens']) / per:.0f}</td>"
                f"<td class=num>{escape(format_cost(t['cost'] / per))}</td></tr>"
            )
    if not rows:
        return []
    return [
        "<h2>Model usage</h2><table><tr><th>run</th><th>agent</th><th>attempts</th><th>model calls</th>"
        "<th>steps</th><th>prompt tokens</th><th>completion tokens</th><th>cost</th><th>model latency</th>"
        "<th>tokens per attempt</th><th>cost per attempt</th></tr>",
        *rows,
        "</table>",
        '<p class="legend">From the endpoint\'s <code>usage</code> of each model call; cost from the price '
        "table the run was given (LANSER_LLM_PRICES), $0 without one.</p>",
    ]


def _usage_cell(row: Mapping[str, Any]) -> str:
    u = usage_of(row)
    if u is None:
        return ""
    return (
        f'<br><span class="usage">{u["calls"]} model calls · {u["prompt_tokens"]} + {u["completion_tokens"]} '
        f"tokens · {escape(format_cost(u['cost']))} · {_seconds(u['latency_s'])} model latency"
        + (f" · {u['tool_errors']} tool errors" if u["tool_errors"] else "")
        + "</span>"
    )


def _anchor(task: str) -> str:
    return "task-" + "".join(ch if ch.isalnum() else "-" for ch in task)
