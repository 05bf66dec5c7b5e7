"""Resolution of symbol, AST-path and anchor selectors (Algorithm 1).

Candidates are found structurally (tree-sitter definitions, the module
layout and ``__init__`` re-exports) or textually (anchors), scored
``0.5 s_ast + 0.2 s_module + 0.2 J_token + 0.1 s_prox`` and ordered by
score, then path and range.  An exact, unique structural match scores 1.
Below the threshold, or on a tie at the top, the answer is
:class:`Ambiguous` with the ranked candidates and their features; with no
candidate it is :class:`NotFound`.  Never a silent first match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lanser.errors import Ambiguous, FsPermissions, LanserError, NotFound
from lanser.selectors import anchors
from lanser.selectors.spec import AnchorSpec, AstSpec, PositionSpec, SymbolSpec
from lanser.syntax import SymbolDef, definitions, symbol_id, syntax_bytes, to_codepoints
from lanser.text import content_hash, document_bytes, document_text, split_lines

if TYPE_CHECKING:
    from lanser.resolve import Target
    from lanser.workspace import Workspace

__all__ = ["THRESHOLD", "WEIGHTS", "resolve_structural"]

WEIGHTS = {"ast": 0.5, "module": 0.2, "token": 0.2, "prox": 0.1}
#: Candidates below this score are evidence, not answers.
THRESHOLD = 0.75
TOP_K = 5
#: Characters of an anchor snippet, and of its ``?ctx=``, that fuzzy matching uses (exact search: all).
FUZZY_MAX = 512
_AST_KINDS = {
    "class": {"class"},
    "def": {"function", "method", "property"},
    "function": {"function", "prototype"},
    "method": {"method", "property"},
    "struct": {"struct"},
    "union": {"union"},
    "enum": {"enum"},
    "typedef": {"typedef"},
    "macro": {"macro"},
    "var": {"variable"},
    "field": {"field", "enumerator"},
}


@dataclass
class Candidate:
    path: str
    sym: SymbolDef | None
    span: tuple[tuple[int, int], tuple[int, int]]  # code points
    point: tuple[int, int]
    features: dict[str, float]
    via: str = ""
    #: The definition an anchor's text starts (its point is that name), for the target's symbolId.
    named: SymbolDef | None = None

    @property
    def score(self) -> float:
        return round(sum(WEIGHTS[k] * v for k, v in self.features.items()), 6)

    def evidence(self) -> dict[str, Any]:
        (sl, sc), (el, ec) = self.span
        out: dict[str, Any] = {
            "path": self.path,
            "range": [sl, sc, el, ec],
            "score": self.score,
            "features": self.features,
        }
        if self.sym is not None:
            out["qualname"] = self.sym.qualname
            out["kind"] = self.sym.kind
        if self.via:
            out["via"] = self.via
        return out


def resolve_structural(spec: PositionSpec, ws: Workspace) -> Target:
    if isinstance(spec, AnchorSpec):
        return _resolve_anchor(spec, ws)
    if isinstance(spec, AstSpec):
        return _resolve_ast(spec, ws)
    assert isinstance(spec, SymbolSpec)
    language = "python" if spec.language == "py" else "c"
    files = _module_files(spec, ws)
    if not files:
        raise NotFound(f"no file for module {spec.module!r} in the workspace", module=spec.module)
    cands = _symbol_candidates(ws, language, files[0], spec.qualname, spec.overload, depth=0)
    if not cands:
        near = _nearest(ws, language, files[0], spec.qualname)
        scheme = "py" if language == "python" else "c"
        label = f"{spec.module}#{spec.qualname}"
        raise NotFound(
            f"no definition of {label}" + (f"; nearest: {', '.join(near)}" if near else ""),
            selector=label,
            nearest=[f"{scheme}://{spec.module}#{q}" for q in near],
        )
    return _choose(ws, language, cands, spec.role or "def", spec, label=f"{spec.module}#{spec.qualname}")


# -- symbols ----------------------------------------------------------------

#: Files a symbolId search reads at most.
SYMBOL_ID_SCAN_MAX = 5000


def resolve_symbol_id(sid: str, ws: Workspace) -> Target:
    """The definition whose ``symbolId`` (as bundles report it) is ``sid`` (issue 20).

    A symbolId hashes the definition's language, module, kind, qualified name
    and signature, so it is found by computing the ids of the workspace's
    definitions: under the dotted module (as symbol selectors report it) and
    under the file's path (as anchors and AST paths do), plain and with each
    overload index.  It changes when the signature does: then E/NOT_FOUND.
    """
    from lanser.lsp.registry import LANGUAGE_OF_SUFFIX, language_of
    from lanser.selectors.mint import _module_of

    hits: list[tuple[str, SymbolDef, list[bytes], str]] = []
    for rel in ws.files(tuple(LANGUAGE_OF_SUFFIX))[:SYMBOL_ID_SCAN_MAX]:
        language = language_of(rel)
        if language not in ("python", "c"):
            continue
        try:
            data = syntax_bytes(document_bytes(ws.read_bytes(rel)))
        except (FsPermissions, OSError):
            continue
        defs = definitions(language, data)
        modules = [rel] + ([m] if language == "python" and (m := _module_of(ws, rel)) is not None else [])
        for d in defs:
            same = sum(1 for x in defs if x.qualname == d.qualname)
            for module in modules:
                if any(symbol_id(language, module, d, o) == sid for o in [None, *range(same)]):
                    hits.append((rel, d, data.split(b"\n"), module))
                    break
    if not hits:
        raise NotFound(
            f"no definition has symbolId {sid} (it changes with the symbol's kind, name or signature; "
            "take a symbol or anchor selector to relocate)",
            selector=sid,
        )
    cands = [
        _candidate(rel, d, lines, {"ast": 1.0, "module": 1.0, "token": 1.0, "prox": 1.0}, via="symbolId")
        for rel, d, lines, _ in hits
    ]
    target = _choose(ws, language_of(hits[0][0]), cands, "def", AnchorSpec(path=hits[0][0], snippet=sid), label=sid)
    target.symbol_id = sid
    return target


def _module_files(spec: SymbolSpec, ws: Workspace) -> list[str]:
    if spec.language == "c":
        try:
            return [ws.rel(spec.module)]
        except NotFound:
            return []
    return python_module_files(spec.module, ws)


def python_module_files(module: str, ws: Workspace) -> list[str]:
    """Files that can hold ``module``: flat, ``src/`` and ``lib/`` layouts, packages, stubs."""
    path = module.replace(".", "/")
    out = []
    for base in ("", "src/", "lib/", "python/"):
        for cand in (
            f"{base}{path}.py",
            f"{base}{path}/__init__.py",
            f"{base}{path}.pyi",
            f"{base}{path}/__init__.pyi",
        ):
            if (ws.root / cand).is_file():
                out.append(cand)
    return out


def _symbol_candidates(
    ws: Workspace, language: str, rel: str, qualname: str, overload: int | None, depth: int
) -> list[Candidate]:
    data = syntax_bytes(document_bytes(ws.read_bytes(rel)))
    defs = definitions(language, data)
    lines = data.split(b"\n")
    exact = [d for d in defs if d.qualname == qualname]
    if language == "c" and any(d.kind == "function" for d in exact):
        # `void f(int);` right before `void f(int x) {...}` (Brotli's *ForTest functions): the
        # definition is what a selector names, not its prototype.
        exact = [d for d in exact if d.kind != "prototype"]
    if language == "python" and len(exact) > 1:
        exact = _disambiguate_same_name(exact, overload, qualname)
    elif overload is not None:
        exact = exact[overload : overload + 1]
    if exact:
        return [
            _candidate(
                rel,
                d,
                lines,
                {"ast": 1.0, "module": 1.0 if depth == 0 else 0.5, "token": 1.0, "prox": 1.0},
                via="re-export" if depth else "",
            )
            for d in exact
        ]
    if language == "python" and depth < 4:
        target = _reexport(data, qualname, rel)
        if target is not None:
            module, name = target
            rest = qualname.split(".", 1)[1:] if "." in qualname else []
            for f in python_module_files(module, ws)[:1]:
                found = _symbol_candidates(ws, language, f, ".".join([name, *rest]), overload, depth + 1)
                if found:
                    return found
    # Relocation evidence: definitions sharing the last name, scored by structure.
    want = qualname.split(".")
    out = []
    for d in defs:
        have = d.qualname.split(".")
        if have[-1] != want[-1]:
            continue
        same_tail = sum(1 for a, b in zip(reversed(want), reversed(have), strict=False) if a == b)
        features = {
            "ast": round(same_tail / max(len(want), len(have)), 4),
            "module": 1.0,
            "token": round(anchors.jaccard(_name_tokens(qualname), _name_tokens(d.qualname)), 4),
            "prox": round(1 / (1 + abs(len(want) - len(have))), 4),
        }
        out.append(_candidate(rel, d, lines, features))
    return out


def _nearest(ws: Workspace, language: str, rel: str, qualname: str, n: int = 5) -> list[str]:
    """The file's definitions nearest to ``qualname`` by spelling (a selector miss suggests them)."""
    import difflib

    names = sorted({d.qualname for d in definitions(language, document_bytes(ws.read_bytes(rel)))})
    near = difflib.get_close_matches(qualname, names, n=n, cutoff=0.6)
    tail = qualname.rsplit(".", 1)[-1].lower()
    near += [q for q in names if q.rsplit(".", 1)[-1].lower() == tail and q not in near]
    return near[:n]


