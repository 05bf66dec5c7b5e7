"""Functions of a C file and the edits that make tasks of them (pure: bytes in, bytes out).

``functions`` lists the definitions tree-sitter finds, with what a problem
statement needs (signature, doc comment, body) and the byte offsets an
edit needs.  ``stub`` removes a body (the *implement* kind: the stub still
compiles, returning a zero of the function's type); ``faults`` injects
realistic bugs (the *repair* kind): an off-by-one bound, a wrong
comparison, a missing bounds or NULL check, a use after free, a leak.
Every edit is listed in a fixed order, so a seeded choice among them is
deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from lanser.syntax import c as csyntax

__all__ = ["FAULT_KINDS", "Edit", "Function", "callers", "faults", "functions", "stub"]

#: Fault kinds, and whether a sanitizer is the expected witness.
FAULT_KINDS = {
    "off-by-one": False,
    "wrong-comparison": False,
    "missing-check": False,
    "use-after-free": True,
    "leak": True,
}
_FREE = re.compile(r"(?:^|[_.>])(free|deallocate)$|_free$|^free_", re.I)
_SIZEISH = re.compile(r"len|size|length|count|cap|max|end|limit|num|idx|index|pos", re.I)


@dataclass(frozen=True)
class Function:
    name: str
    path: str
    line: int  # 1-based line of the definition
    signature: str
    doc: str
    body: str
    start: int  # byte offsets of the body (braces included)
    end: int
    returns: str  # "void", "pointer", "scalar" or "other" (no stub possible)
    params: tuple[str, ...]
    static: bool

    @property
    def body_lines(self) -> int:
        return self.body.count("\n") + 1


@dataclass(frozen=True)
class Edit:
    """One candidate task: the file's new bytes and what was done."""

    kind: str  # "implement" or a FAULT_KINDS key
    function: str
    path: str
    new: bytes
    description: str
    sanitizer: bool  # a sanitizer is the expected witness


def _text(data: bytes, node: Node) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _ident(node: Node | None) -> Node | None:
    while node is not None and node.type != "identifier":
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            named = [c for c in node.named_children if c.type == "identifier"]
            return named[0] if named else None
        node = nxt
    return node


def _walk(node: Node) -> list[Node]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out


def _returns(prefix: str) -> str:
    """What a function returns, from the text before its name (macros like ``API(void)`` included)."""
    if "*" in prefix:
        return "pointer"
    if re.search(r"\b(struct|union)\s+\w+\s*\)?\s*$", prefix):
        return "other"
    if re.search(r"\bvoid\b", prefix):
        return "void"
    return "scalar"


def functions(path: str, data: bytes) -> list[Function]:
    """Every function definition of a C file, in source order."""
    tree = csyntax.parse(data)
    docs = {d.qualname: d for d in csyntax.symbols(tree) if d.kind == "function"}
    out: list[Function] = []
    for fn in _walk(tree.root_node):
        if fn.type != "function_definition":
            continue
        body = fn.child_by_field_name("body")
        decl = fn.child_by_field_name("declarator")
        name = _ident(decl)
        if body is None or decl is None or name is None:
            continue
        fdecl: Node | None = decl
        while fdecl is not None and fdecl.type != "function_declarator":
            fdecl = fdecl.child_by_field_name("declarator")
        params: list[str] = []
        plist = fdecl.child_by_field_name("parameters") if fdecl is not None else None
        for p in plist.named_children if plist is not None else []:
            pid = _ident(p.child_by_field_name("declarator"))
            if pid is not None:
                params.append(_text(data, pid))
        sym = docs.get(_text(data, name))
        doc = ""
        if sym is not None and "doc" in sym.roles:
            (sl, sc), (el, ec) = sym.roles["doc"]
            lines = data.split(b"\n")
            doc = b"\n".join(lines[sl : el + 1]).decode("utf-8", "replace").strip()
        head = data[fn.start_byte : body.start_byte].decode("utf-8", "replace").strip()
        prefix = data[fn.start_byte : name.start_byte].decode("utf-8", "replace")
        out.append(
            Function(
                _text(data, name),
                path,
                fn.start_point[0] + 1,
                " ".join(head.split()),
                doc,
                _text(data, body),
                body.start_byte,
                body.end_byte,
                _returns(prefix),
                tuple(params),
                "static" in prefix.split(),
            )
        )
    return out


def stub(data: bytes, fn: Function) -> bytes | None:
    """``data`` with ``fn``'s body replaced by a stub that compiles; None when no zero value fits."""
    if fn.returns == "other":
        return None
    lines = ["{", f"\t/* TODO: implement {fn.name}() */"]
    lines += [f"\t(void){p};" for p in fn.params]
    if fn.returns == "pointer":
        lines.append("\treturn NULL;")
    elif fn.returns == "scalar":
        lines.append("\treturn 0;")
    lines.append("}")
    return data[: fn.start] + "\n".join(lines).encode() + data[fn.end :]


