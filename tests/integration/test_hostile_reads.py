"""Hostile workspaces (issue 17): reads through symlinks, BOM, CRLF and non-UTF-8 files.

A workspace is attacker-written.  A symlink inside it may point at a host
file; no selector kind (symbol, AST, anchor, C path, ``file://``), no
module lookup, re-export or moved-file search may return that file's
content: the read is refused with E/FS_PERMISSIONS (71) or the file is
skipped by a search.  Symlinks that stay inside the workspace still work.

Renames on files with a UTF-8 BOM, CRLF line ends or Latin-1 bytes go
through the real servers (basedpyright, clangd) and must write exactly the
new name, or be refused without writing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

SECRET = "hunter2-host-only"


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """A workspace whose symlinks lead to a sentinel directory beside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f'SECRET_TOKEN = "{SECRET}"\n\n\ndef secret_fn():\n    return SECRET_TOKEN\n')
    (outside / "secret.c").write_text(f'const char *secret_token = "{SECRET}";\n')
    (outside / "pkgdir").mkdir()
    (outside / "pkgdir" / "__init__.py").write_text(f'SECRET_TOKEN = "{SECRET}"\n')
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "leak.py").symlink_to("../outside/secret.py")
    (ws / "leak.c").symlink_to("../outside/secret.c")
    (ws / "sub").symlink_to("../outside/pkgdir")
    (ws / "m.py").write_text("def f():\n    return 1\n")
    (ws / "alias.py").symlink_to("m.py")  # inside -> inside: fine
    (ws / "pkg").mkdir()
    (ws / "pkg" / "__init__.py").write_text("from leak import SECRET_TOKEN\n")
    (ws / "moved").mkdir()
    return ws


def _refused(code: int, out: dict[str, Any]) -> None:
    assert SECRET not in json.dumps(out), out
    assert code == 71, out
    assert out["error"]["code"] == "E/FS_PERMISSIONS"
    assert "outside the workspace" in out["error"]["message"]


@pytest.mark.parametrize("selector", [
    "py://leak#SECRET_TOKEN",
    "py://leak#secret_fn:body",
    "py://sub#SECRET_TOKEN",
    "py://pkg#SECRET_TOKEN",  # a re-export followed into the symlink
    "ast://[module=leak]/[var=SECRET_TOKEN]",
    "ast://[file=leak.py]/[def=secret_fn]",
    "ast://[module=sub]/[var=SECRET_TOKEN]",
    'anchor://leak.py#"SECRET_TOKEN"',
    "c://leak.c#secret_token",
    "file://leak.py",
    "leak.py@L1:C1",
    "sub/__init__.py",
])
def test_no_selector_reads_through_a_symlink_out_of_the_workspace(jail: Path, run_json, selector: str) -> None:
    """Issue 17 finding 6: `locate 'py://leak#SECRET_TOKEN'` returned the host file's line in its preview."""
    code, out = run_json("-w", str(jail), "locate", selector)
    _refused(code, out)


def test_a_moved_file_search_skips_files_outside_the_workspace(jail: Path, run_json) -> None:
    """An anchor whose file moved is searched in files of the same name: never in one outside the jail."""
    code, out = run_json("-w", str(jail), "locate", 'anchor://old/leak.py#"SECRET_TOKEN"')
    assert SECRET not in json.dumps(out), out
    assert code == 3 and out["error"]["code"] == "E/NOT_FOUND", out


def test_symbols_and_minting_refuse_a_file_outside(jail: Path, run_json) -> None:
    for args in (("symbols", "leak.py"), ("symbols", "sub/__init__.py")):
        code, out = run_json("-w", str(jail), *args)
        _refused(code, out)


def test_symlinks_that_stay_inside_still_resolve(jail: Path, run_json) -> None:
    code, out = run_json("-w", str(jail), "locate", "py://alias#f")
    assert code == 0, out
    assert out["facts"]["location"]["preview"].startswith("def f()")
