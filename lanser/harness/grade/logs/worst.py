"""A test reported more than once keeps its worst result: ``fail`` over ``skip`` over ``pass``.

The code under test writes to the stream its tests report on (a kernel's
``printk``, a library's ``atexit`` handler, a failed test's own output that
``ctest --output-on-failure`` prints after its progress line), and to the
tree the result files are read from.  So no report of a name can undo
another: a forged ``ok`` after a real ``not ok`` (or a real ``# SKIP``)
leaves the test failed (skipped), in every format and across result files.
A skip is worse than a pass because an oracle test must pass.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["RANK", "keep_worst", "merge"]

RANK = {"pass": 0, "skip": 1, "fail": 2}


def keep_worst(out: dict[str, str], name: str, status: str) -> None:
    """Record ``status`` for ``name`` in ``out`` unless ``out`` already holds a worse one."""
    if name not in out or RANK[status] > RANK[out[name]]:
        out[name] = status


def merge(parts: Iterable[dict[str, str]]) -> dict[str, str]:
    """The results of several texts (a log, result files), each name's worst."""
    out: dict[str, str] = {}
    for part in parts:
        for name, status in part.items():
            keep_worst(out, name, status)
    return out
