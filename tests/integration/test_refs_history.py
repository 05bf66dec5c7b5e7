"""References do not depend on what the session checked before (issue 20).

The bug this pins: basedpyright parses a string in a function body
(``t.cast("Shape", x)``) only when it checks that file, so a warm daemon that
had diagnosed (or renamed in) such a file answered more references than a
fresh process (click's ``Context``: 156 against 155).  lanser now checks every
file with the name inside a string before asking, so warm and fresh give the
same list, and the complete one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lanser.bundle.models import Request
from lanser.orchestrator import Orchestrator

pytestmark = pytest.mark.integration

EXTRA = '''\
"""Uses Shape inside a string, in a function body (parsed only when this file is checked)."""

import typing as t

if t.TYPE_CHECKING:
    from pkg.shapes import Shape


def first(items: list[object]) -> object:
    return t.cast("Shape", items[0])
'''


async def _answers(root: Path, warm_up: list[str]) -> dict[str, Any]:
    async with Orchestrator(root, timeout=120, cache=False) as orch:
        for rel in warm_up:
            assert (await orch.run(Request(cmd="diagnostics", selector=rel)))["status"] == "ok"
        return await orch.run(Request(cmd="references", selector="py://pkg.shapes#Shape"))


def test_references_after_another_file_was_checked_equal_a_fresh_process(sample: Path, tmp_path: Path) -> None:
    (sample / "pkg" / "extra.py").write_text(EXTRA)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(sample, copy)
    fresh = asyncio.run(_answers(sample, []))
    warm = asyncio.run(_answers(copy, ["pkg/extra.py"]))
    assert fresh["status"] == warm["status"] == "ok"
    assert warm["facts"] == fresh["facts"]
    assert warm["bundleId"] == fresh["bundleId"]
    # The complete list: the reference inside the string is in it.
    assert {"pkg/extra.py@L10:C20"} <= {r["selector"] for r in fresh["facts"]["references"]}


async def _rename(root: Path, warm_up: list[str]) -> dict[str, Any]:
    async with Orchestrator(root, timeout=120, cache=False) as orch:
        for rel in warm_up:
            assert (await orch.run(Request(cmd="diagnostics", selector=rel)))["status"] == "ok"
        return await orch.run(Request(cmd="rename", selector="py://pkg.shapes#Shape", args={"newName": "Figure"}))


def test_rename_after_another_file_was_checked_equals_a_fresh_process(sample: Path, tmp_path: Path) -> None:
    """The same history dependence in a rename: a fresh process left `t.cast("Shape", ...)` out of the
    edit and refused the rename as breaking code; a warm one that had checked the file renamed it."""
    (sample / "pkg" / "extra.py").write_text(EXTRA)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(sample, copy)
    fresh = asyncio.run(_rename(sample, []))
    warm = asyncio.run(_rename(copy, ["pkg/extra.py"]))
    assert fresh["status"] == "ok", fresh.get("error")
    assert warm["bundleId"] == fresh["bundleId"]
    assert 'return t.cast("Figure", items[0])' in fresh["edits"]["diff"]
