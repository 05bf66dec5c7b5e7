"""tree-sitter adapters per language: definitions, role ranges, fingerprints."""

from __future__ import annotations

from lanser.syntax.model import SymbolDef, symbol_id, syntax_bytes, to_codepoints

__all__ = ["SymbolDef", "definitions", "symbol_id", "syntax_bytes", "to_codepoints"]


def definitions(language: str, data: bytes) -> list[SymbolDef]:
    """Every definition tree-sitter finds in ``data``, in source order.

    Rows are those of :func:`syntax_bytes` (``data`` with lone CRs as LFs),
    so split that, not ``data``, to index them.
    """
    data = syntax_bytes(data)
    if language == "python":
        from lanser.syntax import python

        return python.symbols(python.parse(data))
    from lanser.syntax import c

    return c.symbols(c.parse(data))
