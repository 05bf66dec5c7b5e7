"""The rename's second witness: every occurrence of the old name, and what the server says of each.

Used by :mod:`lanser.commands.rename`; the pure rules
live in :mod:`lanser.edits.completeness` and :mod:`lanser.edits.overrides`,
this module does the reading and the asking: it scans the project's files,
opens those holding the old name on the server (so its include settings
and a warm daemon's history do not change the answer), resolves each
occurrence the edit leaves with go-to-definition, resolves base classes
the overrides check cannot match by name, and finds the C preprocessor
branches and ``#define`` bodies lanser may edit itself.  The contract is
in docs/rename.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from lanser.bundle.models import Bundle
from lanser.edits.completeness import Occurrence, Verdict, describe, judge, owned, scan
from lanser.edits.plan import uri_path
from lanser.errors import FsPermissions
from lanser.text import convert_column

if TYPE_CHECKING:
    from lanser.commands.context import Context
    from lanser.edits.overrides import Method
    from lanser.lsp.session import LspSession

__all__ = [
    "branch_occurrences",
    "find_override_family",
    "judge_rename",
    "open_mentioning",
    "resolve_occurrences",
    "scan_project",
]


def scan_project(ctx: Context, language: str, name: str) -> dict[str, tuple[list[Occurrence], list[str]]]:
    """Occurrences of ``name`` in every project file of ``language``, with each file's lines."""
    from lanser.lsp.registry import LANGUAGE_OF_SUFFIX

    suffixes = tuple(x for x, lang in LANGUAGE_OF_SUFFIX.items() if lang == language)
    raw = name.encode("utf-8")
    root = ctx.root.resolve()
    out: dict[str, tuple[list[Occurrence], list[str]]] = {}
    for rel in owned(ctx.workspace.files(suffixes)):
        path = ctx.root / rel
        try:
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                continue  # the jail: never read through a link
            data = path.read_bytes()
        except (OSError, ValueError):
            continue
        if raw not in data:
            continue
        found = scan(language, rel, data, name)
        if found:
            out[rel] = (found, _server_view(data).decode("utf-8", "replace").split("\n"))
    return out


async def open_mentioning(ctx: Context, s: LspSession, target: Any, scans: dict[str, Any]) -> list[str]:
    """Open every file mentioning the old name that the server has not open; returns those opened.

    Then the rename's answer does not depend on the server's include settings or on what a
    warm daemon happened to open before: the same files are open, warm or cold.  clangd's
    answer for an open file comes from that file's own parse, not from the background
    index, so its readiness is confirmed (its diagnostics published) rather than timed.
    """
    opened: list[str] = []
    for rel in sorted(scans):
        if rel in s.documents:
            s.sync_document(rel, target.language)  # a warm server gets what is on disk now
            continue
        if len(opened) >= _MAX_OPEN:
            continue
        s.sync_document(rel, target.language)
        opened.append(rel)
    if s.spec.needs_index:
        for rel in opened:
            await s.diagnostics(s.documents[rel], ctx.timeout)
    else:
        # basedpyright renames a name inside a string (t.cast("Shape", x)) only in files it has
        # checked: check them all, or the edit depended on what the session checked before (issue 20).
        from lanser.commands.stable import ensure_checked

        for rel in sorted(scans):
            if rel in s.documents:
                await ensure_checked(s, s.documents[rel], ctx.timeout)
    return opened


