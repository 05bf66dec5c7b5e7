"""The session's own part of JSON-RPC: abandoning requests (lanser/lsp/rpc.py).

pygls has no public way to forget a pending request, so a request lanser
stops waiting for stays pending inside pygls until the server answers it.
These tests make that late answer come (``tests/servers/fake_lsp.py`` in
``gather`` mode holds definition requests until a second one arrives, then
answers both, newest first) and check that the session takes it quietly:
the next request is answered and the session is still alive.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp

from lanser.errors import LsTimeout
from lanser.lsp.registry import OVERRIDE_ENV, server_for_language
from lanser.lsp.session import LspSession

pytestmark = pytest.mark.integration

FAKE = Path(__file__).resolve().parent.parent / "servers" / "fake_lsp.py"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_text("x = 1\nprint(x)\ny = x\n", encoding="utf-8")
    return root


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake server in ``gather`` mode (two at a time) stands in for Python's; its event log."""
    path = tmp_path / "fake.log"
    overrides = tmp_path / "overrides.json"
    entry = {"name": "fake", "version": "1.0", "command": [sys.executable, str(FAKE), "gather", str(path)]}
    overrides.write_text(json.dumps({"python": entry}))
    monkeypatch.setenv(OVERRIDE_ENV, str(overrides))
    monkeypatch.setenv("FAKE_GATHER", "2")
    return path


def received(log: Path, method: str) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.split()[:2] == ["recv", method])


def definition(doc_uri: str, line: int) -> lsp.DefinitionParams:
    return lsp.DefinitionParams(
        text_document=lsp.TextDocumentIdentifier(uri=doc_uri), position=lsp.Position(line=line, character=0)
    )


async def _late_answer(ws: Path, abandon: str, log: Path) -> tuple[object, object, bool]:
    """Abandon a definition request (``timeout`` or ``caller``), ask another; both get answered."""
    session = LspSession(server_for_language("python"), ws)
    try:
        await session.start(30)
        doc = session.sync_document("a.py", "python")
        if abandon == "timeout":
            with pytest.raises(LsTimeout):
                # Held by the fake until a second definition arrives: it cannot be answered in time.
                await session.request("textDocument/definition", definition(doc.uri, 1), timeout=0.1)
        else:
            first = asyncio.ensure_future(
                session.request("textDocument/definition", definition(doc.uri, 1), timeout=30)
            )
            while received(log, "textDocument/definition") < 1:
                await asyncio.sleep(0.02)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
        second = await session.request("textDocument/definition", definition(doc.uri, 2), timeout=30)
        # The late answer to the first request came right after the second's: the hover's
        # answer comes after both, so the session has read (and dropped) it by then.
        hover = await session.request(
            "textDocument/hover",
            lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri), position=lsp.Position(0, 0)),
            timeout=30,
        )
        return session.to_data(second), hover, session.alive
    finally:
        await session.shutdown(5)


@pytest.mark.parametrize("abandon", ["timeout", "caller"])
def test_a_late_answer_to_an_abandoned_request_is_dropped(ws: Path, log: Path, abandon: str) -> None:
    second, hover, alive = asyncio.run(_late_answer(ws, abandon, log))
    assert alive
    assert second["range"]["start"]["line"] == 2  # the second request's own answer, not the first's
    assert hover is None
    assert [line.split()[:2] for line in log.read_text().splitlines() if line.startswith("answered")] == [
        ["answered", "2"]
    ]
    # A timed-out request is cancelled on the server; one whose caller went away is not
    # (basedpyright 1.40.2 fails later searches after such a cancellation).
    assert received(log, "$/cancelRequest") == (1 if abandon == "timeout" else 0)