def _disambiguate_same_name(exact: list[SymbolDef], overload: int | None, qualname: str) -> list[SymbolDef]:
    overloads = [d for d in exact if any(x.split(".")[-1] == "overload" for x in d.decorators)]
    if overload is not None:
        pool = overloads or exact
        if overload >= len(pool):
            raise NotFound(f"{qualname} has {len(pool)} overloads; overload={overload} does not exist")
        return [pool[overload]]
    impl = [d for d in exact if d not in overloads]
    if overloads and len(impl) == 1:
        return impl
    getters = [
        d
        for d in exact
        if any(x.split("(")[0] in ("property", "cached_property", "functools.cached_property") for x in d.decorators)
    ]
    if len(getters) == 1:
        return getters
    return exact


def _reexport(data: bytes, qualname: str, rel: str) -> tuple[str, str] | None:
    """``from X import name [as alias]`` binding the first part of ``qualname``."""
    from lanser.syntax import python

    head = qualname.split(".")[0]
    tree = python.parse(data)
    # The package a relative import starts from: the file's directory, for a
    # module and for an __init__ alike.
    pkg = rel.rsplit("/", 1)[0].replace("/", ".") if "/" in rel else ""
    for node in tree.root_node.named_children:
        if node.type != "import_from_statement":
            continue
        mod_node = node.child_by_field_name("module_name")
        if mod_node is None or mod_node.text is None:
            continue
        module = mod_node.text.decode()
        if module.startswith("."):
            dots = len(module) - len(module.lstrip("."))
            base = pkg.split(".") if pkg else []
            base = base[: len(base) - (dots - 1)] if dots > 1 else base
            for prefix in ("src.", "lib."):
                if ".".join(base).startswith(prefix):
                    base = ".".join(base)[len(prefix) :].split(".")
            module = ".".join([*base, module.lstrip(".")]).strip(".")
        for name_node in node.children_by_field_name("name"):
            if name_node.type == "aliased_import":
                orig, alias = name_node.child_by_field_name("name"), name_node.child_by_field_name("alias")
                if alias is not None and alias.text == head.encode() and orig is not None and orig.text:
                    return module, orig.text.decode()
            elif name_node.text == head.encode():
                return module, head
    return None