async def resolve_occurrences(
    ctx: Context,
    s: LspSession,
    language: str,
    scans: dict[str, tuple[list[Occurrence], list[str]]],
    edit: dict[str, Any],
    opened: list[str],
) -> dict[tuple[str, int, int], list[Any]]:
    """Where the server says each code occurrence the edit does not touch is defined."""
    from lanser.text import from_lsp_encoding

    enc = from_lsp_encoding(s.position_encoding)
    edited = _edit_starts(edit, ctx.rel_of_uri)
    asks: list[tuple[tuple[str, int, int], str]] = []
    for rel, (occs, lines) in sorted(scans.items()):
        for o in occs:
            if o.kind in ("string", "comment") or o.line >= len(lines):
                continue
            col = convert_column(lines[o.line], o.col, "codepoint", enc, strict=False)
            if (rel, o.line, col) in edited or len(asks) >= _MAX_RESOLVE:
                continue
            doc = s.documents.get(rel)
            if doc is None:  # past _MAX_OPEN: opened now, closed with the others
                doc = s.sync_document(rel, language)
                opened.append(rel)
            asks.append(((rel, o.line, col), doc.uri))

    async def ask(where: tuple[str, int, int], uri: str) -> list[tuple[str, int, int]]:
        raw = await s.request(
            "textDocument/definition",
            lsp.DefinitionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri),
                position=lsp.Position(line=where[1], character=where[2]),
            ),
            timeout=ctx.timeout,
        )
        return _locations(s.to_data(raw))

    out: dict[tuple[str, int, int], list[Any]] = {}
    # A few in flight at a time: the round trips overlap, the server still sees a short queue.
    for i in range(0, len(asks), _IN_FLIGHT):
        chunk = asks[i : i + _IN_FLIGHT]
        answers = await asyncio.gather(*(ask(w, u) for w, u in chunk))
        out.update({w: a for (w, _), a in zip(chunk, answers, strict=False)})
    return out


def branch_occurrences(
    ctx: Context,
    verdict: Verdict,
    server_of: dict[tuple[str, int, int], Occurrence],
    scans: dict[str, tuple[list[Occurrence], list[str]]],
    symbol: list[Any],
    edit: dict[str, Any],
    name: str,
) -> list[Occurrence]:
    """Unexplained C occurrences in preprocessor branches (and #define bodies) that provably name
    the renamed symbol.

    The symbol must be declared at file scope; the occurrence must sit in an #if/#ifdef/#else
    branch, be no member and not be shadowed in its function; and either clangd names the
    symbol there (its index lookup for inactive code) or the rename edits the same file (so
    the file uses the symbol in the configuration clangd sees).  Anything else stays
    unexplained and refuses the rename with its location.
    """
    from lanser.edits.completeness import c_branch_same_symbol, c_file_scope

    decls = []
    for uri, line, _col in symbol:
        try:
            rel = ctx.rel_of_uri(uri)
        except FsPermissions:
            return []
        occs = [o for o in (scans.get(rel) or ([], []))[0] if o.line == line]
        if not occs:
            return []
        decls.append((rel, occs[0]))
    if not decls:
        return []
    data_of: dict[str, bytes] = {}

    def data(rel: str) -> bytes:
        if rel not in data_of:
            data_of[rel] = _server_view((ctx.root / rel).read_bytes())
        return data_of[rel]

    if not all(c_file_scope(data(rel), o.line, o.col, name) for rel, o in decls):
        return []
    edited_files = {p for p, _, _ in _edit_starts(edit, ctx.rel_of_uri)}
    # A file where the name also means something else (a `static` function of its own) is no
    # place to guess: clangd's name lookup for inactive code would say "the renamed one" anyway.
    other_files = {o.path for o in verdict.other}
    out = []
    for srv, why in verdict.unexplained:
        occ = server_of[srv.where]
        if occ.path in other_files:
            continue
        if occ.kind == "macro":
            # A #define body names the symbol wherever the macro expands; clangd resolves the
            # token to it but leaves it out of its rename.  Not after `.`/`->` (a member).
            before = scans[occ.path][1][occ.line][: occ.col].rstrip()
            if why == "same" and not before.endswith((".", "->")):
                out.append(srv)
            continue
        if not occ.conditional or occ.kind != "code" or occ.member:
            continue
        if why == "unresolved" and occ.path not in edited_files:
            continue
        if c_branch_same_symbol(data(occ.path), occ, name):
            out.append(srv)
    return out


