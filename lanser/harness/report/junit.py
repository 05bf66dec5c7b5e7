"""A comparison of benchmark runs as JUnit XML, the format CI test dashboards read
(Jenkins, GitLab's ``junit`` report artifact, GitHub test-report actions).

One ``testsuite`` per run, one ``testcase`` per task and attempt (classname
``DATASET/AGENT``, name ``TASK #N``).  A resolved attempt passes; the agent's
failures (``tests_failed``, ``sanitizer_error``, ``build_failed``, ``timeout``) are
``failure``; ``infra_error`` and ``task_error`` (the harness or the task, not the
agent) are ``error``.  The element's message is the verdict's reason and its body
the evidence of :func:`lanser.harness.report.comparison.evidence`.  Every string comes from an
agent or its project: characters XML 1.0 cannot carry are replaced, and
ElementTree escapes the rest.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from lanser.harness.report.comparison import Comparison, evidence
from lanser.harness.report.passk import attempt_seconds

__all__ = ["ERRORS", "render_junit"]

#: Outcomes that are the harness's or the task's fault, not the agent's: JUnit errors, not failures.
ERRORS = frozenset({"infra_error", "task_error"})
#: What XML 1.0 cannot hold even escaped (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BODY_LIMIT = 20000


def _xml(value: Any, limit: int = 2000) -> str:
    return _NOT_XML.sub("\ufffd", str(value if value is not None else ""))[:limit]


def _seconds(value: float) -> str:
    value = float(value)
    return f"{value:.3f}" if math.isfinite(value) and value > 0 else "0.000"  # the XSD's time is digits only


def _body(row: Mapping[str, Any]) -> tuple[str, str]:
    """(message, body) of a row that did not pass."""
    ev = evidence(row)
    verdict = row.get("verdict") or {}
    outcome = str(row.get("outcome"))
    tests = (
        f" ({verdict.get('tests_passed', 0)}/{verdict.get('tests_total', 0)} tests)" if "tests_total" in verdict else ""
    )
    message = f"{outcome}{tests}" + (f": {ev.reason}" if ev.reason else "")
    parts: list[str] = []
    if ev.reason:
        parts.append(f"reason: {ev.reason}")
    if ev.failing_tests:
        parts.append("failing tests:\n" + "\n".join(f"  {t}" for t in ev.failing_tests))
    for report in ev.sanitizer:
        stack = "\n".join(f"    {frame}" for frame in (report.get("stack") or [])[:20])
        parts.append(
            f"sanitizer: {report.get('tool')} {report.get('kind')} in {report.get('frame')} "
            f"{report.get('location') or ''}".rstrip()
            + (f"\n{stack}" if stack else "")
        )
    for label, text in (
        ("sanitizer log", ev.sanitizer_log),
        ("build error", ev.build_error),
        ("test log", ev.test_log),
    ):
        if text:
            parts.append(f"{label}:\n{text}")
    if ev.dropped:
        parts.append("not graded:\n" + "\n".join(f"  {d}" for d in ev.dropped))
    return message, "\n\n".join(parts)


def render_junit(c: Comparison) -> str:
    """The comparison as one JUnit XML document (UTF-8, with its declaration)."""
    datasets = {run["run_id"]: str(run.get("dataset") or "") for run in c.runs}
    root = ET.Element("testsuites", name="lanser bench")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for run in c.runs:
        run_id = run["run_id"]
        rows = sorted(
            (r for r in c.results if r["run_id"] == run_id),
            key=lambda r: (str(r["task_id"]), str(r["agent"]), r.get("attempt", 0)),
        )
        suite = ET.SubElement(root, "testsuite", name=_xml(run_id))
        props = ET.SubElement(suite, "properties")
        for key in ("dataset", "agent", "image_id", "harness"):
            if run.get(key) not in (None, ""):
                ET.SubElement(props, "property", name=key, value=_xml(run[key]))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        suite_time = 0.0
        for r in rows:
            seconds = attempt_seconds(r)
            suite_time += seconds
            case = ET.SubElement(
                suite,
                "testcase",
                name=_xml(f"{r['task_id']} #{r.get('attempt', 0) + 1}"),
                classname=_xml(f"{datasets.get(run_id, '')}/{r['agent']}"),
                time=_seconds(seconds),
            )
            counts["tests"] += 1
            outcome = str(r.get("outcome"))
            if outcome != "resolved":
                message, body = _body(r)
                kind = "error" if outcome in ERRORS else "failure"
                counts["errors" if kind == "error" else "failures"] += 1
                element = ET.SubElement(case, kind, type=_xml(outcome, 100), message=_xml(message))
                element.text = _xml(body, _BODY_LIMIT)
            if r.get("reused_from"):
                ET.SubElement(case, "system-out").text = _xml(f"verdict reused from run {r['reused_from']}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", _seconds(suite_time))
        total_time += suite_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(total_time))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ('<?xml version="1.0" encoding="UTF-8"?>\n', "\n")
    )
