"""Faults in kernel C functions, as data: an emptied body or one flipped operator (pure).

A :class:`Fault` is the whole file after the change; :func:`unified_diff`
makes the task's ``start_patch`` (original -> fault) and ``gold_patch``
(fault -> original) from it.  Nothing here decides whether a fault is a
good task: only running the suite does (every fault is validated to break
at least one KUnit case; an off-by-one in ``get_range`` is one the suite
does not catch).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from lanser.syntax import c as csyntax

__all__ = ["Fault", "FunctionInfo", "empty_body", "find_functions", "mutations", "unified_diff"]

#: Operator swaps: comparisons move a boundary by one, the others change the logic.
SWAPS: dict[str, str] = {
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "+": "-",
    "-": "+",
    "&&": "||",
    "||": "&&",
    "<<": ">>",
    ">>": "<<",
}


@dataclass(frozen=True)
class FunctionInfo:
    """One definition of a function: byte spans of the definition and its body,
    the signature text, the comment right above it (if any), its first line (1-based)."""

    name: str
    start: int
    body_start: int
    body_end: int
    signature: str
    comment: str
    line: int
    returns: str  # "void", "pointer", "bool", "value" or "aggregate"


@dataclass(frozen=True)
class Fault:
    path: str
    function: str
    kind: str  # "empty" or "mutate"
    detail: str  # what changed, for the dataset's own records (never shown to the agent)
    line: int
    text: bytes  # the whole file with the fault


def _returns(sig_prefix: str, declarator: Any) -> str:
    if declarator is not None and declarator.type == "pointer_declarator":
        return "pointer"
    words = sig_prefix.replace("*", " * ").split()
    if "void" in words:
        return "void"
    if "bool" in words:
        return "bool"
    if ("struct" in words or "union" in words) and "*" not in words:
        return "aggregate"
    return "value"


def find_functions(data: bytes, name: str) -> list[FunctionInfo]:
    """Every definition of ``name`` in the file (several when ``#ifdef`` branches each define it)."""
    tree = csyntax.parse(data)
    found: list[FunctionInfo] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            decl = node.child_by_field_name("declarator")
            body = node.child_by_field_name("body")
            ident = csyntax._declarator_name(decl)
            if ident is not None and decl is not None and body is not None and ident.text == name.encode():
                prev = node.prev_sibling
                comment = ""
                # The kernel-doc block may sit one blank line above the definition.
                if prev is not None and prev.type == "comment" and node.start_point[0] - prev.end_point[0] <= 2:
                    comment = data[prev.start_byte : prev.end_byte].decode("utf-8", "replace")
                sig = data[node.start_byte : decl.end_byte].decode("utf-8", "replace")
                prefix = data[node.start_byte : decl.start_byte].decode("utf-8", "replace")
                found.append(
                    FunctionInfo(
                        name,
                        node.start_byte,
                        body.start_byte,
                        body.end_byte,
                        " ".join(sig.split()),
                        comment,
                        node.start_point[0] + 1,
                        _returns(prefix, decl),
                    )
                )
            continue
        stack.extend(reversed(node.children))
    found.sort(key=lambda f: f.start)
    return found


def empty_body(path: str, data: bytes, fn: FunctionInfo) -> Fault | None:
    """The function with its body replaced by a stub that compiles (``None`` for a
    function returning a struct by value, which no one-line stub can satisfy)."""
    stub = {"void": "", "pointer": "\treturn NULL;\n", "bool": "\treturn false;\n", "value": "\treturn 0;\n"}
    if fn.returns not in stub:
        return None
    body = b"{\n\t/* TODO: implement */\n" + stub[fn.returns].encode() + b"}"
    text = data[: fn.body_start] + body + data[fn.body_end :]
    return Fault(path, fn.name, "empty", "body emptied", fn.line, text)


def mutations(path: str, data: bytes, fn: FunctionInfo) -> list[Fault]:
    """One fault per binary operator of the body that has a swap, in source order."""
    tree = csyntax.parse(data)
    body = tree.root_node.descendant_for_byte_range(fn.body_start, fn.body_end)
    out: list[Fault] = []
    stack = [body] if body is not None else []
    ops = []
    while stack:
        node = stack.pop()
        if node.type == "binary_expression":
            op = node.child_by_field_name("operator")
            if op is not None and op.type in SWAPS:
                ops.append(op)
        stack.extend(reversed(node.children))
    for op in sorted(ops, key=lambda n: n.start_byte):
        old = op.type
        new = SWAPS[old]
        text = data[: op.start_byte] + new.encode() + data[op.end_byte :]
        line = op.start_point[0] + 1
        out.append(Fault(path, fn.name, "mutate", f"line {line}: `{old}` -> `{new}`", line, text))
    return out


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    """A ``git apply``-able unified diff of one file (``a/`` and ``b/`` prefixes)."""
    lines = difflib.unified_diff(
        before.decode("utf-8").splitlines(keepends=True),
        after.decode("utf-8").splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=3,
    )
    return "".join(lines)