def judge_rename(
    ctx: Context,
    scans: dict[str, tuple[list[Occurrence], list[str]]],
    edit: dict[str, Any],
    defs: dict[Any, list[Any]],
    symbol: list[Any],
    encoding: str,
    name: str | None,
    keywords_other: bool = False,
) -> tuple[Verdict, dict[tuple[str, int, int], Occurrence]]:
    """The completeness verdict, positions in the server's encoding; and the way back to code points."""
    from lanser.text import from_lsp_encoding

    enc = from_lsp_encoding(encoding)
    server_of: dict[tuple[str, int, int], Occurrence] = {}
    occurrences = []
    for occs, lines in scans.values():
        for o in occs:
            col = convert_column(lines[o.line], o.col, "codepoint", enc, strict=False) if o.line < len(lines) else o.col
            srv = replace(o, col=col)
            server_of[srv.where] = o
            occurrences.append(srv)

    def where(loc: Any) -> tuple[str, int, int]:
        try:
            rel = ctx.rel_of_uri(loc[0])
        except FsPermissions:
            rel = "<outside>" + uri_path(loc[0])
        return rel, loc[1], loc[2]

    written = {o.where for o in occurrences if o.kind in ("code", "macro")}
    cache: dict[str, list[str] | None] = {}

    def names_it(loc: Any) -> bool:
        # A definition explains an occurrence only if the old name is what it defines: a
        # module named so, or a declaration with the name written there.  basedpyright answers
        # `mod.obj.old` on a dynamic attribute with `dir` or a `__getattr__`, which is no answer.
        if not name:
            return True
        rel, line, col = where(loc)
        path = uri_path(loc[0])
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if (line, col) == (0, 0) and (stem == name or (stem == "__init__" and path.rsplit("/", 2)[-2] == name)):
            return True
        if not rel.startswith("<outside>") and rel in scans:
            return (rel, line, col) in written
        lines = cache.get(path)
        if path not in cache:
            lines = cache[path] = _library_lines(path)
        if not lines or line >= len(lines):
            return False
        cp = convert_column(lines[line], col, enc, "codepoint", strict=False)
        return (
            lines[line][cp : cp + len(name)] == name
            and not lines[line][cp + len(name) : cp + len(name) + 1].isidentifier()
        )

    edited = _edit_starts(edit, ctx.rel_of_uri)
    definitions = {k: [where(d) for d in v if names_it(d)] for k, v in defs.items()}
    return judge(occurrences, edited, definitions, {where(d) for d in symbol}, keywords_other), server_of


