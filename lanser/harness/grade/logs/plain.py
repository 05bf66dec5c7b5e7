"""Hand-written test programs' result lines, the most common shapes of them.

- ``PASS: name`` / ``FAIL: name`` (also ``PASS name``, ``ERROR:``, ``SKIP:``), with no summary;
- ``name: PASS`` / ``name: FAIL`` / ``name: ok`` / ``name: FAILED``;
- ``name ... ok`` / ``... FAIL`` / ``... FAILED`` / ``... ERROR`` / ``... skipped`` (unittest's verbose lines);
- ``[       OK ] Suite.name`` / ``[  FAILED  ] Suite.name`` / ``[  SKIPPED ] Suite.name`` (GoogleTest).

Names are single tokens (no blanks) in the last two shapes, so summary lines
(``[  FAILED  ] 2 tests, listed below:``) are not read as tests.  A name
reported more than once keeps its worst result (:mod:`.worst`): a test that
printed ``PASS:`` for one check and ``FAIL:`` (or ``SKIP:``) for another failed
(was skipped).
"""

from __future__ import annotations

import re

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["parse"]

_SHAPES = (
    re.compile(r"^\s*(?P<s>PASS|FAIL|FAILED|ERROR|SKIP|XFAIL|XPASS)(?::\s*|\s+)(?P<n>[^\s:][^:]*?)\s*$"),
    re.compile(r"^\s*(?P<n>[^\s:][^:]*?):\s+(?P<s>PASS|PASSED|FAIL|FAILED|ERROR|SKIP|SKIPPED|ok|OK)\s*$"),
    re.compile(r"^(?P<n>\S+(?: \([\w.]+\))?) \.\.\. (?P<s>ok|FAIL|FAILED|ERROR|skipped\b.*)$"),
    re.compile(r"^\[\s*(?P<s>OK|FAILED|SKIPPED)\s*\] (?P<n>[\w./-]+)(?: \(\d+ ms\))?\s*$"),
)
_STATUS = {"PASS": "pass", "PASSED": "pass", "OK": "pass", "XFAIL": "pass", "SKIP": "skip", "SKIPPED": "skip"}


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        for shape in _SHAPES:
            m = shape.match(line)
            if m:
                word = m.group("s").split()[0].upper()
                status = _STATUS.get(word, "fail")
                name = m.group("n").strip()
                keep_worst(out, name, status)
                break
    return out


def detect(text: str) -> bool:
    return bool(parse(text))
