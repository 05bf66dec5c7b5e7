"""TAP (Test Anything Protocol): ``ok N - name`` / ``not ok N - name``, ``# SKIP``/``# TODO`` directives.

The test number is optional (TAP 13 allows ``ok - name``); a line without a
name says nothing a task could name in its oracles and is left out.  A TODO
test that fails is an expected failure and passes, as TAP harnesses count it.
"""

from __future__ import annotations

import re

__all__ = ["parse"]

_LINE = re.compile(r"^\s*(not ok|ok)\b(?:\s+\d+)?\s*(?:-\s*)?(.*?)\s*(?:(?<!\\)#\s*(SKIP|TODO)\b.*)?$",
                   re.M | re.I)


def parse(text: str) -> dict[str, str]:
    """Test name -> "pass" | "fail" | "skip"; the last report of a name wins."""
    out: dict[str, str] = {}
    for m in _LINE.finditer(text):
        status, name, directive = m.group(1).lower(), m.group(2).strip(), (m.group(3) or "").upper()
        if not name:
            continue
        if directive == "SKIP":
            out[name] = "skip"
        elif directive == "TODO":
            out[name] = "pass" if status == "not ok" else "fail"  # an unexpected pass of a TODO
        else:
            out[name] = "pass" if status == "ok" else "fail"
    return out


def detect(text: str) -> bool:
    return bool(re.search(r"^\s*(?:not )?ok\b(?:\s+\d+)?\s*-?\s*\S", text, re.M)) and bool(
        re.search(r"^\s*\d+\.\.\d+", text, re.M) or re.search(r"^\s*(?:not )?ok\s+\d+", text, re.M))