def _name_tokens(qualname: str) -> set[str]:
    parts = re.split(r"[._]|(?<=[a-z])(?=[A-Z])", qualname)
    return {p.lower() for p in parts if p}


def _candidate(rel: str, d: SymbolDef, lines: list[bytes], features: dict[str, float], via: str = "") -> Candidate:
    span = d.roles["def"]
    return Candidate(
        rel,
        d,
        (to_codepoints(lines, span[0]), to_codepoints(lines, span[1])),
        to_codepoints(lines, d.name[0]),
        features,
        via,
    )


def _choose(ws: Workspace, language: str, cands: list[Candidate], role: str, spec: PositionSpec, label: str) -> Target:
    from lanser.resolve import Target

    if not cands:
        raise NotFound(f"no definition of {label}", selector=str(label))
    cands.sort(key=lambda c: (-c.score, c.path, c.span))
    top = cands[0]
    tie = len(cands) > 1 and cands[1].score == top.score
    evidence = [c.evidence() for c in cands[:TOP_K]]
    if top.score < THRESHOLD or tie:
        why = "several definitions match equally" if tie else f"best candidate scores {top.score} < {THRESHOLD}"
        _teach(ws, cands[:TOP_K], evidence)
        raise Ambiguous(
            f"{label}: {why}; pass back one candidate's selector",
            candidates=evidence,
            weights=WEIGHTS,
            threshold=THRESHOLD,
        )
    raw_data = ws.read_bytes(top.path)
    data = syntax_bytes(document_bytes(raw_data))
    lines = data.split(b"\n")
    span = top.span
    if top.sym is not None:
        if role not in top.sym.roles:
            raise NotFound(f"{label} has no {role!r} part (it is a {top.sym.kind})", roles=sorted(top.sym.roles))
        raw = top.sym.roles[role]
        span = (to_codepoints(lines, raw[0]), to_codepoints(lines, raw[1]))
    text = document_text(raw_data)
    target = Target(top.path, language, text, content_hash(raw_data), span[0], span[1], confidence=top.score)
    target.point = top.point
    target.evidence = evidence
    target.weights = dict(WEIGHTS)
    if top.sym is not None:
        module = spec.module if isinstance(spec, SymbolSpec) else top.path
        target.symbol_id = symbol_id(language, module, top.sym, getattr(spec, "overload", None))
    elif top.named is not None:
        target.symbol_id = symbol_id(language, top.path, top.named)
    return target


