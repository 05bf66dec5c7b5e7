"""A self-contained HTML report of a run (inline SVG plots; no plotting library)."""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["render_html", "summary_rows"]

_COLOURS = {"resolved": "#2e7d32", "tests_failed": "#c62828", "sanitizer_error": "#ef6c00",
            "build_failed": "#6a1b9a", "timeout": "#455a64", "infra_error": "#9e9e9e"}


def summary_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        v = r["verdict"]
        rows.append({"task": r["task_id"], "agent": r["agent"], "outcome": v["outcome"],
                     "compiled": v.get("compiled"), "tests": f"{v.get('tests_passed', 0)}/{v.get('tests_total', 0)}",
                     "sanitizer": "clean" if (v.get("sanitizer") or {}).get("clean", True) else
                     ", ".join(f"{x['kind']} in {x['frame']}" for x in v["sanitizer"]["reports"]),
                     "steps": len(r["steps"]), "reward": round(sum(s["reward"] for s in r["steps"]), 6)})
    return rows


def _bars(counts: dict[str, int], width: int = 520) -> str:
    total = max(sum(counts.values()), 1)
    x, parts = 0.0, []
    for outcome, n in counts.items():
        w = width * n / total
        parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="22" fill="{_COLOURS.get(outcome, "#999")}">'
                     f"<title>{html.escape(outcome)}: {n}</title></rect>")
        x += w
    return f'<svg width="{width}" height="22">{"".join(parts)}</svg>'


def _curve(steps: list[dict[str, Any]], width: int = 260, height: int = 80) -> str:
    ys = [0.0] + [s["cumulative"] for s in steps]
    lo, hi = min(ys + [0.0]), max(ys + [0.0])
    span = (hi - lo) or 1.0
    pts = " ".join(f"{i * width / max(len(ys) - 1, 1):.1f},{height - (y - lo) / span * height:.1f}"
                   for i, y in enumerate(ys))
    zero = height - (0 - lo) / span * height
    return (f'<svg width="{width}" height="{height}"><line x1="0" y1="{zero:.1f}" x2="{width}" y2="{zero:.1f}" '
            f'stroke="#bbb"/><polyline points="{pts}" fill="none" stroke="#1565c0" stroke-width="2"/></svg>')


def render_html(run: dict[str, Any], results: list[dict[str, Any]]) -> str:
    rows = summary_rows(results)
    by_agent: dict[str, dict[str, int]] = {}
    for r in rows:
        by_agent.setdefault(r["agent"], {})
        by_agent[r["agent"]][r["outcome"]] = by_agent[r["agent"]].get(r["outcome"], 0) + 1
    out = [f"<!doctype html><meta charset=utf-8><title>lanser bench {html.escape(run['run_id'])}</title>",
           "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
           "td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}</style>",
           f"<h1>Run {html.escape(run['run_id'])}</h1><p>dataset {html.escape(run['dataset'])}, agent "
           f"{html.escape(run['agent'])}, image {html.escape(str(run.get('image_id')))}</p><h2>Outcomes</h2>"]
    for agent, counts in by_agent.items():
        legend = ", ".join(f"{k}: {v}" for k, v in counts.items())
        out.append(f"<p>{html.escape(agent)} — {html.escape(legend)}<br>{_bars(counts)}</p>")
    out.append("<h2>Tasks</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in rows[0]) + "<th>reward per step</th>"
               "<th>seconds per stage</th></tr>" if rows else "<p>no results</p>")
    for r, res in zip(rows, results):
        stages = ", ".join(f"{k} {v.get('seconds', '?')}s" for k, v in res["stages"].items())
        out.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values())
                   + f"<td>{_curve(res['steps'])}</td><td>{html.escape(stages)}</td></tr>")
    out.append("</table><h2>Data</h2><pre>" + html.escape(json.dumps(rows, indent=1)) + "</pre>")
    return "\n".join(out)
