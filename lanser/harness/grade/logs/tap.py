"""TAP (Test Anything Protocol): ``ok N - name`` / ``not ok N - name``, ``# SKIP``/``# TODO`` directives.

The test number is optional (TAP 13 allows ``ok - name``); a line without a
name says nothing a task could name in its oracles and is left out.  A TODO
test that fails is an expected failure and passes, as TAP harnesses count it.
"""

from __future__ import annotations

import re

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["parse"]

# Blanks, not \s: a bare "ok" line must not run on into the next one.
_LINE = re.compile(
    r"^[ \t]*(not ok|ok)\b(?:[ \t]+\d+)?[ \t]*(?:-[ \t]*)?(.*?)[ \t]*(?:(?<!\\)#[ \t]*(SKIP|TODO)\b.*)?$", re.M | re.I
)


def parse(text: str) -> dict[str, str]:
    """Test name -> "pass" | "fail" | "skip"; a name reported twice keeps its worst result."""
    out: dict[str, str] = {}
    for m in _LINE.finditer(text):
        status, name, directive = m.group(1).lower(), m.group(2).strip(), (m.group(3) or "").upper()
        if not name:
            continue
        if directive == "SKIP":
            result = "skip"
        elif directive == "TODO":
            result = "pass" if status == "not ok" else "fail"  # an unexpected pass of a TODO
        else:
            result = "pass" if status == "ok" else "fail"
        keep_worst(out, name, result)
    return out


def detect(text: str) -> bool:
    return bool(
        re.search(r"^[ \t]*(?:not )?ok[ \t]+\d+", text, re.M)
        or (re.search(r"^[ \t]*\d+\.\.\d+", text, re.M) and re.search(r"^[ \t]*(?:not )?ok\b", text, re.M))
    )