def _teach(ws: Workspace, cands: list[Candidate], evidence: list[dict[str, Any]]) -> None:
    """Give each ambiguous candidate a selector to pass back and its first line (issue 20).

    The selector is the one lanser mints for the definition whose name the
    candidate points at (a symbol selector where one names it alone), else a
    cursor on the point (1-based, UTF-16 columns).
    """
    from lanser.selectors.mint import mint_at

    texts: dict[str, list[str]] = {}
    for c, ev in zip(cands, evidence, strict=False):
        try:
            if c.path not in texts:
                texts[c.path] = split_lines(document_text(ws.read_bytes(c.path)))
            lines = texts[c.path]
        except (OSError, LanserError):
            continue
        line, col = c.point
        selector = None
        try:
            minted = mint_at(ws, c.path, line, col)
            selector = next((minted[k] for k in ("symbol", "ast", "anchor", "cursor") if k in minted), None)
        except LanserError:
            pass
        if selector is None and line < len(lines):
            from lanser.selectors.parse import format_selector
            from lanser.selectors.spec import CursorSpec
            from lanser.text import convert_column

            col16 = convert_column(lines[line], min(col, len(lines[line])), "codepoint", "utf-16")
            selector = format_selector(CursorSpec(path=c.path, line=line + 1, col=col16 + 1))
        if selector is not None:
            ev["selector"] = selector
        start = c.span[0][0]
        if start < len(lines):
            preview = lines[start].strip()
            ev["preview"] = preview if len(preview) <= 160 else preview[:159] + "\u2026"


# -- AST paths ----------------------------------------------------------------


