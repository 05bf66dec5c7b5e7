"""Python rename through a ``.pyi`` stub beside the module: the stub's declaration is renamed with it.

basedpyright treats a symbol in ``x.py`` and its declaration in ``x.pyi``
as two symbols: every import of the name resolves to the stub, so the
server's rename of the ``.py`` symbol leaves the stub and every user of the
package (``from attr import astuple``, ``mi.divide(...)`` in the tests)
alone.  The stub is the package's own declaration of the same runtime
object, so a complete rename renames it too.

*Companion* stub declarations are found without the server:

- the stub beside a file that defines the renamed symbol (``more.py`` ->
  ``more.pyi``) declaring the same qualified name (``divide``,
  ``Class.member``); renamed from the stub, the module beside it;
- the stub beside a module the rename edits at module scope, i.e. one that
  re-exports the symbol (``attr/__init__.py``: ``from ._funcs import
  astuple``, and ``attr/__init__.pyi`` declaring ``astuple``).

Each one is renamed by the server at its declaration (references and all),
and its declarations join the renamed symbol's: an occurrence that resolves
to a stub declaration the merged edit leaves is *unexplained*, and a stub
the server will not rename whole (a declaration of it left) refuses the
rename.  Pure helpers here; :func:`rename_stubs` asks the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanser.bundle.models import Bundle
    from lanser.commands.context import Context
    from lanser.lsp.session import LspSession

__all__ = ["Companion", "StubRename", "companions", "declarations", "definition_at", "module_level", "rename_stubs"]

Read = Callable[[str], "bytes | None"]


@dataclass(frozen=True)
class Companion:
    """A stub declaring the renamed symbol under ``qualname``, at these (line, code point column)s."""

    stub: str
    qualname: str
    decls: tuple[tuple[int, int], ...]


@dataclass
class StubRename:
    """The stubs' edits and references, their declarations (server locations) and what could not be renamed."""

    edits: list[dict[str, Any]] = field(default_factory=list)
    refs: list[Any] = field(default_factory=list)
    decls: list[tuple[str, int, int]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    stubs: list[str] = field(default_factory=list)
    #: Kinds of the renamed symbol's Python definitions (function, method, class, variable, ...).
    kinds: set[str] = field(default_factory=set)


def _lines(data: bytes) -> list[bytes]:
    from lanser.syntax import syntax_bytes

    return syntax_bytes(data).split(b"\n")


def definition_at(data: bytes, line: int, col: int) -> str | None:
    """The qualified name of the Python definition whose name starts at (line, code point column)."""
    found = kind_at(data, line, col)
    return found[0] if found else None


def kind_at(data: bytes, line: int, col: int) -> tuple[str, str] | None:
    """(qualified name, kind) of the Python definition whose name starts at (line, code point column)."""
    from lanser.syntax import definitions, to_codepoints

    lines = _lines(data)
    for d in definitions("python", data):
        if to_codepoints(lines, d.name[0]) == (line, col):
            return d.qualname, d.kind
    return None


def declarations(data: bytes, qualname: str) -> list[tuple[int, int]]:
    """(line, code point column) of every definition of ``qualname`` in a stub (overloads: each one)."""
    from lanser.syntax import definitions, to_codepoints

    lines = _lines(data)
    return sorted({to_codepoints(lines, d.name[0]) for d in definitions("python", data) if d.qualname == qualname})


def module_level(data: bytes, line: int, col: int) -> bool:
    """Whether the Python code at (line, code point column) is a module-level statement (no def or class)."""
    from lanser.syntax import python as grammar
    from lanser.syntax import syntax_bytes

    data = syntax_bytes(data)
    lines = data.split(b"\n")
    if line >= len(lines):
        return False
    byte_col = len(lines[line].decode("utf-8", "replace")[:col].encode("utf-8"))
    node = grammar.parse(data).root_node.descendant_for_point_range((line, byte_col), (line, byte_col))
    while node is not None:
        if node.type in ("function_definition", "class_definition", "lambda"):
            return False
        node = node.parent
    return True


def companions(
    defined: Iterable[tuple[str, str]], edited: Iterable[tuple[str, int, int]], name: str, files: set[str], read: Read
) -> list[Companion]:
    """The stubs that declare the renamed symbol.

    ``defined``: (path, qualified name) of the symbol's definitions in ``.py`` files (or in a stub:
    then the module beside it is the companion); ``edited``:
    (path, line, code point column) of the rename's edits in ``.py`` files; ``files``: the
    workspace's files; ``read``: a file's bytes (None when it may not be read).
    """
    wanted: dict[str, set[str]] = {}
    for rel, qualname in defined:
        # Either way round: renamed from the stub, the module beside it is the companion.
        other = rel + "i" if rel.endswith(".py") else rel[:-1] if rel.endswith(".pyi") else None
        if other is not None and other in files:
            wanted.setdefault(other, set()).add(qualname)
    for rel, line, col in edited:
        stub = rel + "i"
        if not rel.endswith(".py") or stub not in files or name in wanted.get(stub, set()):
            continue
        data = read(rel)
        if data is not None and module_level(data, line, col):
            wanted.setdefault(stub, set()).add(name)  # a module-level re-export: the stub declares the name
    out = []
    for stub, qualnames in sorted(wanted.items()):
        data = read(stub)
        if data is None:
            continue
        for qualname in sorted(qualnames):
            decls = declarations(data, qualname)
            if decls:
                out.append(Companion(stub, qualname, tuple(decls)))
    return out


async def rename_stubs(
    ctx: Context, bundle: Bundle, edit: dict[str, Any], symbol: list[Any], encoding: str, name: str, new_name: str
) -> StubRename:
    """Rename the companion stubs' declarations with the server (see the module docstring)."""
    from lsprotocol import types as lsp

    from lanser.edits.completeness import Occurrence, describe, owned
    from lanser.edits.witness import _edit_starts, _server_view
    from lanser.errors import FsPermissions
    from lanser.text import convert_column, from_lsp_encoding

    enc = from_lsp_encoding(encoding)
    root = ctx.root.resolve()
    files = set(owned(ctx.workspace.files((".py", ".pyi"))))
    cache: dict[str, bytes | None] = {}

    def read(rel: str) -> bytes | None:
        if rel not in cache:
            path = ctx.root / rel
            try:
                ok = rel in files and not path.is_symlink() and path.resolve().is_relative_to(root)
                cache[rel] = _server_view(path.read_bytes()) if ok else None  # the jail: never through a link
            except (OSError, ValueError):
                cache[rel] = None
        return cache[rel]

    def text_lines(rel: str) -> list[str]:
        data = read(rel)
        return data.decode("utf-8", "replace").split("\n") if data is not None else []

    def to_cp(rel: str, line: int, col: int) -> int:
        lines = text_lines(rel)
        return convert_column(lines[line], col, enc, "codepoint", strict=False) if line < len(lines) else col

    def to_server(rel: str, line: int, col: int) -> int:
        lines = text_lines(rel)
        return convert_column(lines[line], col, "codepoint", enc, strict=False) if line < len(lines) else col

    defined = []
    out = StubRename()
    for uri, line, col in symbol:
        try:
            rel = ctx.rel_of_uri(uri)
        except FsPermissions:
            continue
        data = read(rel) if rel.endswith((".py", ".pyi")) else None
        found_def = kind_at(data, line, to_cp(rel, line, col)) if data is not None else None
        if found_def:
            defined.append((rel, found_def[0]))
            out.kinds.add(found_def[1])
    starts = _edit_starts(edit, ctx.rel_of_uri)
    edited = [(rel, line, to_cp(rel, line, col)) for rel, line, col in starts if rel.endswith(".py")]
    found = [
        c
        for c in companions(defined, edited, name, files, read)
        if not all((c.stub, ln, to_server(c.stub, ln, col)) in starts for ln, col in c.decls)
    ]
    if not found:
        return out

    async def op(s: LspSession) -> list[tuple[str, Any, Any]]:
        answers = []
        for c in found:
            doc = s.documents.get(c.stub) or s.sync_document(c.stub, "python")
            ident = lsp.TextDocumentIdentifier(uri=doc.uri)
            line, col = c.decls[0]
            pos = lsp.Position(line=line, character=to_server(c.stub, line, col))
            more = await s.request(
                "textDocument/rename",
                lsp.RenameParams(text_document=ident, position=pos, new_name=new_name),
                timeout=ctx.timeout,
            )
            refs = await s.request(
                "textDocument/references",
                lsp.ReferenceParams(
                    text_document=ident, position=pos, context=lsp.ReferenceContext(include_declaration=True)
                ),
                timeout=ctx.timeout,
            )
            answers.append((doc.uri, s.to_data(more) if more else None, s.to_data(refs) if refs else []))
        return answers

    answers = await ctx.call("python", op, bundle)
    for c, (uri, more, refs) in zip(found, answers, strict=False):
        out.stubs.append(c.stub)
        covered = _edit_starts(more, ctx.rel_of_uri) if more else set()
        out.decls += [(uri, ln, to_server(c.stub, ln, col)) for ln, col in c.decls]
        left = [(ln, col) for ln, col in c.decls if (c.stub, ln, to_server(c.stub, ln, col)) not in covered]
        if more and not left:
            out.edits.append(more)
            out.refs += list(refs or [])
            continue
        lines = text_lines(c.stub)
        for ln, col in left or list(c.decls):
            occ = Occurrence(c.stub, ln, col, "code")
            out.problems.append(
                describe(occ, "stub", lines[ln] if ln < len(lines) else "")
                | {
                    "reason": f"the stub {c.stub} declares {c.qualname}, and the server's rename of it "
                    + ("leaves this declaration" if more else "proposes no edit")
                    + ": the stub cannot be renamed with the module"
                }
            )
    return out
