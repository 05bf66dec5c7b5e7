"""Python definitions from tree-sitter: classes, functions, methods,
properties, overloads and module- or class-level assignments."""

from __future__ import annotations

from functools import lru_cache

import tree_sitter_python
from tree_sitter import Language, Node, Parser, Tree

from lanser.syntax.model import SymbolDef, node_span, node_text, span_between

__all__ = ["parse", "symbols"]


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_python.language()))


def parse(data: bytes) -> Tree:
    return _parser().parse(data)


_span = node_span
_text = node_text


def symbols(tree: Tree) -> list[SymbolDef]:
    out: list[SymbolDef] = []
    _walk(tree.root_node, [], "module", out)
    return out


def _docstring(block: Node | None) -> Node | None:
    if block is None or not block.named_children:
        return None
    first = block.named_children[0]
    if first.type == "expression_statement" and first.named_children and first.named_children[0].type == "string":
        return first
    return None


def _walk(node: Node, scope: list[str], scope_kind: str, out: list[SymbolDef]) -> None:
    for child in node.named_children:
        decorators: list[str] = []
        outer = child
        if child.type == "decorated_definition":
            decorators = [_text(d).lstrip("@").strip() for d in child.named_children if d.type == "decorator"]
            inner = child.child_by_field_name("definition")
            if inner is None:
                continue
            child = inner
        if child.type in ("class_definition", "function_definition"):
            name = child.child_by_field_name("name")
            body = child.child_by_field_name("body")
            if name is None:
                continue
            qual = [*scope, _text(name)]
            if child.type == "class_definition":
                kind = "class"
                sig_end = (body.prev_sibling or name) if body is not None else name
                sig_text = _text(child.child_by_field_name("superclasses"))
            else:
                kind = "method" if scope_kind == "class" else "function"
                if any(
                    d.split("(")[0] in ("property", "functools.cached_property", "cached_property")
                    or d.endswith((".setter", ".getter", ".deleter"))
                    for d in decorators
                ):
                    kind = "property"
                ret = child.child_by_field_name("return_type")
                params = child.child_by_field_name("parameters")
                sig_end = ret or params or name
                sig_text = _text(params) + (" -> " + _text(ret) if ret is not None else "")
            roles = {
                "def": _span(outer),
                "sig": span_between(child, sig_end),
            }
            if body is not None:
                roles["body"] = _span(body)
            doc = _docstring(body)
            if doc is not None:
                roles["doc"] = _span(doc)
            out.append(SymbolDef(".".join(qual), kind, _span(name), roles, sig_text, tuple(decorators), child.type))
            if body is not None:
                _walk(body, qual, "class" if kind == "class" else "function", out)
        elif child.type == "expression_statement" and scope_kind in ("module", "class"):
            for assign in child.named_children:
                if assign.type != "assignment":
                    continue
                left = assign.child_by_field_name("left")
                if left is None or left.type != "identifier":
                    continue
                roles = {"def": _span(child), "sig": _span(assign)}
                right = assign.child_by_field_name("right")
                if right is not None:
                    roles["body"] = _span(right)
                kind = "variable"
                ann = assign.child_by_field_name("type")
                out.append(
                    SymbolDef(".".join([*scope, _text(left)]), kind, _span(left), roles, _text(ann), (), "assignment")
                )
        elif child.type in (
            "if_statement",
            "try_statement",
            "with_statement",
            "block",
            "else_clause",
            "except_clause",
            "finally_clause",
            "elif_clause",
        ):
            # Definitions under `if TYPE_CHECKING:` or `try: import` guards still count.
            _walk(child, scope, scope_kind, out)