def _resolve_ast(spec: AstSpec, ws: Workspace) -> Target:
    first_kind, first_value = spec.steps[0]
    if first_kind == "module":
        language = "python"
        files = python_module_files(first_value, ws)
    elif first_kind == "file":
        files = [ws.rel(first_value)]
        language = "python" if first_value.endswith((".py", ".pyi")) else "c"
    else:
        raise NotFound(f"an AST path starts with [module=...] or [file=...], not [{first_kind}=...]")
    if not files:
        raise NotFound(f"no file for {first_kind} {first_value!r}")
    rest = spec.steps[1:]
    if not rest:
        raise NotFound("an AST path needs at least one step below the module")
    for kind, _ in rest:
        if kind not in _AST_KINDS:
            raise NotFound(f"unknown AST step kind {kind!r}; expected one of {', '.join(sorted(_AST_KINDS))}")
    qualname = ".".join(v for _, v in rest)
    cands = _symbol_candidates(ws, language, files[0], qualname, None, depth=0)
    want_kind = _AST_KINDS[rest[-1][0]]
    for c in cands:
        if c.sym is not None and c.sym.kind not in want_kind:
            c.features["ast"] = round(c.features["ast"] * 0.5, 4)
    target = _choose(ws, language, cands, "def", spec, label=qualname)
    if spec.leaf is not None:
        _apply_leaf(target, spec.leaf, spec.leafIndex or 1, language)
    return target


def _apply_leaf(target: Target, leaf: str, index: int, language: str) -> None:
    data = syntax_bytes(target.text.encode("utf-8"))
    lines = data.split(b"\n")
    if leaf == "name" and index == 1 and target.point is not None:
        line_text = split_lines(target.text)[target.point[0]]
        end = target.point[1]
        while end < len(line_text) and (line_text[end].isalnum() or line_text[end] == "_"):
            end += 1
        target.start, target.end = target.point, (target.point[0], end)
        target.rebase(target.encoding)
        return
    from lanser.syntax import c, python

    tree = (python.parse if language == "python" else c.parse)(data)
    node = tree.root_node.descendant_for_point_range(
        (target.start[0], len(split_lines(target.text)[target.start[0]][: target.start[1]].encode())),
        (target.end[0], len(split_lines(target.text)[target.end[0]][: target.end[1]].encode())),
    )
    found = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if n.type == leaf or (leaf == "name" and n.type in ("identifier", "type_identifier")):
            found.append(n)
        stack.extend(reversed(n.children))
    found.sort(key=lambda n: n.start_byte)
    if index > len(found):
        raise NotFound(f"no {leaf}[{index}] under the AST path ({len(found)} found)")
    n = found[index - 1]
    target.start = to_codepoints(lines, tuple(n.start_point))  # type: ignore[arg-type]
    target.end = to_codepoints(lines, tuple(n.end_point))  # type: ignore[arg-type]
    target.point = target.start
    target.rebase(target.encoding)


# -- anchors ------------------------------------------------------------------


def _resolve_anchor(spec: AnchorSpec, ws: Workspace) -> Target:
    from lanser.lsp.registry import LANGUAGE_OF_SUFFIX, language_of

    missing: NotFound | None = None
    try:
        files = [(ws.rel(spec.path), 1.0)]
    except NotFound as exc:
        missing = exc
        # The file moved (a package went under src/, say): look in files
        # that keep its name, scored by how much of the old path they keep.
        want = spec.path.strip("/").split("/")
        files = []
        for rel in ws.files(tuple(LANGUAGE_OF_SUFFIX)):
            have = rel.split("/")
            if have[-1] != want[-1]:
                continue
            same = sum(1 for a, b in zip(reversed(want), reversed(have), strict=False) if a == b)
            files.append((rel, round(0.5 * same / max(len(want), len(have)), 4)))
        if not files and not spec.path.endswith(tuple(LANGUAGE_OF_SUFFIX)):
            raise
    cands: list[Candidate] = []
    for rel, module_score in files:
        try:
            data = ws.read_bytes(rel)
        except FsPermissions:
            if len(files) == 1 and module_score == 1.0:
                raise  # the file the selector names: refused, said so
            continue  # a search never looks into a file outside the workspace
        found = _anchor_candidates(rel, document_text(data), spec, module_score)
        _point_at_names(rel, data, found)
        cands += found
    if not cands and missing is not None:
        cands = _renamed_file_candidates(ws, spec)
        if not cands and not files:
            raise missing
    language = language_of(files[0][0]) if files else language_of(spec.path)
    if cands:
        best = max(cands, key=lambda c: c.score).path
        language = language_of(best)
    return _choose(ws, language, cands, "def", spec, label=f'{spec.path}#"{spec.snippet}"')


