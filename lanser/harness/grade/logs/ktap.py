"""KTAP (KUnit, the kernel's TAP dialect): nested suites by indentation, qualified names.

``suite`` and ``suite.case`` (and ``suite.case.param`` for parameterised
cases) -> "pass" | "fail" | "skip".  A ``# Subtest: NAME`` header opens a
group at its indentation; a result line at indentation k belongs to the open
groups at indentations <= k and closes the deeper ones.  A case whose suite
never finished (the kernel crashed mid-suite) is still reported under its
suite's name.  A console prefix (``[    0.52] ``) may precede any line.
"""

from __future__ import annotations

import re

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["parse"]

_PREFIX = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_RESULT = re.compile(r"^(\s*)(not ok|ok)\s+\d+\s*(?:-\s*)?(.*?)\s*(?:#\s*(SKIP|TODO)\b.*)?$")
_SUBTEST = re.compile(r"^(\s*)# Subtest: (\S.*?)\s*$")


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    groups: dict[int, str] = {}
    for raw in text.splitlines():
        line = _PREFIX.sub("", raw.rstrip())
        sub = _SUBTEST.match(line)
        if sub:
            depth = len(sub.group(1).expandtabs(8))
            groups = {d: n for d, n in groups.items() if d < depth}
            groups[depth] = sub.group(2)
            continue
        m = _RESULT.match(line)
        if not m or not m.group(3):
            continue
        depth = len(m.group(1).expandtabs(8))
        path = [n for d, n in sorted(groups.items()) if d <= depth] + [m.group(3).strip()]
        groups = {d: n for d, n in groups.items() if d <= depth}
        keep_worst(out, ".".join(path), "skip" if m.group(4) == "SKIP" else ("pass" if m.group(2) == "ok" else "fail"))
    return out


def detect(text: str) -> bool:
    return "# Subtest:" in text or "KTAP version" in text
