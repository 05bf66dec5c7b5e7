"""C definitions from tree-sitter: functions (static too), prototypes,
structs, unions, enums and their members, typedefs, macros and globals."""

from __future__ import annotations

from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Tree

from lanser.syntax.model import Span, SymbolDef, node_span, node_text

__all__ = ["parse", "symbols"]


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_c.language()))


def parse(data: bytes) -> Tree:
    return _parser().parse(data)


_span = node_span
_text = node_text


def _declarator_name(node: Node | None) -> Node | None:
    """The identifier inside nested declarators (pointer, array, function, parenthesised)."""
    while node is not None and node.type not in ("identifier", "type_identifier", "field_identifier"):
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            named = [c for c in node.named_children if c.type in ("identifier", "field_identifier", "type_identifier")]
            return named[0] if named else None
        node = nxt
    return node


def _leading_comment(node: Node) -> Node | None:
    prev = node.prev_sibling
    if prev is not None and prev.type == "comment" and node.start_point[0] - prev.end_point[0] <= 1:
        return prev
    return None


def symbols(tree: Tree) -> list[SymbolDef]:
    out: list[SymbolDef] = []
    _walk(tree.root_node, out)
    return out


def _walk(root: Node, out: list[SymbolDef]) -> None:
    for node in root.named_children:
        t = node.type
        if t in ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "linkage_specification",
                 "declaration_list"):
            _walk(node, out)
            continue
        doc = _leading_comment(node)
        if t == "function_definition":
            decl = node.child_by_field_name("declarator")
            name = _declarator_name(decl)
            body = node.child_by_field_name("body")
            if name is None or decl is None:
                continue
            roles = {"def": _span(node), "sig": (tuple(node.start_point), tuple(decl.end_point))}
            if body is not None:
                roles["body"] = _span(body)
            if doc is not None:
                roles["doc"] = _span(doc)
            sig = _text(node)[: decl.end_byte - node.start_byte]
            out.append(SymbolDef(_text(name), "function", _span(name), roles, sig, (), t))  # type: ignore[arg-type]
        elif t == "declaration":
            for decl in node.children_by_field_name("declarator"):
                name = _declarator_name(decl)
                if name is None:
                    continue
                is_proto = decl.type == "function_declarator" or (
                    decl.type == "pointer_declarator" and "(" in _text(decl))
                roles = {"def": _span(node), "sig": _span(node)}
                if doc is not None:
                    roles["doc"] = _span(doc)
                out.append(SymbolDef(_text(name), "prototype" if is_proto else "variable", _span(name),
                                     roles, _text(node), (), t))  # type: ignore[arg-type]
            _record_types(node, out, doc)
        elif t in ("struct_specifier", "union_specifier", "enum_specifier"):
            _record_types(node, out, doc, top=node)
        elif t == "type_definition":
            for decl in node.children_by_field_name("declarator"):
                name = _declarator_name(decl)
                if name is not None:
                    roles = {"def": _span(node), "sig": _span(node)}
                    if doc is not None:
                        roles["doc"] = _span(doc)
                    out.append(SymbolDef(_text(name), "typedef", _span(name), roles, _text(node), (), t))  # type: ignore[arg-type]
            _record_types(node, out, doc)
        elif t in ("preproc_def", "preproc_function_def"):
            name = node.child_by_field_name("name")
            if name is None:
                continue
            roles = {"def": _span(node), "sig": _span(node)}
            value = node.child_by_field_name("value")
            if value is not None:
                roles["body"] = _span(value)
            if doc is not None:
                roles["doc"] = _span(doc)
            sig = _text(name) + _text(node.child_by_field_name("parameters"))
            out.append(SymbolDef(_text(name), "macro", _span(name), roles, sig, (), t))  # type: ignore[arg-type]


def _record_types(node: Node, out: list[SymbolDef], doc: Node | None, top: Node | None = None) -> None:
    """Named struct/union/enum definitions (with a body) inside ``node``, and their members."""
    candidates = [top] if top is not None else [c for c in node.named_children
                                                 if c.type in ("struct_specifier", "union_specifier", "enum_specifier")]
    for spec in candidates:
        name = spec.child_by_field_name("name")
        body = spec.child_by_field_name("body")
        if name is None or body is None:
            continue
        kind = spec.type.split("_")[0]
        tag = _text(name)
        roles = {"def": _span(spec), "sig": (tuple(spec.start_point), tuple(name.end_point)), "body": _span(body)}
        if doc is not None:
            roles["doc"] = _span(doc)
        out.append(SymbolDef(tag, kind, _span(name), roles, f"{kind} {tag}", (), spec.type))  # type: ignore[arg-type]
        for member in body.named_children:
            if member.type == "field_declaration":
                for decl in member.children_by_field_name("declarator"):
                    mname = _declarator_name(decl)
                    if mname is not None:
                        out.append(SymbolDef(f"{tag}.{_text(mname)}", "field", _span(mname),
                                             {"def": _span(member), "sig": _span(member)}, _text(member), (),
                                             member.type))
            elif member.type == "enumerator":
                mname = member.child_by_field_name("name")
                if mname is not None:
                    out.append(SymbolDef(f"{tag}.{_text(mname)}", "enumerator", _span(mname),
                                         {"def": _span(member), "sig": _span(member)}, _text(member), (),
                                         member.type))