#: Files of the anchor's kind a renamed file's search reads at most (a miss must not read a kernel tree).
RENAMED_SCAN_MAX = 5000


def _renamed_file_candidates(ws: Workspace, spec: AnchorSpec) -> list[Candidate]:
    """The anchor's exact text in files of another name (``core.py`` renamed ``core_moved.py``).

    Only files that keep something of the old path: the old name's stem in
    the new one, or the old parent directory (a file that merely contains
    the text elsewhere is no rename of it).  Only exact occurrences: fuzzy
    matching every file would cost lines x width per file.  Scored like a
    moved file, by the directories the new path keeps from the old one, but
    below any file that kept the name.
    """
    from lanser.lsp.registry import LANGUAGE_OF_SUFFIX

    want = spec.path.strip("/").split("/")
    suffix = next((s for s in LANGUAGE_OF_SUFFIX if want[-1].endswith(s)), None)
    if suffix is None:
        return []
    stem = want[-1][: -len(suffix)]
    parent = want[-2] if len(want) > 1 else None
    cands: list[Candidate] = []
    for rel in ws.files((suffix,))[:RENAMED_SCAN_MAX]:
        parts = rel.split("/")
        if not ((stem and stem in parts[-1][: -len(suffix)]) or (parent is not None and parent in parts[:-1])):
            continue
        try:
            data = ws.read_bytes(rel)
        except (FsPermissions, OSError):
            continue  # a search never looks into a file outside the workspace
        text = document_text(data)
        if spec.snippet not in text:
            continue
        have = rel.split("/")
        same = 0
        for a, b in zip(reversed(want[:-1]), reversed(have[:-1]), strict=False):
            if a != b:
                break
            same += 1
        found = _anchor_candidates(rel, text, spec, round(0.25 * same / max(len(want), len(have)), 4))
        _point_at_names(rel, data, found)
        cands += found
    return cands


_KEYWORDS = frozenset(
    "def class return if else elif for while in not and or is None True False self "
    "async await lambda with as import from pass int char void unsigned signed long "
    "short const static struct union enum typedef define include sizeof".split()
)


