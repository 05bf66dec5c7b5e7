"""A bug of lanser's while answering one batch line is that line's answer, not the batch's end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanser import commands
from lanser.commands.context import Context


def test_a_bug_in_one_request_does_not_stop_the_batch(
    sample: Path, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17, finding 12: an exception that is not a LanserError escaped the orchestrator, so a
    batch stopped at that line and lost every later one (the lines after it were never answered)."""
    real = commands.HANDLERS["locate"]

    async def buggy(ctx: Context, request, args, bundle) -> None:  # type: ignore[no-untyped-def]
        if "boom" in (request.selector or ""):
            raise ZeroDivisionError("a bug")
        await real.handler(ctx, request, args, bundle)

    monkeypatch.setitem(commands.HANDLERS, "locate", commands.Entry(real.args, buggy))
    monkeypatch.delenv("LANSER_DEBUG", raising=False)
    lines = [
        {"cmd": "locate", "selector": "pkg/boom.py@L1:C1"},
        {"cmd": "locate", "selector": "py://pkg.shapes#total_area"},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, _err = run_cli("--json", "-w", str(sample), "batch", str(batch))
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == 2, out
    assert answers[0]["status"] == "error" and answers[0]["error"]["code"] == "E/INTERNAL"
    assert "ZeroDivisionError" in answers[0]["error"]["message"]
    assert answers[1]["status"] == "ok"
    assert code != 0