async def find_override_family(
    ctx: Context, edit: dict[str, Any], bundle: Bundle
) -> tuple[list[Method], list[dict[str, Any]]]:
    """Overrides of (or overridden by) the members this edit renames, which it does not rename;
    and the bases the server cannot resolve behind which one may hide (as unexplained entries).

    A base no workspace class matches by name (``reg.Base``, an alias, an attribute holding a
    class) is resolved by the server's type definition: a workspace class joins the hierarchy,
    a library class is no concern, nothing at all is unexplained.
    """
    from lanser.edits.overrides import classes_of, override_family, unmatched_bases

    starts = {(p, ln, c) for p, ln, c in _edit_starts(edit, ctx.rel_of_uri)}
    if not any(p.endswith((".py", ".pyi")) for p, _, _ in starts):
        return [], []
    files = []
    texts: dict[str, list[str]] = {}
    root = ctx.root.resolve()
    for rel in owned(ctx.workspace.files((".py", ".pyi"))):
        path = ctx.root / rel
        try:
            if path.is_symlink() or not path.resolve().is_relative_to(root):
                continue  # the jail: never read through a link
            data = _server_view(path.read_bytes())
        except (OSError, ValueError):
            continue
        files.append((rel, data))
        texts[rel] = data.decode("utf-8", "replace").split("\n")
    classes = classes_of(files)
    names = {n for c in classes for n, (ln, col) in c.methods.items() if (c.path, ln, col) in starts}
    pending = [(c, i) for c, i in unmatched_bases(classes, names) if i < len(c.base_refs)]
    hidden: list[dict[str, Any]] = []
    if pending:
        from lanser.text import from_lsp_encoding

        async def op(s: LspSession) -> list[list[tuple[str, int, int]]]:
            enc = from_lsp_encoding(s.position_encoding)
            out: list[list[tuple[str, int, int]]] = []
            for c, i in pending:
                ref = c.base_refs[i]
                if ref is None:
                    out.append([])
                    continue
                doc = s.documents.get(c.path) or s.sync_document(c.path, "python")
                line = texts[c.path][ref[0]] if ref[0] < len(texts[c.path]) else ""
                raw = await s.request(
                    "textDocument/typeDefinition",
                    lsp.TypeDefinitionParams(
                        text_document=lsp.TextDocumentIdentifier(uri=doc.uri),
                        position=lsp.Position(
                            line=ref[0], character=convert_column(line, ref[1], "codepoint", enc, strict=False)
                        ),
                    ),
                    timeout=ctx.timeout,
                )
                out.append(_locations(s.to_data(raw)))
            return out

        answers = await ctx.call("python", op, bundle)
        by_line = {(c.path, c.name_at[0]): c for c in classes}
        for (c, i), locs in zip(pending, answers, strict=False):
            found: list[str] = []
            external = False
            for uri, line, _col in locs:
                try:
                    where: str | None = ctx.rel_of_uri(uri)
                except FsPermissions:
                    where = None
                if where is not None and (where, line) in by_line:
                    found.append(by_line[(where, line)].name)
                elif where is None or not where.endswith((".py", ".pyi")) or where not in texts:
                    external = True
                    ended = _external_member(uri_path(uri), line, names)
                    if ended:
                        at = (
                            next((c.methods[n] for n in sorted(names) if n in c.methods), None)
                            or c.base_refs[i]
                            or c.name_at
                        )
                        occ = Occurrence(c.path, at[0], at[1], "code")
                        hidden.append(
                            describe(
                                occ, "library-override", texts[c.path][at[0]] if at[0] < len(texts[c.path]) else ""
                            )
                            | {
                                "reason": f"{c.qualname} (or a subclass) overrides {ended}, outside "
                                "the project: renaming ends the override"
                            }
                        )
            if found:
                c.bases = c.bases + tuple(found)
            elif not external:
                ref = c.base_refs[i] or c.name_at
                occ = Occurrence(c.path, ref[0], ref[1], "code")
                hidden.append(
                    describe(occ, "base", texts[c.path][ref[0]] if ref[0] < len(texts[c.path]) else "")
                    | {
                        "reason": f"a base of {c.qualname} the server cannot resolve: an override "
                        f"of {', '.join(sorted(names))} may hide behind it"
                    }
                )
    return override_family(classes, starts), hidden


#: At most this many files are opened, and occurrences resolved, for one rename (past it: unexplained).
_MAX_OPEN = 400
_MAX_RESOLVE = 3000
_IN_FLIGHT = 8


#: Largest library file read to see whether a base class outside the project defines a member.
_MAX_LIBRARY_FILE = 4 << 20


def _server_view(data: bytes) -> bytes:
    """A file's bytes with rows and columns as the servers count them (after a BOM, lone CR a line break)."""
    from lanser.syntax import syntax_bytes
    from lanser.text import document_bytes

    return syntax_bytes(document_bytes(data))


