"""A rename's preview diagnoses the renamed tree as a fresh ``diag`` does after applying it (issue 20).

The bug this pins: renaming ``manhattan`` in examples/sample (declared in
geometry.h, defined in geometry.c, called from main.c) previewed a phantom
error "Call to undeclared function 'taxicab'" and r = -0.1: clangd built
main.c against the header on disk, not the speculative one.  After
``--apply``, ``diag`` was clean.  The speculative evaluation must see every
changed file at once, for clangd as for basedpyright; and it must leave the
server as it found it (a second preview of the same rename once came back
E/APPLY_CONFLICT, main.c still compiled against the renamed header).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from gitrepo import commit_all

from lanser.bundle.models import Request
from lanser.orchestrator import Orchestrator

pytestmark = pytest.mark.integration


def _keys(bundle: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (g["path"], d["severity"], d.get("code") or "", d["message"].splitlines()[0])
        for g in bundle["facts"]["diagnostics"]
        for d in g["diagnostics"]
    }


def _diag(run_json: Any, ws: Path, paths: list[str]) -> tuple[set[tuple[str, str, str, str]], int]:
    keys: set[tuple[str, str, str, str]] = set()
    count = 0
    for rel in paths:
        code, b = run_json("-w", str(ws), "diag", rel)
        assert code == 0, b
        keys |= _keys(b)
        count += sum(
            1 for g in b["facts"]["diagnostics"] for d in g["diagnostics"] if d["severity"] in ("error", "warning")
        )
    return keys, count


@pytest.mark.parametrize(
    ("selector", "new_name"),
    [
        ("c://csrc/geometry.h#manhattan", "taxicab"),
        ("c://csrc/geometry.h#point", "pt"),
        ("py://pkg.shapes#total_area", "sum_areas"),
    ],
)
def test_preview_diagnoses_what_diag_finds_after_apply(
    sample: Path, run_json: Any, selector: str, new_name: str
) -> None:
    commit_all(sample)

    async def twice() -> list[dict[str, Any]]:
        # Twice in one process: the first preview must leave the servers' view of the tree as it was.
        async with Orchestrator(sample, timeout=60) as orch:
            request = Request(cmd="rename", selector=selector, args={"newName": new_name})
            return [await orch.run(request), await orch.run(request.model_copy(update={"indexIo": "codepoint"}))]

    preview, again = asyncio.run(twice())
    assert preview["status"] == "ok", preview
    assert again["status"] == "ok", again
    assert (again["edits"], again["processReward"]) == (preview["edits"], preview["processReward"])
    spec = preview["edits"]["speculative"]
    before, d_before = _diag(run_json, sample, spec["paths"])
    code, applied = run_json("-w", str(sample), "rename", selector, new_name, "--apply")
    assert code == 0, applied
    after, d_after = _diag(run_json, sample, spec["paths"])
    assert [tuple(x[:4]) for x in spec["appeared"]] == sorted(after - before)
    assert [tuple(x[:4]) for x in spec["disappeared"]] == sorted(before - after)
    reward = preview["processReward"]["components"]
    assert (reward["d_prev"], reward["d_now"]) == (d_before, d_after)
    assert preview["processReward"]["r"] >= 0
