"""Every selector ``locate`` mints works as input (issue 20), over every symbol of a real project.

The bug this pins: the anchor minted for ``def total_area(...)`` resolved to
the ``def`` keyword, so ``refs``/``hover``/``rename`` on it answered
E/NOT_FOUND "no references".  Each minted kind (symbol, ast, anchor, cursor)
must give the very answer the cursor on the definition's name gives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lanser.bundle.models import Request
from lanser.orchestrator import Orchestrator
from lanser.selectors.mint import mint
from lanser.syntax import definitions

pytestmark = pytest.mark.integration

COMMANDS = ("definition", "references", "hover", "rename")


def _answer(bundle: dict[str, Any]) -> Any:
    """What must not depend on the selector's kind: the facts, the edit, or the error code."""
    if bundle["status"] == "error":
        return ("error", bundle["error"]["code"])
    if bundle["request"]["cmd"] == "rename":
        return ("ok", bundle["edits"]["diff"])
    return ("ok", bundle["facts"])


async def _sweep(root: Path) -> list[str]:
    problems: list[str] = []
    async with Orchestrator(root, timeout=60) as orch:
        files = orch.workspace.files((".py", ".c", ".h"))
        for rel in files:
            language = "python" if rel.endswith(".py") else "c"
            for sym in definitions(language, (root / rel).read_bytes()):
                plain = mint(orch.workspace, rel, sym, language)
                located = await orch.run(Request(cmd="locate", selector=plain["cursor"]))
                assert located["status"] == "ok", located
                minted = located["facts"]["selectors"]
                # locate's cursor carries the file's version (?v=); the rest are minted as mint() does.
                assert {k: v for k, v in minted.items() if k != "cursor"} == {
                    k: v for k, v in plain.items() if k != "cursor"
                }
                # The symbolId a bundle reports is a selector too.
                sid = await orch.run(Request(cmd="locate", selector=minted.get("symbol") or minted["cursor"]))
                if sid["resolution"].get("symbolId"):
                    minted = {**minted, "symbolId": sid["resolution"]["symbolId"]}
                for cmd in COMMANDS:
                    args = {"newName": sym.qualname.rsplit(".", 1)[-1] + "_renamed"} if cmd == "rename" else {}
                    truth = await orch.run(Request(cmd=cmd, selector=minted["cursor"], args=args))
                    if cmd in ("definition", "hover") and truth["status"] == "error":
                        problems.append(f"{cmd} {minted['cursor']} ({sym.qualname}): {truth['error']}")
                    for kind, sel in sorted(minted.items()):
                        if kind == "cursor":
                            continue
                        got = await orch.run(Request(cmd=cmd, selector=sel, args=args))
                        if _answer(got) != _answer(truth):
                            problems.append(
                                f"{cmd} {sel} ({sym.qualname}): {_answer(got)!r:.200} "
                                f"!= cursor's {_answer(truth)!r:.200}"
                            )
    return problems


def test_every_minted_selector_answers_as_the_cursor_on_the_name(sample: Path) -> None:
    """Over every definition of examples/sample (Python and C): def, refs, hover and the rename
    preview of each minted selector equal the cursor's; def and hover on the name never fail."""
    problems = asyncio.run(_sweep(sample))
    assert not problems, "\n".join(problems)