def _library_lines(path: str) -> list[str] | None:
    """The lines of a source file a definition landed in (a library's), or None if it is no such file."""
    p = Path(path)
    if p.suffix not in (".py", ".pyi", ".c", ".h", ".cc", ".cpp", ".hh", ".hpp"):
        return None
    try:
        if not p.is_file() or p.stat().st_size > _MAX_LIBRARY_FILE:
            return None
        return p.read_bytes().decode("utf-8", "replace").split("\n")
    except OSError:
        return None


def _external_member(path: str, line: int, names: set[str]) -> str | None:
    """``Class.name`` when the class whose name is on ``line`` of the library file ``path`` (or one of its
    bases in that file) defines one of ``names``; None otherwise or when the file cannot be read.

    Only member names are derived from the file, never shown: the answer names what the caller
    asked about.  Dunders are protocols, not overrides to keep.
    """
    from lanser.edits.overrides import classes_of

    wanted = {n for n in names if not n.startswith("__")}
    p = Path(path)
    if not wanted or p.suffix not in (".py", ".pyi"):
        return None
    try:
        if not p.is_file() or p.stat().st_size > _MAX_LIBRARY_FILE:
            return None
        data = p.read_bytes()
    except OSError:
        return None
    classes = classes_of([(path, data)])
    by_name = {c.name: c for c in classes}
    start = next((c for c in classes if c.name_at[0] == line), None)
    seen: set[str] = set()
    todo = [start] if start is not None else []
    while todo:
        c = todo.pop()
        if c.qualname in seen:
            continue
        seen.add(c.qualname)
        hit = sorted(wanted & set(c.methods))
        if hit:
            return f"{c.qualname}.{hit[0]}"
        todo += [by_name[b] for b in c.bases if b in by_name]
    return None


def _macro_of(lines: list[str], line: int) -> str | None:
    """The name of the #define whose body holds ``line`` (continuation lines included)."""
    import re

    row = line
    while row > 0 and lines[row - 1].rstrip().endswith("\\"):
        row -= 1
    m = re.match(r"\s*#\s*define\s+([A-Za-z_]\w*)", lines[row]) if row < len(lines) else None
    return m.group(1) if m else None


def _word_at(
    scans: dict[str, tuple[list[Occurrence], list[str]]], ref: list[Any], encoding: str, root: Path
) -> str | None:
    """The identifier written at the reference [path, line, col (server units)], read from disk if need be."""
    import re

    from lanser.text import from_lsp_encoding

    if len(ref) < 3 or not isinstance(ref[1], int) or not isinstance(ref[2], int):
        return None
    if ref[0] in scans:
        lines = scans[ref[0]][1]
    else:  # a file that uses the name only through a macro
        path = root / str(ref[0])
        try:
            if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
                return None
            lines = _server_view(path.read_bytes()).decode("utf-8", "replace").split("\n")
        except (OSError, ValueError):
            return None
    if ref[1] >= len(lines):
        return None
    line = lines[ref[1]]
    col = convert_column(line, ref[2], from_lsp_encoding(encoding), "codepoint", strict=False)
    m = re.match(r"[A-Za-z_]\w*", line[col:])
    return m.group(0) if m else None


def _name_written(
    scans: dict[str, tuple[list[Occurrence], list[str]]], ref: list[Any], name: str, encoding: str
) -> bool:
    """Whether ``name`` is written at the reference [path, line, col (server units)]."""
    from lanser.text import from_lsp_encoding

    if len(ref) < 3 or ref[0] not in scans:
        return False
    lines = scans[ref[0]][1]
    if not isinstance(ref[1], int) or not isinstance(ref[2], int) or ref[1] >= len(lines):
        return False
    line = lines[ref[1]]
    col = convert_column(line, ref[2], from_lsp_encoding(encoding), "codepoint", strict=False)
    return line[col : col + len(name)] == name


