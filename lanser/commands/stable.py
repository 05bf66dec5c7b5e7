"""Keeping basedpyright's reference lists a function of the files, not of the session's history.

basedpyright parses a string annotation (``t.cast("Context", x)``,
``def f() -> "Context"``) only when it evaluates it: while checking a file
that is open, or a declaration the check of another file needed.  A name
inside such a string is a reference once parsed and invisible before, so a
warm daemon that had opened ``globals.py`` for a rename answered 156
references to ``Context`` where a fresh process answered 155 (issue 20).

So before references are asked, every file that has the name inside a
string literal (and the file asked about) is checked: its diagnostics pulled,
once per version.  Every string that can hold a reference has then been
parsed, whatever the session did before, and the list is the same for a warm
daemon and a fresh process; it is also the complete one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanser.lsp.session import Document, LspSession

__all__ = ["check_quoted", "ensure_checked"]


async def ensure_checked(s: LspSession, doc: Document, timeout: float) -> None:
    """Pull ``doc``'s diagnostics once per version: basedpyright has then evaluated its strings."""
    if doc.checked == doc.version:
        return
    await s.diagnostics(doc, timeout)
    doc.checked = doc.version


async def check_quoted(s: LspSession, ws: Any, name: str, timeout: float) -> None:
    """Check every Python file of ``ws`` that has ``name`` inside a quoted string (see above)."""
    import re

    from lanser.lsp.registry import language_of

    if not name.isidentifier():
        return
    quoted = re.compile(r"[\"'][^\"'\n]*\b" + re.escape(name) + r"\b")
    needle = name.encode()
    for rel in ws.files((".py", ".pyi")):
        try:
            data = ws.read_bytes(rel)
        except Exception:  # unreadable or outside the jail: never searched
            continue
        if needle not in data or not quoted.search(data.decode("utf-8", "replace")):
            continue
        doc = s.documents.get(rel)
        if doc is None or doc.checked != doc.version:
            doc = s.sync_document(rel, language_of(rel))
            await ensure_checked(s, doc, timeout)
