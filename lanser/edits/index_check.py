"""Is clangd's index ready for a rename?  Confirmed by asking the index, not by waiting a while.

clangd's rename finds the references in other files through its index
(the files it has open, and its background index of the compilation
database).  Waiting for its progress reports to go quiet is a guess: under
load the background index may not have announced its work yet, and a
rename asked then leaves whole files unedited.  So before a C rename lanser
asks the index itself: ``workspace/symbol`` for the old name must list a
symbol of exactly that name in every file that defines it (tree-sitter:
a file-scope definition outside any preprocessor branch, in a file lanser
has opened on the server; the declarations when nothing defines it).
Until it does, lanser asks again; past the timeout the rename is refused
with ``E/LS_TIMEOUT`` (retryable), never attempted against an index that
does not know the symbol.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lanser.errors import FsPermissions, LsTimeout

if TYPE_CHECKING:
    from lanser.edits.completeness import Occurrence
    from lanser.lsp.session import LspSession

__all__ = ["confirm_index", "defining_files"]

#: Seconds between two questions to the index while it catches up.
_POLL = 0.25
_DEFINES = {"function", "variable", "enumerator", "struct", "union", "enum", "typedef"}


def defining_files(scans: Mapping[str, tuple[Sequence[Occurrence], Sequence[str]]], name: str) -> list[str]:
    """Files that define ``name`` at file scope (tree-sitter, every preprocessor branch); when none
    does, those that declare it (a prototype, an ``extern``)."""
    from lanser.syntax import c

    defines: set[str] = set()
    declares: set[str] = set()
    for rel, (occs, lines) in scans.items():
        plain = {(o.line, o.col) for o in occs if o.kind == "code" and not o.member}
        if not plain:
            continue
        data = "\n".join(lines).encode("utf-8")
        text_lines = data.split(b"\n")
        for d in c.symbols(c.parse(data)):
            if d.qualname != name:
                continue
            row, byte_col = d.name[0]
            col = len(text_lines[row][:byte_col].decode("utf-8", "replace")) if row < len(text_lines) else byte_col
            if (row, col) not in plain:
                continue
            # `extern T name;` declares a variable defined elsewhere: the index lists the definition.
            extern = d.kind == "variable" and row < len(lines) and re.search(r"\bextern\b", lines[row][:col])
            (defines if d.kind in _DEFINES and not extern else declares).add(rel)
    return sorted(defines or declares)


async def confirm_index(
    s: LspSession,
    scans: Mapping[str, tuple[Sequence[Occurrence], Sequence[str]]],
    name: str,
    timeout: float,
    rel_of_uri: Callable[[str], str],
) -> dict[str, Any]:
    """Wait until the server's index lists ``name`` in every file that defines it (and that is open
    on the server); the files confirmed and the questions it took.  LsTimeout past ``timeout``."""
    from lsprotocol import types as lsp

    # Only where the file's own parse (its document symbols: no index involved) has the symbol:
    # a definition in a branch the configuration leaves out is in no index, ever.
    want = set()
    for rel in defining_files(scans, name):
        doc = s.documents.get(rel)
        if doc is None:
            continue
        raw = await s.request(
            "textDocument/documentSymbol",
            lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=doc.uri)),
            timeout=timeout,
        )
        if _names(s.to_data(raw)) & {name}:
            want.add(rel)
    if not want:
        return {"files": [], "asked": 0}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    asked = 0
    while True:
        raw = await s.request("workspace/symbol", lsp.WorkspaceSymbolParams(query=name), timeout=timeout)
        asked += 1
        found = set()
        for item in s.to_data(raw) or []:
            if not isinstance(item, dict) or item.get("name") != name:
                continue
            uri = (item.get("location") or {}).get("uri")
            try:
                found.add(rel_of_uri(uri)) if isinstance(uri, str) else None
            except FsPermissions:
                continue
        missing = want - found
        if not missing:
            return {"files": sorted(want), "asked": asked}
        if loop.time() >= deadline:
            raise LsTimeout(
                f"{s.spec.name}'s index does not list {name!r} in {', '.join(sorted(missing))} (where it is "
                f"defined) after {timeout:g}s: the rename was not asked of an index that does not cover the "
                "project; retry once indexing has caught up",
                server=s.spec.name,
                method="workspace/symbol",
                timeout=timeout,
                uncovered=sorted(missing),
            )
        await asyncio.sleep(min(_POLL, max(0.0, deadline - loop.time())))


def _names(symbols: Any) -> set[str]:
    """Every name in a documentSymbol answer (DocumentSymbol trees or SymbolInformation lists)."""
    out: set[str] = set()
    stack = list(symbols) if isinstance(symbols, list) else []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("name"), str):
                out.add(item["name"])
            stack.extend(item.get("children") or [])
    return out