def _anchor_candidates(rel: str, text: str, spec: AnchorSpec, module_score: float) -> list[Candidate]:
    snippet = spec.snippet
    line_starts = _line_starts(text)
    starts = [m.start() for m in re.finditer(re.escape(snippet), text)]
    if starts:
        return [
            Candidate(
                rel,
                None,
                (_pos(line_starts, off), _pos(line_starts, off + len(snippet))),
                _pos(line_starts, off),
                {"ast": 1.0, "module": module_score, "token": 1.0, "prox": 1.0},
                via="exact",
            )
            for off in starts
        ]
    # Fuzzy matching fingerprints a window at every line: its cost is lines x width, so the width
    # a selector can ask for is bounded (a hostile `?ctx=1000000` cost 18 s on 1,000 lines).
    # A longer snippet is matched fuzzily on its first FUZZY_MAX characters.
    snippet = snippet[:FUZZY_MAX]
    want_fp = anchors.fingerprints(snippet)
    want_tok = anchors.tokens(snippet)
    # The snippet's rarest identifier in this file (usually the name it
    # defines): a fuzzy match without it is most likely a look-alike
    # neighbour (`def assoc(inst, **changes)` for `def evolve(inst, **changes)`).
    idents = [t for t in want_tok if re.match(r"[A-Za-z_]\w*$", t) and t not in _KEYWORDS]
    # Only identifiers still in the file: one the edit deleted would penalise every candidate.
    counts = {t: len(re.findall(r"\b" + re.escape(t) + r"\b", text)) for t in idents}
    present = [t for t in idents if counts[t]]
    rare = min(present, key=lambda t: (counts[t], t)) if present else None
    # Room for text inserted inside the anchor since it was taken.
    width = len(snippet) + len(snippet) // 2 + min(spec.ctx or 0, FUZZY_MAX)
    lines = split_lines(text)
    cands = []
    for i, start in enumerate(line_starts[: len(lines)]):
        if not lines[i].strip():
            continue
        off = start + len(lines[i]) - len(lines[i].lstrip())
        region = text[off : off + width]
        contained = anchors.containment(want_fp, anchors.fingerprints(region))
        if contained == 0:
            continue
        end_off = off + _match_end(region, snippet)
        if rare is not None and not re.search(r"\b" + re.escape(rare) + r"\b", text[off:end_off]):
            contained *= 0.5
        cands.append(
            Candidate(
                rel,
                None,
                (_pos(line_starts, off), _pos(line_starts, end_off)),
                _pos(line_starts, off),
                {
                    "ast": round(contained, 4),
                    "module": module_score,
                    "token": round(anchors.jaccard(want_tok, anchors.tokens(text[off:end_off])), 4),
                    "prox": 1.0,
                },
                via="fuzzy",
            )
        )
    return _drop_overlapped(cands)


def _point_at_names(rel: str, data: bytes, cands: list[Candidate]) -> None:
    """Point each candidate at the name of the definition its text starts (issue 20).

    An anchor is a definition's first line (``def total_area(...)``); its
    position-based requests (refs, hover, rename) must ask about the name,
    not the ``def`` keyword, where no server finds a symbol.  The definition
    whose signature starts the match wins, else the first name inside it;
    an anchor on other code keeps pointing at its start.
    """
    from lanser.lsp.registry import language_of

    language = language_of(rel)
    if not cands or language not in ("python", "c"):
        return
    raw = syntax_bytes(document_bytes(data))
    lines = raw.split(b"\n")
    names = []
    for i, d in enumerate(definitions(language, raw)):
        sig = d.roles.get("sig", d.roles["def"])
        names.append(
            (to_codepoints(lines, sig[0]), to_codepoints(lines, d.name[0]), to_codepoints(lines, d.name[1]), i, d)
        )
    for c in cands:
        start, end = c.span
        inside = [
            (sig != start, name, i, d) for sig, name, name_end, i, d in names if start <= name and name_end <= end
        ]
        if inside:
            _, c.point, _, c.named = min(inside, key=lambda x: x[:3])


def _match_end(region: str, snippet: str) -> int:
    """Where the anchored text ends in ``region``: after the snippet's last token, if present."""
    toks = anchors.tokens(snippet)
    last = None
    for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*|\d+|\S", region):
        if m.group(0) in toks:
            last = m.end()
    return min(last if last is not None else len(snippet), len(region))


def _drop_overlapped(cands: list[Candidate]) -> list[Candidate]:
    """Keep a fuzzy candidate only if no better one overlaps it (windows of nearby lines overlap)."""
    kept: list[Candidate] = []
    for c in sorted(cands, key=lambda c: (-c.score, c.span)):
        if all(c.span[1] <= k.span[0] or c.span[0] >= k.span[1] for k in kept):
            kept.append(c)
    return kept


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for m in re.finditer(r"\r\n|\n|\r", text):
        starts.append(m.end())
    return starts


def _pos(line_starts: list[int], offset: int) -> tuple[int, int]:
    import bisect

    i = bisect.bisect_right(line_starts, offset) - 1
    return i, offset - line_starts[i]
