"""C definitions from tree-sitter: functions (static too), prototypes,
structs, unions, enums and their members, typedefs, macros and globals."""

from __future__ import annotations

from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Tree

from lanser.syntax.model import Span, SymbolDef, node_span, node_text, span_between

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


#: Words that are never a declared name: tree-sitter reads `local int f OF((..))` (a storage-class
#: macro before the type) as a declaration of a variable named `int`.
_TYPE_WORDS = frozenset(
    {
        "void",
        "char",
        "short",
        "int",
        "long",
        "float",
        "double",
        "signed",
        "unsigned",
        "const",
        "volatile",
        "static",
        "extern",
        "inline",
        "register",
        "struct",
        "union",
        "enum",
    }
)


def _from_to(first: Node, last: Node) -> Span:
    return (first.start_point[0], first.start_point[1]), (last.end_point[0], last.end_point[1])


def _macro_like(text: str) -> bool:
    return bool(text) and text.upper() == text and any(ch.isalpha() for ch in text)


def _kr_head(node: Node) -> Node | None:
    """The name of the function a declaration heads when it is a K&R head split from its body."""
    for decl in node.children_by_field_name("declarator"):
        inner: Node | None = decl
        while inner is not None and inner.type in ("pointer_declarator", "parenthesized_declarator"):
            inner = inner.child_by_field_name("declarator") or next(
                (c for c in inner.named_children if c.type.endswith("declarator")), None
            )
        if inner is not None and inner.type == "function_declarator":
            return _declarator_name(inner)
    return None


def _macro_prototype(node: Node, prev: Node | None) -> Node | None:
    """The name of a prototype whose parameter list is wrapped in a macro: `local int f OF((int a));`
    and `ZEXTERN int ZEXPORT f OF((int a));`, which tree-sitter splits at the macros."""
    typ = node.child_by_field_name("type")
    decl = node.child_by_field_name("declarator")
    if typ is None or decl is None or typ.type != "type_identifier":
        return None
    if decl.type == "function_declarator":
        macro = decl.child_by_field_name("declarator")
        params = decl.child_by_field_name("parameters")
        if macro is not None and _macro_like(_text(macro)) and params is not None and _text(params).startswith("(("):
            return typ  # `f OF((...))`: the "type" is the name
    if (
        decl.type == "parenthesized_declarator"
        and _macro_like(_text(typ))
        and _text(decl).startswith("((")
        and prev is not None
        and prev.type == "declaration"
        and prev.children
        and prev.children[-1].is_missing
    ):
        name = prev.child_by_field_name("declarator")
        if name is not None and name.type == "identifier":
            return name  # `ZEXPORT f` then `OF((...))`: the name ends the previous piece
    return None


