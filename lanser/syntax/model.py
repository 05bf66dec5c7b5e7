"""What the syntax adapters report: definitions with role ranges (pure data).

Points are ``(line, column)`` with the column in UTF-8 bytes, as
tree-sitter gives them; :func:`to_codepoints` converts for the rest of
lanser, which counts code points.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Point",
    "Span",
    "SymbolDef",
    "node_span",
    "node_text",
    "span_between",
    "symbol_id",
    "syntax_bytes",
    "to_codepoints",
]

_LONE_CR = re.compile(rb"\r(?!\n)")


def syntax_bytes(data: bytes) -> bytes:
    """``data`` as the syntax layer parses it: each lone CR (a line break to LSP, not to
    tree-sitter, whose rows end at LF only) becomes an LF.  Byte for byte, so offsets and
    columns are unchanged and tree-sitter's rows are LSP's lines; a CRLF stays as it is."""
    return _LONE_CR.sub(b"\n", data) if b"\r" in data else data


Point = tuple[int, int]
Span = tuple[Point, Point]


@dataclass(frozen=True)
class SymbolDef:
    """One definition in one file."""

    qualname: str  # dotted: Class.method, or struct.field in C
    kind: str  # class, function, method, property, variable, struct, union, enum, typedef, macro
    name: Span  # the identifier
    roles: dict[str, Span] = field(default_factory=dict)  # def, sig, body, doc
    signature: str = ""  # normalised signature text
    decorators: tuple[str, ...] = ()
    node_type: str = ""

    @property
    def short(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


def symbol_id(language: str, module: str, sym: SymbolDef, overload: int | None = None) -> str:
    """Structural fingerprint: kind, qualified name and normalised signature.

    Independent of where the definition sits in its file, so it survives
    edits elsewhere; changes when the symbol's own signature changes.
    """
    sig = re.sub(r"\s+", " ", sym.signature).strip()
    raw = f"{language}\0{module}\0{sym.kind}\0{sym.qualname}\0{sig}\0{overload if overload is not None else ''}"
    return "sym:" + hashlib.sha256(raw.encode()).hexdigest()[:20]


def to_codepoints(lines: list[bytes], point: Point) -> tuple[int, int]:
    row, col = point
    if row >= len(lines):
        return row, 0
    return row, len(lines[row][:col].decode("utf-8", "replace"))


def node_span(node: Any) -> Span:
    """A tree-sitter node's (start, end) points."""
    return (tuple(node.start_point), tuple(node.end_point))


def span_between(first: Any, last: Any) -> Span:
    """From ``first``'s start to ``last``'s end (two tree-sitter nodes)."""
    return (tuple(first.start_point), tuple(last.end_point))


def node_text(node: Any) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""
