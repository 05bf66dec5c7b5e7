"""CTest's console output: progress lines and the ``The following tests FAILED:`` list.

``  3/22 Test  #3: name ....   Passed    0.01 sec``; ``***Failed``,
``***Exception: SegFault``, ``***Timeout``, ``Subprocess aborted`` and
anything else but Passed fail; a test ``Not Run`` because it is
``Disabled`` is skipped (a missing executable is a failure).  The failure
list at the end (``\t  3 - name (Failed)``) confirms a failure even when
the progress line was lost to the output cap.
"""

from __future__ import annotations

import re

from lanser.harness.grade.logs.worst import keep_worst

__all__ = ["parse"]

_PROGRESS = re.compile(
    r"^\s*\d+/\d+\s+Test\s+#\d+:\s+(\S+)\s+\.*\s*(\*{3})?(Passed|Failed|Not Run|Skipped|"
    r"Exception|Timeout|Subprocess aborted|\w[\w ]*?)\b(.*)$",
    re.M,
)
_SUMMARY = re.compile(r"^\d+% tests passed, \d+ tests? failed out of \d+", re.M)
_FAILED_LIST = re.compile(r"^\s+\d+ - (\S+) \((\w[\w ]*)\)\s*$")


def parse(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _PROGRESS.finditer(text):
        status = m.group(3)
        keep_worst(
            out,
            m.group(1),
            "pass"
            if status == "Passed"
            else ("skip" if status == "Skipped" or (status == "Not Run" and "Disabled" in m.group(4)) else "fail"),
        )
    tail = text.partition("The following tests FAILED:")[2]
    for line in tail.splitlines()[:1000]:
        listed = _FAILED_LIST.match(line)
        if listed and listed.group(2) != "Disabled":
            out[listed.group(1)] = "fail"
    return out


def detect(text: str) -> bool:
    return bool(_SUMMARY.search(text) or _PROGRESS.search(text))
