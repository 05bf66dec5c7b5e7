"""A C rename is asked only of an index that covers the symbol: confirmed by asking the index (issue 19).

Real clangd.  Readiness used to be a wait for clangd's progress reports to
go quiet; under load a rename asked then left whole files unedited and
called itself complete.  Now ``workspace/symbol`` must list the old name in
every file that defines it before the rename is asked, and a server whose
index never does is refused with a retryable E/LS_TIMEOUT, nothing written.
The index that never catches up is real clangd behind a proxy that answers
``workspace/symbol`` with nothing (tests/servers/index_lag_proxy.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from gitrepo import commit_all, snapshot

pytestmark = pytest.mark.integration

PROXY = Path(__file__).resolve().parent.parent / "servers" / "index_lag_proxy.py"

PROJECT = {
    "lib.h": "#ifndef LIB_H\n#define LIB_H\nint old_fn(int x);\n#endif\n",
    "lib.c": '#include "lib.h"\n\nint old_fn(int x) { return x + 1; }\n',
    "main.c": '#include "lib.h"\n\nint main(void) { return old_fn(-1); }\n',
    "compile_commands.json": json.dumps(
        [{"directory": ".", "file": f, "arguments": ["cc", "-std=c99", "-c", f]} for f in ("lib.c", "main.c")]
    )
    + "\n",
}


def make_repo(root: Path) -> Path:
    for rel, text in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return commit_all(root)


def test_the_index_is_confirmed_before_the_rename(tmp_path: Path, run_json) -> None:
    """The rename reports which defining files the index was seen to cover."""
    ws = make_repo(tmp_path / "ws")
    code, b = run_json("-w", str(ws), "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 0, b
    assert b["edits"]["complete"] is True
    assert b["edits"]["index"]["files"] == ["lib.c"] and b["edits"]["index"]["asked"] >= 1
    assert "old_fn" not in "".join((ws / f).read_text() for f in ("lib.h", "lib.c", "main.c"))


def test_an_index_that_never_covers_the_symbol_is_a_retryable_refusal(
    tmp_path: Path, run_json, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 19, C renames under load): with the index not covering the file that defines
    the symbol, lanser asked the rename anyway once progress reports went quiet, and an answer
    missing whole files was called complete.  Now: E/LS_TIMEOUT, retryable, the uncovered file
    named, the rename never asked and nothing written."""
    from lanser.lsp.registry import _clangd

    real = _clangd()
    overrides = tmp_path / "overrides.json"
    overrides.write_text(
        json.dumps(
            {
                "c": {
                    "name": real.name,
                    "version": real.version,
                    "needs_index": True,
                    "command": [sys.executable, str(PROXY), "--", *real.command],
                }
            }
        )
    )
    monkeypatch.setenv("LANSER_SERVER_OVERRIDES", str(overrides))
    ws = make_repo(tmp_path / "ws")
    before = snapshot(ws)
    code, b = run_json("-w", str(ws), "--timeout", "5", "rename", "c://lib.c#old_fn", "new_fn", "--apply")
    assert code == 64, b
    err = b["error"]
    assert err["code"] == "E/LS_TIMEOUT" and err["retryable"] is True
    assert err["details"]["uncovered"] == ["lib.c"] and err["details"]["method"] == "workspace/symbol"
    assert "old_fn" in err["message"] and "retry" in err["message"]
    assert snapshot(ws) == before