def _edits_at(
    occurrences: list[Occurrence],
    old: str,
    new: str,
    root: Path,
    scans: dict[str, tuple[list[Occurrence], list[str]]],
    encoding: str,
) -> tuple[dict[str, Any], list[Any]]:
    """A WorkspaceEdit replacing ``old`` by ``new`` at these occurrences (server columns), and their references."""
    from lanser.text import from_lsp_encoding

    enc = from_lsp_encoding(encoding)
    changes: dict[str, list[dict[str, Any]]] = {}
    refs = []
    for o in occurrences:
        line = scans[o.path][1][o.line]
        start = o.col
        cp = convert_column(line, start, enc, "codepoint", strict=False)
        end = convert_column(line, cp + len(old), "codepoint", enc, strict=False)
        rng = {"start": {"line": o.line, "character": start}, "end": {"line": o.line, "character": end}}
        uri = (root / o.path).as_uri()
        changes.setdefault(uri, []).append({"range": rng, "newText": new})
        refs.append({"uri": uri, "range": rng})
    return {"changes": changes}, refs


def _name_breaks(spec: dict[str, Any], old: str | None, new: str) -> list[Any]:
    """Diagnostics the speculative evaluation gained (errors, warnings) that name ``old`` or ``new``."""
    import re

    names = [n for n in (old, new) if n]
    pattern = re.compile(r"(?<![\w])(?:" + "|".join(re.escape(n) for n in names) + r")(?![\w])")
    word_new = re.compile(r"(?<![\w])" + re.escape(new) + r"(?![\w])")

    def as_before(d: list[Any]) -> tuple[Any, ...]:
        # The same diagnostic with the name changed is no new one ("Method "area" is not marked as
        # override" becoming "Method "surface" ..."): compare with the new name put back.
        return (d[0], d[1], d[2], word_new.sub(lambda _m: old or "", str(d[3])) if old else d[3])

    gone = {tuple(d[:4]) for d in spec.get("disappeared") or [] if len(d) >= 4}
    return [
        d
        for d in spec.get("appeared") or []
        if len(d) >= 4 and d[1] in ("error", "warning") and pattern.search(str(d[3])) and as_before(d) not in gone
    ]


def _pasted_breaks(spec: dict[str, Any], new: str) -> list[Any]:
    """New errors naming an identifier that embeds ``new`` without being it (made by token pasting)."""
    import re

    word = re.compile(r"[A-Za-z_]\w*")
    return [
        d
        for d in spec.get("appeared") or []
        if len(d) >= 4 and d[1] == "error" and any(new in w and w != new for w in word.findall(str(d[3])))
    ]


def _identifier_at(target: Any) -> str | None:
    """The identifier under the target's point (code points), whole even when the cursor is inside it."""
    import re

    row, col = target.point if target.point is not None else target.start
    if row >= len(target.lines):
        return None
    line = target.lines[row]
    for m in re.finditer(r"[^\W\d]\w*", line):
        if m.start() <= col < m.end() or (col == m.end() and m.start() < col):
            return m.group(0)
    return None


def _locations(raw: Any) -> list[tuple[str, int, int]]:
    """(uri, line, character) of each Location or LocationLink of a definition answer."""
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        uri = item.get("uri") or item.get("targetUri")
        rng = item.get("range") or item.get("targetSelectionRange") or item.get("targetRange")
        if isinstance(uri, str) and isinstance(rng, dict):
            out.append((uri, rng["start"]["line"], rng["start"]["character"]))
    return out


def _edit_starts(edit: dict[str, Any], rel_of_uri: Any) -> set[tuple[str, int, int]]:
    out = set()
    for change in edit.get("documentChanges") or []:
        if "textDocument" in change:
            rel = rel_of_uri(change["textDocument"]["uri"])
            out |= {(rel, e["range"]["start"]["line"], e["range"]["start"]["character"]) for e in change["edits"]}
    for uri, edits in (edit.get("changes") or {}).items():
        rel = rel_of_uri(uri)
        out |= {(rel, e["range"]["start"]["line"], e["range"]["start"]["character"]) for e in edits}
    return out