def _walk(root: Node, out: list[SymbolDef]) -> None:
    children = root.named_children
    #: Where each declaration's symbols start in ``out``: a K&R head found later replaces them.
    emitted: dict[int, int] = {}
    for index, node in enumerate(children):
        t = node.type
        if t == "compound_statement" and root.type == "translation_unit":
            # A function body at file scope: its head (`local void FAR *f(a, b) int a; ... {`) was
            # split into declarations by macros tree-sitter cannot expand.  Find the head.
            for back in range(index - 1, max(-1, index - 16), -1):
                head = children[back]
                if head.type != "declaration":
                    break
                name = _kr_head(head)
                if name is not None:
                    start = (
                        children[back - 1]
                        if back > 0
                        and children[back - 1].type == "declaration"
                        and children[back - 1].children
                        and children[back - 1].children[-1].is_missing
                        else head
                    )
                    del out[emitted.get(start.start_byte, emitted.get(head.start_byte, len(out))) :]
                    kr_roles: dict[str, Span] = {
                        "def": _from_to(start, node),
                        "sig": _from_to(start, head),
                        "body": _span(node),
                    }
                    sig = _text(start) + (" " + _text(head) if start is not head else "")
                    out.append(
                        SymbolDef(_text(name), "function", _span(name), kr_roles, sig, (), "function_definition")
                    )
                    break
            continue
        if t == "declaration":
            emitted[node.start_byte] = len(out)
            proto = _macro_prototype(node, children[index - 1] if index > 0 else None)
            if proto is not None:
                prev = children[index - 1] if index > 0 else None
                if proto.parent is not node and prev is not None:
                    del out[emitted.get(prev.start_byte, len(out)) :]
                    start = prev
                else:
                    start = node
                span = _from_to(start, node)
                out.append(
                    SymbolDef(
                        _text(proto),
                        "prototype",
                        _span(proto),
                        {"def": span, "sig": span},
                        _text(node) if start is node else _text(start) + " " + _text(node),
                        (),
                        t,
                    )
                )
                continue
        if t in (
            "preproc_ifdef",
            "preproc_if",
            "preproc_else",
            "preproc_elif",
            "linkage_specification",
            "declaration_list",
        ):
            _walk(node, out)
            continue
        doc = _leading_comment(node)
        if t == "function_definition":
            decl = node.child_by_field_name("declarator")
            name = _declarator_name(decl)
            body = node.child_by_field_name("body")
            if name is None or decl is None:
                continue
            roles = {"def": _span(node), "sig": span_between(node, decl)}
            if body is not None:
                roles["body"] = _span(body)
            if doc is not None:
                roles["doc"] = _span(doc)
            sig = _text(node)[: decl.end_byte - node.start_byte]
            out.append(SymbolDef(_text(name), "function", _span(name), roles, sig, (), t))
        elif t == "declaration":
            for decl in node.children_by_field_name("declarator"):
                name = _declarator_name(decl)
                if name is None or _text(name) in _TYPE_WORDS:
                    continue
                is_proto = decl.type == "function_declarator" or (
                    decl.type == "pointer_declarator" and "(" in _text(decl)
                )
                roles = {"def": _span(node), "sig": _span(node)}
                if doc is not None:
                    roles["doc"] = _span(doc)
                out.append(
                    SymbolDef(
                        _text(name), "prototype" if is_proto else "variable", _span(name), roles, _text(node), (), t
                    )
                )
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
                    out.append(SymbolDef(_text(name), "typedef", _span(name), roles, _text(node), (), t))
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
            out.append(SymbolDef(_text(name), "macro", _span(name), roles, sig, (), t))


def _record_types(node: Node, out: list[SymbolDef], doc: Node | None, top: Node | None = None) -> None:
    """Named struct/union/enum definitions (with a body) inside ``node``, and their members."""
    candidates = (
        [top]
        if top is not None
        else [c for c in node.named_children if c.type in ("struct_specifier", "union_specifier", "enum_specifier")]
    )
    for spec in candidates:
        name = spec.child_by_field_name("name")
        body = spec.child_by_field_name("body")
        if name is None and body is not None and spec.type == "enum_specifier":
            # An anonymous enum (`typedef enum { RED, GREEN } color;`): its values are file-scope
            # names of their own, found by their plain name.
            for member in body.named_children:
                mname = member.child_by_field_name("name") if member.type == "enumerator" else None
                if mname is not None:
                    out.append(
                        SymbolDef(
                            _text(mname),
                            "enumerator",
                            _span(mname),
                            {"def": _span(member), "sig": _span(member)},
                            _text(member),
                            (),
                            member.type,
                        )
                    )
            continue
        if name is None or body is None:
            continue
        kind = spec.type.split("_")[0]
        tag = _text(name)
        roles = {"def": _span(spec), "sig": span_between(spec, name), "body": _span(body)}
        if doc is not None:
            roles["doc"] = _span(doc)
        out.append(SymbolDef(tag, kind, _span(name), roles, f"{kind} {tag}", (), spec.type))
        for member in body.named_children:
            if member.type == "field_declaration":
                for decl in member.children_by_field_name("declarator"):
                    mname = _declarator_name(decl)
                    if mname is not None:
                        out.append(
                            SymbolDef(
                                f"{tag}.{_text(mname)}",
                                "field",
                                _span(mname),
                                {"def": _span(member), "sig": _span(member)},
                                _text(member),
                                (),
                                member.type,
                            )
                        )
            elif member.type == "enumerator":
                mname = member.child_by_field_name("name")
                if mname is not None:
                    out.append(
                        SymbolDef(
                            f"{tag}.{_text(mname)}",
                            "enumerator",
                            _span(mname),
                            {"def": _span(member), "sig": _span(member)},
                            _text(member),
                            (),
                            member.type,
                        )
                    )
