"""Grading: a pure function of the stage logs, so a run re-grades without Docker.

Test results are read from TAP lines (``ok N - name`` / ``not ok N - name``,
the format of the C test drivers and of KUnit's KTAP), CTest's progress
lines or automake's ``PASS:``/``FAIL:`` lines; sanitizer reports
(ASan, UBSan, KASAN) are parsed and de-duplicated by kind and top frame.
An infrastructure failure (an image, Docker, the harness itself) is its own
outcome and never counted against the agent.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["OUTCOMES", "grade", "parse_automake", "parse_ctest", "parse_ktap", "parse_sanitizers", "parse_tap",
           "parse_tests"]

OUTCOMES = ("resolved", "tests_failed", "sanitizer_error", "build_failed", "timeout", "infra_error")

_TAP = re.compile(r"^\s*(not ok|ok)\s+\d+\s*(?:-\s*)?(.*?)\s*(?:#\s*(SKIP|TODO).*)?$", re.M)
_ASAN = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer: ([\w-]+)")
_FRAME = re.compile(r"#\d+ 0x[0-9a-f]+ in (\S+)")
_UBSAN = re.compile(r"^(\S+?):(\d+):(\d+): runtime error: (.*)$", re.M)
_KASAN = re.compile(r"BUG: KASAN: ([\w-]+) in ([\w.]+)")
# KTAP (KUnit): a console prefix ("[    0.52] ") may precede a line; nesting is by indentation.
_KTAP_PREFIX = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_KTAP_RESULT = re.compile(r"^(\s*)(not ok|ok)\s+\d+\s*(?:-\s*)?(.*?)\s*(?:#\s*(SKIP|TODO)\b.*)?$")
_KTAP_SUBTEST = re.compile(r"^(\s*)# Subtest: (\S.*?)\s*$")


def parse_tap(text: str) -> dict[str, str]:
    """Test name -> "pass" | "fail" | "skip"; the last report of a name wins."""
    out: dict[str, str] = {}
    for m in _TAP.finditer(text):
        status, name, directive = m.group(1), m.group(2).strip(), m.group(3)
        if not name:
            continue
        out[name] = "skip" if directive == "SKIP" else ("pass" if status == "ok" else "fail")
    return out


def parse_ktap(text: str) -> dict[str, str]:
    """KUnit's nested KTAP results: ``suite`` and ``suite.case`` (and ``suite.case.param``
    for parameterised cases) -> "pass" | "fail" | "skip".

    A ``# Subtest: NAME`` header opens a group at its indentation; a result line
    at indentation k belongs to the open groups at indentations <= k and closes
    the deeper ones.  A case whose suite never finished (the kernel crashed
    mid-suite) is still reported under its suite's name.
    """
    out: dict[str, str] = {}
    groups: dict[int, str] = {}
    for raw in text.splitlines():
        line = _KTAP_PREFIX.sub("", raw.rstrip())
        sub = _KTAP_SUBTEST.match(line)
        if sub:
            depth = len(sub.group(1).expandtabs(8))
            groups = {d: n for d, n in groups.items() if d < depth}
            groups[depth] = sub.group(2)
            continue
        m = _KTAP_RESULT.match(line)
        if not m or not m.group(3):
            continue
        depth = len(m.group(1).expandtabs(8))
        path = [n for d, n in sorted(groups.items()) if d <= depth] + [m.group(3).strip()]
        groups = {d: n for d, n in groups.items() if d <= depth}
        out[".".join(path)] = "skip" if m.group(4) == "SKIP" else ("pass" if m.group(2) == "ok" else "fail")
    return out


def parse_tests(text: str) -> dict[str, str]:
    """Per-test results of a test log: KTAP (qualified names) when the log is
    KUnit's, CTest's or automake's when the log is theirs, flat TAP otherwise."""
    if "# Subtest:" in text or "KTAP version" in text:
        return parse_ktap(text)
    if _CTEST_SUMMARY.search(text) or _CTEST.search(text):
        return parse_ctest(text)
    if _AUTOMAKE_SUMMARY.search(text):
        return parse_automake(text)
    return parse_tap(text)


_CTEST = re.compile(r"^\s*\d+/\d+\s+Test\s+#\d+:\s+(\S+)\s+\.*\s*(\*{3})?(Passed|Failed|Not Run|Skipped|"
                    r"Exception|Timeout|Subprocess aborted|\w[\w ]*?)\b", re.M)