_FLIP_BOUND = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
_FLIP_CMP = {"==": "!=", "!=": "==", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _replace(data: bytes, start: int, end: int, new: str) -> bytes:
    return data[:start] + new.encode() + data[end:]


def _in_condition(node: Node, body: Node) -> str | None:
    """The kind of statement whose condition holds ``node`` (for, while, if, do), if any."""
    n: Node | None = node
    while n is not None and n.id != body.id:
        parent = n.parent
        if parent is None:
            return None
        if parent.type in ("for_statement", "while_statement", "if_statement", "do_statement"):
            cond = parent.child_by_field_name("condition")
            return parent.type if cond is not None and cond.id == n.id else None
        n = parent
    return None


def _is_free_call(data: bytes, stmt: Node) -> Node | None:
    """The freed argument of ``free(x);``-like statements (free, *_free, hooks->deallocate)."""
    if stmt.type != "expression_statement" or not stmt.named_children:
        return None
    call = stmt.named_children[0]
    if call.type != "call_expression":
        return None
    callee = call.child_by_field_name("function")
    args = call.child_by_field_name("arguments")
    if callee is None or args is None or len(args.named_children) != 1:
        return None
    if not _FREE.search(_text(data, callee).replace(" ", "")):
        return None
    arg = args.named_children[0]
    return arg if arg.type in ("identifier", "field_expression") else None


def _line(node: Node) -> int:
    return int(node.start_point[0]) + 1


def faults(data: bytes, fn: Function) -> list[Edit]:
    """Realistic single faults inside ``fn``'s body, in source order."""
    tree = csyntax.parse(data)
    body = tree.root_node.descendant_for_byte_range(fn.start, fn.end)
    while body is not None and not (body.type == "compound_statement" and body.start_byte == fn.start):
        body = body.parent
    if body is None:
        return []
    out: list[Edit] = []

    def add(kind: str, new: bytes, what: str) -> None:
        out.append(Edit(kind, fn.name, fn.path, new, what, FAULT_KINDS[kind]))

    for node in _walk(body):
        if node.type == "binary_expression":
            op = node.child_by_field_name("operator")
            if op is None:
                continue
            o = _text(data, op)
            where = _in_condition(node, body)
            if o in _FLIP_BOUND and where in ("for_statement", "while_statement", "do_statement"):
                add(
                    "off-by-one",
                    _replace(data, op.start_byte, op.end_byte, _FLIP_BOUND[o]),
                    f"loop bound `{_text(data, node)}` became `{o}`->`{_FLIP_BOUND[o]}` (line {_line(node)})",
                )
            elif o in _FLIP_BOUND and where == "if_statement" and _SIZEISH.search(_text(data, node)):
                add(
                    "off-by-one",
                    _replace(data, op.start_byte, op.end_byte, _FLIP_BOUND[o]),
                    f"bound check `{_text(data, node)}` became `{o}`->`{_FLIP_BOUND[o]}` (line {_line(node)})",
                )
            elif o in ("==", "!=") and where == "if_statement":
                add(
                    "wrong-comparison",
                    _replace(data, op.start_byte, op.end_byte, _FLIP_CMP[o]),
                    f"comparison `{_text(data, node)}` became `{o}`->`{_FLIP_CMP[o]}` (line {_line(node)})",
                )
        elif node.type == "if_statement" and node.child_by_field_name("alternative") is None:
            cond = node.child_by_field_name("condition")
            cons = node.child_by_field_name("consequence")
            if cond is None or cons is None:
                continue
            ctext, btext = _text(data, cond), _text(data, cons)
            guard = re.search(r"\b(return|goto|break)\b", btext) and len(btext) < 200
            bounds = re.search(r"[<>]=?", ctext.replace("->", "")) and _SIZEISH.search(ctext)
            null = re.search(r"NULL|!\s*\w", ctext)
            if guard and (bounds or null):
                start = node.start_byte
                while start > 0 and data[start - 1 : start] in (b" ", b"\t"):
                    start -= 1
                end = node.end_byte + (1 if data[node.end_byte : node.end_byte + 1] == b"\n" else 0)
                what = "bounds check" if bounds else ("NULL check" if "NULL" in ctext else "guard")
                add(
                    "missing-check",
                    data[:start] + data[end:],
                    f"the {what} `if {ctext}` was removed (line {_line(node)})",
                )
        elif node.type == "compound_statement":
            stmts = [c for c in node.named_children if c.type != "comment"]
            for i, stmt in enumerate(stmts):
                arg = _is_free_call(data, stmt)
                if arg is None:
                    continue
                name = _text(data, arg)
                end = stmt.end_byte + (1 if data[stmt.end_byte : stmt.end_byte + 1] == b"\n" else 0)
                start = stmt.start_byte
                while start > 0 and data[start - 1 : start] in (b" ", b"\t"):
                    start -= 1
                add("leak", data[:start] + data[end:], f"`{_text(data, stmt)}` was removed (line {_line(stmt)})")
                if i == 0:
                    continue
                prev = stmts[i - 1]
                ptext = _text(data, prev)
                if prev.type != "expression_statement" or not re.search(rf"(?<![\w.>]){re.escape(name)}\b", ptext):
                    continue
                if re.match(rf"\s*{re.escape(name)}\s*=[^=]", ptext):
                    continue  # the previous statement writes the pointer: swapping is no use after free
                swapped = (
                    data[: prev.start_byte]
                    + _text(data, stmt).encode()
                    + data[prev.end_byte : stmt.start_byte]
                    + ptext.encode()
                    + data[stmt.end_byte :]
                )
                add(
                    "use-after-free",
                    swapped,
                    f"`{_text(data, stmt)}` now runs before `{ptext}`, which still uses {name} (line {_line(stmt)})",
                )
    return out


def callers(path: str, data: bytes, name: str) -> list[tuple[str, int, str]]:
    """(path, line, calling function) of every call to ``name`` in a C file (tree-sitter, no preprocessor)."""
    tree = csyntax.parse(data)
    out: list[tuple[str, int, str]] = []
    for node in _walk(tree.root_node):
        if node.type != "call_expression":
            continue
        callee = node.child_by_field_name("function")
        if callee is None or callee.type != "identifier" or _text(data, callee) != name:
            continue
        n: Node | None = node
        while n is not None and n.type != "function_definition":
            n = n.parent
        ident = _ident(n.child_by_field_name("declarator")) if n is not None else None
        out.append((path, node.start_point[0] + 1, _text(data, ident) if ident is not None else "?"))
    return out
