"""Override families of Python methods: what a method rename must take along.

basedpyright renames a method through the references of *that* method: a
subclass's override, or the base method it overrides, is another symbol to
it. Renaming ``Shape.area`` alone then leaves ``Square.area`` behind,
silently ending the override: no diagnostic appears (some disappear: the
reward even goes up), and every call through the base class now runs the
base's code. lanser treats the overrides as part of the rename: left
behind, they make the plan partial (refused); with ``withOverrides`` they
are renamed too.

The class graph is read with tree-sitter from every Python file of the
workspace; a base class is matched by its simple name (the last dotted
component, subscripts dropped), so two classes of the same name both count:
an over-approximation that can only make lanser refuse, never break code.
Pure: it takes file contents and returns positions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["ClassInfo", "Method", "classes_of", "override_family", "unmatched_bases"]


@dataclass(frozen=True)
class Method:
    """A method definition: its class and the position of its name (0-based, code points)."""

    path: str
    cls: str
    name: str
    line: int
    col: int

    @property
    def where(self) -> tuple[str, int, int]:
        return self.path, self.line, self.col


@dataclass
class ClassInfo:
    path: str
    qualname: str
    bases: tuple[str, ...]
    #: Members: methods and class-level assignments (``default_x = Other`` in a subclass overrides too).
    methods: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Per base: where its last name is (line, code-point column), for the server to resolve; None when
    #: the base is no name at all (a call result, a lambda).
    base_refs: tuple[tuple[int, int] | None, ...] = ()
    #: Where the class's own name is (line, code-point column).
    name_at: tuple[int, int] = (0, 0)

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]


def classes_of(files: Iterable[tuple[str, bytes]]) -> list[ClassInfo]:
    """Every class of the given (path, content) Python files, with simple base names and methods."""
    from lanser.syntax import python

    out: list[ClassInfo] = []
    for path, data in files:
        tree = python.parse(data)
        lines = data.split(b"\n")
        _walk(tree.root_node, path, [], lines, out)
    return out


def _walk(node: object, path: str, scope: list[str], lines: list[bytes], out: list[ClassInfo]) -> None:
    for child in getattr(node, "children", ()):
        inner = child.child_by_field_name("definition") if child.type == "decorated_definition" else child
        if inner is None:
            continue
        if inner.type == "class_definition":
            name_node = inner.child_by_field_name("name")
            name = _text(name_node)
            supers = inner.child_by_field_name("superclasses")
            info = ClassInfo(
                path,
                ".".join([*scope, name]),
                _bases(supers),
                base_refs=_base_refs(supers, lines),
                name_at=_at(name_node, lines),
            )
            body = inner.child_by_field_name("body")
            for member in getattr(body, "children", ()):
                fn = member.child_by_field_name("definition") if member.type == "decorated_definition" else member
                if fn is not None and fn.type == "function_definition":
                    ident = fn.child_by_field_name("name")
                    info.methods.setdefault(_text(ident), _at(ident, lines))
                elif member.type == "expression_statement":
                    for assign in member.named_children:
                        left = assign.child_by_field_name("left") if assign.type == "assignment" else None
                        if left is not None and left.type == "identifier":
                            info.methods.setdefault(_text(left), _at(left, lines))
            out.append(info)
            _walk(body, path, [*scope, name], lines, out)
        elif inner.type == "function_definition":
            _walk(
                inner.child_by_field_name("body"), path, [*scope, _text(inner.child_by_field_name("name"))], lines, out
            )


def _text(node: object) -> str:
    raw: bytes = getattr(node, "text", b"") or b""
    return raw.decode("utf-8", "replace")


def _at(node: object, lines: list[bytes]) -> tuple[int, int]:
    row, col = getattr(node, "start_point", (0, 0))
    return row, len(lines[row][:col].decode("utf-8", "replace")) if row < len(lines) else col


def _base_refs(arglist: object, lines: list[bytes]) -> tuple[tuple[int, int] | None, ...]:
    out: list[tuple[int, int] | None] = []
    for arg in getattr(arglist, "named_children", ()):
        if arg.type == "keyword_argument":
            continue
        node = arg
        while node is not None and node.type in ("attribute", "subscript", "generic_type", "call"):
            node = (
                node.child_by_field_name(
                    {"attribute": "attribute", "subscript": "value", "call": "function"}.get(node.type, "")
                )
                if node.type != "generic_type"
                else (node.named_children[0] if node.named_children else None)
            )
        out.append(_at(node, lines) if node is not None and node.type == "identifier" else None)
    return tuple(out)


def _bases(arglist: object) -> tuple[str, ...]:
    names = []
    for arg in getattr(arglist, "named_children", ()):
        if arg.type == "keyword_argument":  # metaclass=..., total=...
            continue
        text = _text(arg).split("[", 1)[0].strip()
        if text:
            names.append(text.rsplit(".", 1)[-1])
    return tuple(names)


def override_family(classes: list[ClassInfo], declared: Iterable[tuple[str, int, int]]) -> list[Method]:
    """The overrides linked to the methods declared at ``declared`` positions, those excluded.

    Two definitions of a method name are linked when one class inherits from
    the other, or both inherit from a class that defines the name too.
    Dunder methods (protocols, not a family to rename) and name-mangled
    ``__private`` methods (never overridden) have no family.
    """
    by_name: dict[str, list[ClassInfo]] = defaultdict(list)
    for c in classes:
        by_name[c.name].append(c)
    children: dict[int, list[ClassInfo]] = defaultdict(list)
    for c in classes:
        for base in c.bases:
            for parent in by_name.get(base, ()):
                if parent is not c:
                    children[id(parent)].append(c)

    def ancestors(c: ClassInfo) -> list[ClassInfo]:
        seen: dict[int, ClassInfo] = {}
        stack = [c]
        while stack:
            for base in stack.pop().bases:
                for parent in by_name.get(base, ()):
                    if id(parent) not in seen and parent is not c:
                        seen[id(parent)] = parent
                        stack.append(parent)
        return list(seen.values())

    def descendants(c: ClassInfo) -> list[ClassInfo]:
        seen: dict[int, ClassInfo] = {}
        stack = [c]
        while stack:
            for child in children[id(stack.pop())]:
                if id(child) not in seen and child is not c:
                    seen[id(child)] = child
                    stack.append(child)
        return list(seen.values())

    declared = set(declared)
    family: dict[tuple[str, int, int], Method] = {}
    for c in classes:
        for name, (line, col) in c.methods.items():
            if (c.path, line, col) not in declared or name.startswith("__"):
                continue
            tops = [a for a in ancestors(c) if name in a.methods] + [c]
            for top in tops:
                for member in [top, *descendants(top)]:
                    if name in member.methods:
                        m = Method(member.path, member.qualname, name, *member.methods[name])
                        family[m.where] = m
    return sorted((m for w, m in family.items() if w not in declared), key=lambda m: m.where)


def unmatched_bases(classes: list[ClassInfo], names: Iterable[str]) -> list[tuple[ClassInfo, int]]:
    """Bases (class, index) that no workspace class matches by name, where it matters for ``names``.

    It matters on a class that defines one of ``names`` or has a subclass that does: such a
    base may be the renamed method's class reached through an expression (``reg.Base``, an
    alias, an attribute holding a class).  The caller asks the server what each one is.
    """
    wanted = set(names)
    by_name: dict[str, list[ClassInfo]] = defaultdict(list)
    for c in classes:
        by_name[c.name].append(c)
    todo = [c for c in classes if wanted & set(c.methods)]
    seen: dict[int, ClassInfo] = {}
    while todo:
        c = todo.pop()
        if id(c) in seen:
            continue
        seen[id(c)] = c
        for base in c.bases:
            todo.extend(by_name.get(base, ()))
    out = []
    for c in seen.values():
        for i, base in enumerate(c.bases):
            if base not in by_name:
                out.append((c, i))
    return sorted(out, key=lambda x: (x[0].path, x[0].name_at, x[1]))
