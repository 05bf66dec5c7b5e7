"""A task's own result lines: a regular expression per status, each with a ``name`` group.

For logs no built-in parser reads (``TEST foo ... passed``): the task file
gives ``pass`` and ``fail`` (and optionally ``skip``) patterns, matched
line by line (Python ``re`` syntax, ``re.match`` at the start of a line
unless the pattern says otherwise).  The patterns are checked when the
task is loaded (:func:`check`).  A name matched by several patterns keeps
its worst result.
"""

from __future__ import annotations

import re

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["check", "parse"]


def check(pattern: str) -> str:
    """``pattern`` if it compiles and has a ``name`` group (or exactly one group); else ValueError."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    if "name" not in compiled.groupindex and compiled.groups != 1:
        raise ValueError("needs a (?P<name>...) group (or exactly one group) for the test name")
    return pattern


def parse(text: str, patterns: dict[str, str]) -> dict[str, str]:
    compiled = [(status, re.compile(p)) for status, p in patterns.items() if p]
    out: dict[str, str] = {}
    for line in text.splitlines():
        for status, rx in compiled:
            m = rx.match(line)
            if not m:
                continue
            name = (m.group("name") if "name" in rx.groupindex else m.group(1) or "").strip()
            if name:
                keep_worst(out, name, status)
    return out
