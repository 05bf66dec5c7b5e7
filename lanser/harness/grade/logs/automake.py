"""Automake's parallel test harness: ``PASS: name`` lines of ``make check`` and ``test-suite.log``.

With or without the ``# TOTAL:`` summary.  XFAIL (an expected failure)
passes and XPASS (an unexpected pass) fails, as automake counts them; ERROR
(a test that could not run: exit 99, a hard error) fails.  In
``test-suite.log`` each failed test's section starts with ``FAIL: name``
and an underline, and its own output follows: only the result lines before
the ``.. contents::`` marker and the section headers count, so a test that
prints ``PASS: x`` in its output cannot add a result.
"""

from __future__ import annotations

import re

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["parse"]

_LINE = re.compile(r"^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS): (\S.*?)\s*$")
_STATUS = {"PASS": "pass", "XFAIL": "pass", "SKIP": "skip"}


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = text.splitlines()
    suite_log = any(line.startswith(".. contents::") for line in lines)
    for i, line in enumerate(lines):
        m = _LINE.match(line)
        if not m:
            continue
        if suite_log:  # a section header: the name's underline follows
            underline = lines[i + 1] if i + 1 < len(lines) else ""
            if not (underline and set(underline) == {"="} and len(underline) == len(line.rstrip())):
                continue
        keep_worst(out, m.group(2), _STATUS.get(m.group(1), "fail"))
    return out


def detect(text: str) -> bool:
    return bool(re.search(r"^# TOTAL: \d+", text, re.M))
