"""JUnit XML result files (``<testsuite><testcase .../></testsuite>``), as pytest, CTest
(``--output-junit``), GoogleTest (``--gtest_output=xml``), Maven and meson write them.

A test is ``classname.name`` (or ``name`` when there is no class name or it
is the name itself); a ``<failure>`` or ``<error>`` child fails it, a
``<skipped>`` child skips it.  The files come from a tree the agent's code
ran in: a document with a DTD (``<!DOCTYPE``/``<!ENTITY``: entity
expansion bombs) or one that does not parse reads as no result.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["parse"]

_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.I)


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if _DTD.search(text):
        return out
    try:
        root = ET.fromstring(text.lstrip("\ufeff").encode("utf-8"))
    except (ET.ParseError, ValueError):
        return out
    for case in root.iter("testcase"):
        name = (case.get("name") or "").strip()
        if not name:
            continue
        cls = (case.get("classname") or "").strip()
        full = f"{cls}.{name}" if cls and cls != name else name
        tags = {child.tag for child in case}
        keep_worst(out, full, "fail" if tags & {"failure", "error"} else ("skip" if "skipped" in tags else "pass"))
    return out


def detect(text: str) -> bool:
    return "<testcase" in text and "<testsuite" in text