_CTEST_SUMMARY = re.compile(r"^\d+% tests passed, \d+ tests? failed out of \d+", re.M)
_AUTOMAKE = re.compile(r"^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS): (\S.*?)\s*$", re.M)
_AUTOMAKE_SUMMARY = re.compile(r"^# TOTAL: \d+", re.M)


def parse_ctest(text: str) -> dict[str, str]:
    """CTest's progress lines (``  3/22 Test  #3: name ....   Passed    0.01 sec``): name -> status."""
    out: dict[str, str] = {}
    for m in _CTEST.finditer(text):
        status = m.group(3)
        out[m.group(1)] = "pass" if status == "Passed" else ("skip" if status in ("Skipped", "Not Run") and
                                                               "Disabled" in m.group(0) else "fail")
    return out


def parse_automake(text: str) -> dict[str, str]:
    """Automake's ``make check`` lines (``PASS: name``; the same in ``test-suite.log``): name -> status.

    XFAIL (an expected failure) passes and XPASS (an unexpected pass) fails, as automake counts them.
    """
    out: dict[str, str] = {}
    for m in _AUTOMAKE.finditer(text):
        status, name = m.group(1), m.group(2)
        out[name] = {"PASS": "pass", "XFAIL": "pass", "SKIP": "skip"}.get(status, "fail")
    return out


def parse_sanitizers(text: str) -> list[dict[str, str]]:
    """Sanitizer reports, one per (tool, kind, top frame), in order of first appearance."""
    found: dict[tuple[str, str, str], dict[str, str]] = {}
    for m in _ASAN.finditer(text):
        tail = text[m.end():m.end() + 4000]
        frame = _FRAME.search(tail)
        key = (m.group(1) + "Sanitizer", m.group(2), frame.group(1) if frame else "?")
        found.setdefault(key, {"tool": key[0], "kind": key[1], "frame": key[2],
                               "summary": text[m.start():text.find("\n", m.start())].strip()})
    for m in _UBSAN.finditer(text):
        kind = m.group(4).split(":")[0].strip()  # "signed integer overflow", "load of misaligned address ..."
        key = ("UndefinedBehaviorSanitizer", kind, f"{m.group(1)}:{m.group(2)}")
        found.setdefault(key, {"tool": key[0], "kind": key[1], "frame": key[2], "summary": m.group(0).strip()})
    for m in _KASAN.finditer(text):
        key = ("KASAN", m.group(1), m.group(2))
        found.setdefault(key, {"tool": key[0], "kind": key[1], "frame": key[2], "summary": m.group(0).strip()})
    return list(found.values())


def grade(stages: dict[str, dict[str, Any]], oracles: dict[str, Any],
          baseline_sanitizer: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The verdict of one task from its stage records (``exit_code``, ``output``,
    ``timed_out``, ``infra_error``), its oracles and the sanitizer reports the
    project had before the agent (never blamed on it)."""
    for name, stage in stages.items():
        if stage.get("infra_error"):
            return {"outcome": "infra_error", "stage": name, "error": stage["infra_error"]}
    build = stages.get("build", {})
    compiled = build.get("exit_code") == 0 and not build.get("timed_out")
    verdict: dict[str, Any] = {"compiled": compiled}
    if not compiled:
        verdict["outcome"] = "timeout" if build.get("timed_out") else "build_failed"
        return verdict
    test = stages.get("test", {})
    results = parse_tests(test.get("output", ""))
    f2p = {name: results.get(name, "missing") for name in oracles.get("fail_to_pass", ())}
    p2p = {name: results.get(name, "missing") for name in oracles.get("pass_to_pass", ())}
    verdict.update(tests=results, fail_to_pass=f2p, pass_to_pass=p2p,
                   tests_passed=sum(v == "pass" for v in results.values()), tests_total=len(results))
    oracles_ok = all(v == "pass" for v in (*f2p.values(), *p2p.values()))
    san = stages.get("sanitize")
    reports: list[dict[str, str]] = []
    if san is not None:
        known = {(r["tool"], r["kind"], r["frame"]) for r in baseline_sanitizer or []}
        reports = [r for r in parse_sanitizers(san.get("output", "")) if (r["tool"], r["kind"], r["frame"]) not in known]
        verdict["sanitizer"] = {"clean": not reports, "reports": reports}
    if test.get("timed_out") or (san or {}).get("timed_out"):
        verdict["outcome"] = "timeout"
    elif not oracles_ok:
        verdict["outcome"] = "tests_failed"
    elif reports:
        verdict["outcome"] = "sanitizer_error"
    else:
        verdict["outcome"] = "resolved"
    return verdict
