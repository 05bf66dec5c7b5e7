"""Override families (pure) and merging WorkspaceEdits."""

from __future__ import annotations

import pytest

from lanser.edits.overrides import classes_of, override_family
from lanser.edits.plan import merge_workspace_edits
from lanser.errors import ApplyConflict

FILES = {
    "a.py": b"import abc\n\n\nclass Base(abc.ABC):\n    def run(self) -> None: ...\n\n    def __init__(self) -> None: ...\n",
    "b.py": (
        b"from a import Base\nimport a\n\n\nclass Mid(a.Base):\n    pass\n\n\n"
        b"class Leaf(Mid, metaclass=type):\n    @property\n    def run(self) -> None: ...\n\n"
        b"    def __init__(self) -> None: ...\n\n\nclass Other(Generic[T]):\n    def run(self) -> None: ...\n\n\n"
        b"class Sibling(Other):\n    def run(self) -> None: ...\n"
    ),
    "c.py": b"def outer():\n    class Base:\n        def r\xc3\xa9sum\xc3\xa9(self): ...\n    return Base\n",
}


def family(path: str, line: int, col: int) -> list[tuple[str, str, int, int]]:
    return [(m.path, m.cls, m.line, m.col) for m in override_family(classes_of(FILES.items()), [(path, line, col)])]


def test_classes_keep_simple_base_names_and_method_positions_in_code_points() -> None:
    by_name = {(c.path, c.qualname): c for c in classes_of(FILES.items())}
    assert by_name[("b.py", "Mid")].bases == ("Base",)
    assert by_name[("b.py", "Leaf")].bases == ("Mid",)  # keyword arguments are no base
    assert by_name[("b.py", "Other")].bases == ("Generic",)
    assert by_name[("b.py", "Leaf")].methods["run"] == (10, 8)  # decorated: the name after `def`
    assert by_name[("c.py", "outer.Base")].methods["résumé"] == (2, 12)


def test_family_goes_down_through_classes_that_do_not_define_the_name() -> None:
    assert family("a.py", 4, 8) == [("b.py", "Leaf", 10, 8)]


def test_family_goes_up_to_the_base_and_over_to_the_nested_class_of_the_same_name() -> None:
    # `c.py outer.Base` shares the simple name `Base`, but defines no `run`: not in the family
    assert family("b.py", 10, 8) == [("a.py", "Base", 4, 8)]


def test_siblings_are_linked_only_through_a_base_that_defines_the_name() -> None:
    assert family("b.py", 16, 8) == [("b.py", "Sibling", 20, 8)]
    assert family("b.py", 20, 8) == [("b.py", "Other", 16, 8)]


def test_dunders_and_functions_have_no_family() -> None:
    assert family("a.py", 6, 8) == []
    assert family("b.py", 0, 0) == []


def edit(uri: str, line: int, col: int, end: int, text: str) -> dict:
    return {
        "range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": end}},
        "newText": text,
    }


def test_merge_keeps_each_edit_once_and_orders_them() -> None:
    a = {"documentChanges": [{"textDocument": {"uri": "f", "version": 1}, "edits": [edit("f", 3, 4, 7, "new")]}]}
    b = {"changes": {"f": [edit("f", 1, 0, 3, "new"), edit("f", 3, 4, 7, "new")], "g": [edit("g", 0, 0, 1, "x")]}}
    merged = merge_workspace_edits([a, b])
    assert merged == {
        "changes": {"f": [edit("f", 1, 0, 3, "new"), edit("f", 3, 4, 7, "new")], "g": [edit("g", 0, 0, 1, "x")]}
    }


@pytest.mark.parametrize("other", [edit("f", 3, 5, 9, "new"), edit("f", 3, 4, 7, "other")])
def test_overlapping_or_competing_edits_conflict(other: dict) -> None:
    with pytest.raises(ApplyConflict):
        merge_workspace_edits([{"changes": {"f": [edit("f", 3, 4, 7, "new")]}}, {"changes": {"f": [other]}}])


def test_file_operations_do_not_merge() -> None:
    with pytest.raises(ApplyConflict):
        merge_workspace_edits([{"documentChanges": [{"kind": "rename", "oldUri": "a", "newUri": "b"}]}])


def test_subclass_class_attribute_overrides_too() -> None:
    """Issue 19: `default_x = Other` in a subclass overrides Base.default_x; the family missed it."""
    from lanser.edits.overrides import classes_of, override_family

    src = b"class Base:\n    default_x = int\n\n\nclass Sub(Base):\n    default_x = str\n    y: int = 3\n"
    classes = classes_of([("m.py", src)])
    assert classes[1].methods == {"default_x": (5, 4), "y": (6, 4)}
    fam = override_family(classes, [("m.py", 1, 4)])
    assert [(m.cls, m.name, m.line, m.col) for m in fam] == [("Sub", "default_x", 5, 4)]


def test_bases_that_are_expressions_are_left_for_the_server() -> None:
    """Issue 19: `class Bad(reg.Base)` where reg.Base holds a class: no workspace class is named Base, so the
    base is unmatched and its last name's position is kept for the server to resolve."""
    from lanser.edits.overrides import classes_of, unmatched_bases

    src = (
        b"class Engine:\n    def start(self): ...\n\n\nclass Bad(reg.Base):\n    def start(self): ...\n\n\n"
        b"class Mid(make()):\n    pass\n\n\nclass Leaf(Mid):\n    def start(self): ...\n\n\n"
        b"class Far(other.X):\n    def stop(self): ...\n"
    )
    classes = classes_of([("m.py", src)])
    got = [(c.name, i, c.base_refs[i]) for c, i in unmatched_bases(classes, {"start"})]
    assert got == [("Bad", 0, (4, 14)), ("Mid", 0, (8, 10))]
