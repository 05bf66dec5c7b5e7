"""Test logs to per-test results, one small module per format behind one table.

A task declares its format (``test_log.format``, see
:class:`lanser.harness.task.spec.TestLog`); ``auto`` detects it, and the verdict
always names the parser that was used and whether it was declared or
detected.  Every parser maps a test name to ``"pass"``, ``"fail"`` or
``"skip"``.

========  ===================================================================
format    reads
========  ===================================================================
tap       ``ok N - name`` / ``not ok N - name`` (:mod:`.tap`)
ktap      KUnit's nested KTAP, ``suite.case`` names (:mod:`.ktap`)
automake  ``PASS: name`` lines of ``make check`` / ``test-suite.log`` (:mod:`.automake`)
plain     ``PASS:``/``FAIL:``, ``name: ok``, ``... ok``/``FAILED``, GoogleTest lines (:mod:`.plain`)
ctest     CTest's progress lines and failure list (:mod:`.ctest`)
junit     JUnit XML files named by ``test_log.files`` (:mod:`.junit`)
regex     the task's ``pass``/``fail``/``skip`` patterns (:mod:`.regex`)
========  ===================================================================

Detection (``auto``) tries, in order: KTAP's markers, CTest's lines,
automake's ``# TOTAL:``, TAP, JUnit XML, then plain lines; the first that reads a
result wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lanser.harness.grade.logs import automake, ctest, junit, ktap, plain, regex, tap
from lanser.harness.grade.logs.worst import merge as _merge

__all__ = ["FORMATS", "Parsed", "failing_lines", "parse"]

#: format name -> parser of one text (the regex format takes its patterns too, see :func:`parse`).
FORMATS: dict[str, Callable[[str], dict[str, str]]] = {
    "tap": tap.parse,
    "ktap": ktap.parse,
    "automake": automake.parse,
    "plain": plain.parse,
    "ctest": ctest.parse,
    "junit": junit.parse,
}
#: Every value ``test_log.format`` takes.
FORMAT_NAMES = ("auto", *FORMATS, "regex")
_DETECTION: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("ktap", ktap.detect),
    ("ctest", ctest.detect),
    ("automake", automake.detect),
    ("tap", tap.detect),
    ("junit", junit.detect),
    ("plain", plain.detect),
)


@dataclass(frozen=True)
class Parsed:
    """What a test log said: ``parser`` used, ``declared`` (by the task) or detected."""

    parser: str | None
    declared: bool
    results: dict[str, str] = field(default_factory=dict)


def parse(texts: list[str], fmt: str = "auto", patterns: dict[str, str] | None = None) -> Parsed:
    """Results of the texts (a log, result files), merged: a name reported twice keeps its worst result (:mod:`.worst`)."""
    if fmt == "regex":
        return Parsed("regex", True, _merge(regex.parse(t, patterns or {}) for t in texts))
    if fmt != "auto":
        return Parsed(fmt, True, _merge(FORMATS[fmt](t) for t in texts))
    for name, detect in _DETECTION:
        if any(detect(t) for t in texts):
            results = _merge(FORMATS[name](t) for t in texts)
            if results:
                return Parsed(name, False, results)
    return Parsed(None, False, {})


def _naming(lines: list[str], name: str) -> list[str]:
    word = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])")
    return [ln.strip()[:300] for ln in lines if word.search(ln)]


_FAILURE_WORDS = re.compile(r"not ok|\bFAIL|\bfail|Failed|\bERROR|\berror", re.I)


def failing_lines(text: str, failed: list[str], limit: int = 40) -> list[str]:
    """The log lines that name a failing test (at most three per test, ``limit`` in all): the evidence.

    A name is looked for as a whole word (a suite's name does not match its cases' lines), then,
    if no line has it, by its last part (KTAP's ``suite.case`` is printed as ``case``); lines that read as a failure
    come first, so a suite's passing cases do not stand in for its failing one."""
    out: list[str] = []
    lines = text.splitlines()
    for name in failed[:20]:
        found = _naming(lines, name)
        if not found and "." in name:
            found = _naming(lines, name.rsplit(".", 1)[-1])
        hits = sorted(found, key=lambda ln: not _FAILURE_WORDS.search(ln))[:3]
        out.extend(hits)
        if len(out) >= limit:
            break
    return out[:limit]
