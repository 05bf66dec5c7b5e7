"""Is a rename complete?  An account of every remaining occurrence of the old name.

The server's rename and its references can agree with each other and still
leave code behind: files outside its ``include`` settings, attribute reads
on receivers it cannot type (unannotated parameters, pytest fixtures), C in
an inactive ``#ifdef`` branch.  So lanser does not ask the server alone.
It scans every file the project owns with tree-sitter for the old
identifier and holds the rename complete only when each occurrence in code
is explained:

- ``edited``: the rename edits it;
- ``other``: the server resolves it (go to definition) to a declaration
  that is not the renamed symbol's and that the rename does not edit;
- ``branch``: (C) it sits in a preprocessor branch the server does not
  see, provably names the same file-scope symbol, and lanser edits it.

Everything else is *unexplained*: ``same`` (it resolves to the renamed
symbol, yet the edit misses it) or ``unresolved`` (the server resolves it
to nothing: ``obj.old_name`` on an untyped ``obj``).  Unexplained
occurrences refuse the rename unless the caller allows a partial one.
Occurrences in strings and comments are ``mentions``: listed, never
refusing (a docstring naming the function is not a reference).

Pure: file contents in, verdicts out; the server's answers are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Occurrence",
    "Verdict",
    "dynamic_prefixes",
    "judge",
    "owned",
    "scan",
    "selector_of",
]

Pos = tuple[str, int, int]

#: Directories a project does not own: environments, build output, caches, vendored installs.
NOT_OWNED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".lanser",
        ".venv",
        "venv",
        ".env",
        "env",
        "node_modules",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".cache",
        "build",
        "dist",
        "site-packages",
        "_build",
        ".eggs",
    }
)

_MENTION_TYPES = {"comment", "string_content", "char_literal", "system_lib_string", "raw_string_literal"}
_STRING_WRAPPERS = {"string_literal", "concatenated_string"}
_CONDITIONAL = {"preproc_if", "preproc_ifdef", "preproc_elif", "preproc_else", "preproc_elifdef"}


@dataclass(frozen=True, order=True)
class Occurrence:
    """One occurrence of the old name (0-based line, column in code points)."""

    path: str
    line: int
    col: int
    kind: str  # "code", "macro" (a #define body), "string" or "comment"
    #: C: inside an #if/#ifdef/#else branch (the server may not see it).
    conditional: bool = False
    #: After `.` or `->`: a member of something, never a file-scope symbol.
    member: bool = False
    #: Python: the name of a keyword argument (`f(old=1)`): a parameter of the callee.
    keyword: bool = False

    @property
    def where(self) -> Pos:
        return self.path, self.line, self.col


@dataclass
class Verdict:
    edited: list[Occurrence]
    other: list[Occurrence]
    unexplained: list[tuple[Occurrence, str]]  # with "same" or "unresolved"
    mentions: list[Occurrence]

    @property
    def complete(self) -> bool:
        return not self.unexplained


def owned(paths: Iterable[str]) -> list[str]:
    """The paths the project owns: none under an environment, build or cache directory."""
    return [p for p in paths if not any(part in NOT_OWNED or part.endswith(".egg-info") for part in p.split("/")[:-1])]


def scan(language: str, path: str, data: bytes, name: str) -> list[Occurrence]:
    """Every occurrence of identifier ``name`` in one file, told apart by tree-sitter."""
    raw = name.encode("utf-8")
    if not name or raw not in data:
        return []
    if language == "python":
        from lanser.syntax import python as grammar
    else:
        from lanser.syntax import c as grammar  # type: ignore[no-redef]
    from lanser.syntax import syntax_bytes
    from lanser.text import document_bytes

    # Rows and columns as the servers count them: after a BOM, with a lone CR as a line break.
    data = syntax_bytes(document_bytes(data))
    tree = grammar.parse(data)
    lines = data.split(b"\n")
    word = re.compile(rb"(?<![A-Za-z0-9_\x80-\xff])" + re.escape(raw) + rb"(?![A-Za-z0-9_\x80-\xff])")
    out: list[Occurrence] = []

    def col_of(row: int, byte_col: int) -> int:
        return len(lines[row][:byte_col].decode("utf-8", "replace")) if row < len(lines) else byte_col

    def add_words(node: Any, kind: str, conditional: bool) -> None:
        text: bytes = node.text or b""
        base_row, base_col = node.start_point
        for m in word.finditer(text):
            row = base_row + text.count(b"\n", 0, m.start())
            nl = text.rfind(b"\n", 0, m.start())
            byte_col = m.start() - (nl + 1) if nl >= 0 else base_col + m.start()
            out.append(Occurrence(path, row, col_of(row, byte_col), kind, conditional))

    stack: list[tuple[Any, bool]] = [(tree.root_node, False)]
    while stack:
        node, conditional = stack.pop()
        t = node.type
        if t == "comment":
            add_words(node, "comment", conditional)
            continue
        if t in _MENTION_TYPES:
            add_words(node, "string", conditional)
            continue
        if t == "preproc_arg":  # a #define body: raw text the grammar does not parse
            add_words(node, "macro", conditional)
            continue
        if node.child_count == 0:
            if node.text == raw:
                row, byte_col = node.start_point
                prev = node.prev_sibling
                member = (
                    t == "field_identifier"
                    or (prev is not None and prev.type in (".", "->"))
                    or (
                        node.parent is not None
                        and node.parent.type == "attribute"
                        and node.parent.child_by_field_name("attribute") == node
                    )
                )
                keyword = (
                    language == "python"
                    and node.parent is not None
                    and node.parent.type == "keyword_argument"
                    and node.parent.child_by_field_name("name") == node
                )
                out.append(Occurrence(path, row, col_of(row, byte_col), "code", conditional, member, keyword))
            continue
        inner = conditional or (language != "python" and t in _CONDITIONAL)
        stack.extend((child, inner) for child in reversed(node.children))
    return sorted(set(out))


def judge(
    occurrences: Iterable[Occurrence],
    edited: set[Pos],
    definitions: Mapping[Pos, list[Pos] | None],
    symbol: set[Pos],
    keywords_other: bool = False,
) -> Verdict:
    """Sort occurrences into edited, other symbols, unexplained and mentions.

    ``edited``: where the rename's edits start.  ``definitions``: for each
    occurrence not edited, where the server says it is defined (None or []
    when it cannot say).  ``symbol``: the renamed symbol's own
    declarations.  All positions in one column unit, the caller's choice.
    A definition the rename edits is the renamed symbol too.
    ``keywords_other``: the renamed symbol can be no parameter (a function,
    method or class, not a field a generated ``__init__`` takes), so a
    keyword argument's name the server cannot resolve (``@given(old=...)``,
    a callee taking ``**kwargs``) is another symbol.
    """
    verdict = Verdict([], [], [], [])
    for occ in sorted(set(occurrences)):
        if occ.kind in ("string", "comment"):
            verdict.mentions.append(occ)
        elif occ.where in edited:
            verdict.edited.append(occ)
        else:
            defs = definitions.get(occ.where)
            if not defs and keywords_other and occ.keyword:
                verdict.other.append(occ)
            elif not defs:
                verdict.unexplained.append((occ, "unresolved"))
            elif any(d in symbol or d in edited for d in defs):
                verdict.unexplained.append((occ, "same"))
            else:
                verdict.other.append(occ)
    return verdict


def dynamic_prefixes(path: str, data: bytes, name: str) -> list[Occurrence]:
    """Python: where a member name is built at run time from a prefix of ``name`` (a dispatcher).

    ``getattr(self, "visit_" + node["type"])``, ``f"visit_{kind}"``, ``"visit_%s" % kind`` or
    ``attr.startswith("_func_")`` can reach ``visit_field`` / ``_func_abs`` without writing it:
    renaming it breaks the dispatch while nothing in the code names it (jmespath's
    TreeInterpreter, its Functions table).  A prefix counts when it ends in ``_``, has at least
    three characters and leaves something of ``name`` after it.
    """
    if "_" not in name[2:-1]:  # no prefix ending in `_` to look for
        return []
    from lanser.syntax import python as grammar
    from lanser.syntax import syntax_bytes
    from lanser.text import document_bytes

    data = syntax_bytes(document_bytes(data))
    lines = data.split(b"\n")
    out: list[Occurrence] = []
    stack = [grammar.parse(data).root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "string":
            continue
        parts = [c for c in node.children if c.type in ("string_content", "interpolation")]
        if not parts or parts[0].type != "string_content":
            continue
        head = (parts[0].text or b"").decode("utf-8", "replace")
        built = len(parts) > 1  # an f-string going on with an interpolation
        if "%" in head and len(parts) == 1:
            head, built = head.split("%", 1)[0], True  # "visit_%s" % kind
        if not (3 <= len(head) < len(name) and head.endswith("_") and name.startswith(head)):
            continue
        parent = node.parent
        plus = parent is not None and parent.type == "binary_operator" and parent.child_by_field_name("left") == node
        call = parent.parent if parent is not None and parent.type == "argument_list" else None
        callee = call.child_by_field_name("function") if call is not None else None
        method = callee.child_by_field_name("attribute") if callee is not None and callee.type == "attribute" else None
        starts = method is not None and method.text == b"startswith"
        if not (plus or built or starts):
            continue
        row, byte_col = node.start_point
        col = len(lines[row][:byte_col].decode("utf-8", "replace")) if row < len(lines) else byte_col
        out.append(Occurrence(path, row, col, "code"))
    return sorted(out)


def selector_of(occ: Occurrence) -> str:
    """The cursor selector of an occurrence (1-based line and column)."""
    return f"{occ.path}@L{occ.line + 1}:C{occ.col + 1}"


def describe(occ: Occurrence, why: str, line_text: str) -> dict[str, Any]:
    """One unexplained occurrence as the bundle lists it."""
    reason = {
        "same": "resolves to the renamed symbol but the edit misses it",
        "unresolved": "the server cannot say what it refers to (an attribute of an untyped receiver, code it "
        "does not compile)",
        "branch": "in a preprocessor branch the server does not see",
        "dynamic": "a member name is built here from a prefix of the old name (a dispatcher): renaming breaks "
        "the lookup, nothing in the code names it",
    }.get(why, why)
    return {
        "path": occ.path,
        "line": occ.line,
        "col": occ.col,
        "kind": occ.kind,
        "selector": selector_of(occ),
        "why": why,
        "reason": reason,
        "text": line_text.strip()[:200],
    }


# -- C: occurrences in preprocessor branches the server does not see ---------------------------------------

_SCOPES = {"compound_statement", "field_declaration_list", "parameter_list", "enumerator_list"}


def _node_at(data: bytes, line: int, col: int, name: str) -> Any:
    from lanser.syntax import c as grammar

    lines = data.split(b"\n")
    if line >= len(lines):
        return None
    byte_col = len(lines[line].decode("utf-8", "replace")[:col].encode("utf-8"))
    tree = grammar.parse(data)
    node = tree.root_node.descendant_for_point_range((line, byte_col), (line, byte_col + len(name.encode())))
    return node if node is not None and node.text == name.encode() else None


def c_file_scope(data: bytes, line: int, col: int, name: str) -> bool:
    """Whether the C declaration of ``name`` at (line, col) is at file scope (no block, struct, parameters)."""
    node = _node_at(data, line, col, name)
    if node is None:
        return False
    parent = node.parent
    while parent is not None:
        if parent.type in _SCOPES:
            return bool(parent.type == "enumerator_list")  # enum constants are file-scope names in C
        parent = parent.parent
    return True


def c_branch_same_symbol(data: bytes, occ: Occurrence, name: str) -> bool:
    """Whether a C occurrence can only name the file-scope ``name``: not a member, not in a struct or
    enum body, and not shadowed by a parameter or local declaration of its function."""
    if occ.member or occ.kind != "code":
        return False
    node = _node_at(data, occ.line, occ.col, name)
    if node is None or node.type == "field_identifier":
        return False
    raw = name.encode()
    parent = node.parent
    function = None
    while parent is not None:
        if parent.type in ("field_declaration_list", "enumerator_list"):
            return False
        if parent.type == "function_definition":
            function = parent
        parent = parent.parent
    if function is None:
        # Inactive code may not parse as a function at all: then the branch is scanned as it stands.
        function = node
        while function.parent is not None and function.parent.type not in (
            "translation_unit",
            "preproc_if",
            "preproc_ifdef",
            "preproc_else",
            "preproc_elif",
        ):
            function = function.parent
    stack = [function]
    while stack:
        n = stack.pop()
        if n.type in ("declaration", "parameter_declaration", "init_declarator"):
            for decl in n.children_by_field_name("declarator"):
                inner = decl
                while inner is not None and inner.type not in ("identifier",):
                    inner = inner.child_by_field_name("declarator")
                if inner is not None and inner.text == raw and inner is not node:
                    return False
        if n.type == "parameter_list" and any(c.type == "identifier" and c.text == raw for c in n.named_children):
            return False  # a K&R parameter of that name
        stack.extend(n.named_children)
    return True
