"""Minting: the selectors lanser hands out for one definition.

A minted selector is unique where it is made: resolved now
(:func:`lanser.resolve.resolve_target`) it lands on this very definition,
never on an :class:`~lanser.errors.Ambiguous` tie.

* ``symbol`` -- ``py://pkg.mod#Q.name`` / ``c://path#name``, with
  ``?overload=<i>`` when the qualname is defined more than once in the file;
  ``i`` is the index :mod:`lanser.selectors.structural` picks by (its
  ``@overload`` pool for typed overloads, else source order).  An
  ``@overload`` implementation is named without the index, the only way the
  resolver reaches it.
* ``ast`` -- ``ast://[module=pkg.mod]/[class=C]/[def=m]`` (``[file=..]`` when
  the module name would not lead back to this file; C always uses
  ``[file=..]``); the last step's kind is chosen among those admitting the
  definition's kind so that it is the only candidate of that kind.
* ``anchor`` -- the definition's first line (from ``def``/``class`` in
  Python, decorators excluded; the declaration's start in C), stripped of
  leading whitespace, extended with the following lines until the text
  occurs once in the file (at most :data:`ANCHOR_MAX_LINES` lines, then the
  shortest unique prefix of the rest of the file).
* ``cursor`` -- ``path@L<line>:C<col>`` on the name, 1-based, UTF-16 columns
  (resolve it with ``--index-io utf-16``).

A kind is left out when no selector of that kind can name the definition
(an AST path has no index, so it cannot tell apart two same-kind
definitions of one qualname; a symbol selector cannot reach a second
``@overload`` implementation).  Pure apart from reading the file through
the :class:`~lanser.workspace.Workspace`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lanser.errors import BadSelectorSyntax, NotFound
from lanser.selectors.parse import format_selector, parse_selector
from lanser.selectors.spec import AnchorSpec, AstSpec, CursorSpec, SymbolSpec
from lanser.selectors.structural import _AST_KINDS, _disambiguate_same_name, python_module_files
from lanser.syntax import SymbolDef, definitions, syntax_bytes, to_codepoints
from lanser.text import convert_column, document_bytes, document_text, split_lines

if TYPE_CHECKING:
    from lanser.workspace import Workspace

__all__ = ["ANCHOR_MAX_LINES", "mint", "mint_at"]

#: Lines an anchor may grow to before it is cut to its shortest unique prefix.
ANCHOR_MAX_LINES = 8
#: AST step kinds to try for each definition kind, preferred first.
_PY_STEPS = {
    "class": ("class",),
    "function": ("def", "function"),
    "method": ("def", "method"),
    "property": ("def", "method"),
    "variable": ("var",),
}
_C_STEPS = {
    "function": ("function",),
    "prototype": ("function",),
    "struct": ("struct",),
    "union": ("union",),
    "enum": ("enum",),
    "typedef": ("typedef",),
    "macro": ("macro",),
    "variable": ("var",),
    "field": ("field",),
    "enumerator": ("field",),
}


def mint(ws: Workspace, path: str, sym: SymbolDef, language: str) -> dict[str, str]:
    """Canonical ``symbol``, ``ast``, ``anchor`` and ``cursor`` selectors for ``sym`` in ``path``."""
    language = "python" if language in ("python", "py") else "c"
    rel = ws.rel(path)
    data = document_bytes(ws.read_bytes(rel))
    defs = definitions(language, data)
    return _mint(ws, rel, data, defs, _find(defs, sym, rel), language)


def mint_at(ws: Workspace, path: str, line: int, col: int) -> dict[str, str]:
    """Mint for the innermost definition whose name holds ``(line, col)`` (0-based, code points)."""
    from lanser.lsp.registry import language_of

    rel = ws.rel(path)
    language = language_of(rel)
    if language not in ("python", "c"):
        raise NotFound(f"lanser mints selectors for Python and C files, not {language}", path=rel)
    data = document_bytes(ws.read_bytes(rel))
    defs = definitions(language, data)
    lines = syntax_bytes(data).split(b"\n")  # definitions' rows: lone CRs count as line breaks
    hits = [d for d in defs if to_codepoints(lines, d.name[0]) <= (line, col) <= to_codepoints(lines, d.name[1])]
    if not hits:
        raise NotFound(f"no definition's name at {rel}:{line + 1}:{col + 1}", path=rel, line=line, col=col)
    sym = max(hits, key=lambda d: d.name[0])
    return _mint(ws, rel, data, defs, sym, language)


def _find(defs: list[SymbolDef], sym: SymbolDef, rel: str) -> SymbolDef:
    for d in defs:
        if d.qualname == sym.qualname and d.name == sym.name:
            return d
    raise NotFound(f"{sym.qualname} is not defined at line {sym.name[0][0] + 1} of {rel}", path=rel)


def _mint(ws: Workspace, rel: str, data: bytes, defs: list[SymbolDef], sym: SymbolDef, language: str) -> dict[str, str]:
    text = document_text(data)
    same = [d for d in defs if d.qualname == sym.qualname]
    module = _module_of(ws, rel) if language == "python" else None
    out: dict[str, str] = {}
    if (symbol := _symbol(rel, module, language, same, sym)) is not None:
        out["symbol"] = symbol
    if (ast := _ast(rel, module, language, defs, same, sym)) is not None:
        out["ast"] = ast
    lines = syntax_bytes(data).split(b"\n")
    first, name = to_codepoints(lines, sym.roles["sig"][0]), to_codepoints(lines, sym.name[0])
    if (anchor := _anchor(rel, text, first[0], name[0])) is not None:
        out["anchor"] = anchor
    line_text = split_lines(text)[name[0]]
    col16 = convert_column(line_text, name[1], "codepoint", "utf-16")
    out["cursor"] = format_selector(CursorSpec(path=rel, line=name[0] + 1, col=col16 + 1))
    return out


def _module_of(ws: Workspace, rel: str) -> str | None:
    """The dotted module whose first file (as the resolver looks them up) is ``rel``."""
    stem = re.sub(r"\.pyi?$", "", rel)
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    tries = [parts[1:], parts] if parts and parts[0] in ("src", "lib") else [parts]
    for p in tries:
        if p and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", x) for x in p):
            module = ".".join(p)
            if python_module_files(module, ws)[:1] == [rel]:
                return module
    return None


def _picked(language: str, same: list[SymbolDef], overload: int | None) -> list[SymbolDef]:
    """The exact matches ``structural._symbol_candidates`` keeps for ``?overload`` (None: absent)."""
    if language == "c" and any(d.kind == "function" for d in same):
        # As the resolver: a C function's definition hides its prototypes in the same file.
        same = [d for d in same if d.kind != "prototype"]
    if language == "python" and len(same) > 1:
        try:
            return _disambiguate_same_name(same, overload, same[0].qualname)
        except NotFound:
            return []
    return same[overload : overload + 1] if overload is not None else same


def _symbol(rel: str, module: str | None, language: str, same: list[SymbolDef], sym: SymbolDef) -> str | None:
    if language == "python" and module is None:
        return None
    # Plain when unique; else the index the resolver maps to this definition, else plain if that picks it.
    choices: list[int | None] = [None] if len(same) == 1 else [*range(len(same)), None]
    for overload in choices:
        picked = _picked(language, same, overload)
        if len(picked) == 1 and picked[0] is sym:
            spec = SymbolSpec(
                language="py" if language == "python" else "c",
                module=module if language == "python" else rel,  # type: ignore[arg-type]
                qualname=sym.qualname,
                overload=overload,
            )
            return _canonical(format_selector(spec))
    return None


def _ast(
    rel: str, module: str | None, language: str, defs: list[SymbolDef], same: list[SymbolDef], sym: SymbolDef
) -> str | None:
    table = _PY_STEPS if language == "python" else _C_STEPS
    pool = _picked(language, same, None)
    last = next((k for k in table.get(sym.kind, ()) if _only(d for d in pool if d.kind in _AST_KINDS[k]) is sym), None)
    if last is None:
        return None
    steps = [("module", module) if module is not None else ("file", rel)]
    parts = sym.qualname.split(".")
    for i in range(1, len(parts)):
        outer = [
            d
            for d in defs
            if d.qualname == ".".join(parts[:i])
            and d.kind in table
            and d.roles["def"][0] <= sym.name[0] < d.roles["def"][1]
        ]
        kind = outer[-1].kind if outer else ("class" if language == "python" else "struct")
        steps.append((table.get(kind, ("class",))[0], parts[i - 1]))
    steps.append((last, parts[-1]))
    return _canonical(format_selector(AstSpec(steps=tuple(steps))))


def _anchor(rel: str, text: str, first: int, name_line: int) -> str | None:
    """Anchor from line ``first``'s first non-blank character, covering at least line ``name_line``."""
    breaks = list(re.finditer(r"\r\n|\n|\r", text))
    starts, ends = [0] + [m.end() for m in breaks], [m.start() for m in breaks] + [len(text)]
    if first >= len(starts):
        return None
    line = text[starts[first] : ends[first]]
    off = starts[first] + len(line) - len(line.lstrip())
    shorter = ""
    for row in range(max(name_line, first), len(ends)):
        snippet = text[off : ends[row]].rstrip()
        if not snippet or snippet == shorter:
            continue
        if _unique(text, snippet, off):
            if row - first >= ANCHOR_MAX_LINES and shorter:
                # Past the limit: the shortest unique prefix, cut inside the last line.
                snippet = next(
                    (
                        snippet[:n]
                        for n in range(len(shorter) + 1, len(snippet))
                        if not snippet[n - 1].isspace() and _unique(text, snippet[:n], off)
                    ),
                    snippet,
                )
            return _canonical(format_selector(AnchorSpec(path=rel, snippet=snippet)))
        shorter = snippet
    return None


def _only(items: Iterable[SymbolDef]) -> SymbolDef | None:
    found = list(items)
    return found[0] if len(found) == 1 else None


def _unique(text: str, snippet: str, off: int) -> bool:
    """Whether the resolver's exact search (non-overlapping, left to right) finds ``snippet`` only at ``off``."""
    return text.find(snippet) == off and text.find(snippet, off + len(snippet)) < 0


def _canonical(selector: str) -> str | None:
    """``selector`` if it parses back to itself (a qualname with non-ASCII letters does not)."""
    try:
        return selector if format_selector(parse_selector(selector)) == selector else None
    except BadSelectorSyntax:
        return None
