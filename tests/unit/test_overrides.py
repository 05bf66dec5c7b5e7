"""Override families (pure) and merging WorkspaceEdits."""

from __future__ import annotations

import pytest

from lanser.edits.overrides import classes_of, override_family
from lanser.edits.plan import merge_workspace_edits
from lanser.errors import ApplyConflict

FILES = {
    "a.py": b"import abc\n\n\nclass Base(abc.ABC):\n    def run(self) -> None: ...\n\n    def __init__(self) -> None: ...\n",
    "b.py": (b"from a import Base\nimport a\n\n\nclass Mid(a.Base):\n    pass\n\n\n"
             b"class Leaf(Mid, metaclass=type):\n    @property\n    def run(self) -> None: ...\n\n"
             b"    def __init__(self) -> None: ...\n\n\nclass Other(Generic[T]):\n    def run(self) -> None: ...\n\n\n"
             b"class Sibling(Other):\n    def run(self) -> None: ...\n"),
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
    return {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": end}},
            "newText": text}


def test_merge_keeps_each_edit_once_and_orders_them() -> None:
    a = {"documentChanges": [{"textDocument": {"uri": "f", "version": 1}, "edits": [edit("f", 3, 4, 7, "new")]}]}
    b = {"changes": {"f": [edit("f", 1, 0, 3, "new"), edit("f", 3, 4, 7, "new")], "g": [edit("g", 0, 0, 1, "x")]}}
    merged = merge_workspace_edits([a, b])
    assert merged == {"changes": {"f": [edit("f", 1, 0, 3, "new"), edit("f", 3, 4, 7, "new")],
                                  "g": [edit("g", 0, 0, 1, "x")]}}


@pytest.mark.parametrize("other", [edit("f", 3, 5, 9, "new"), edit("f", 3, 4, 7, "other")])
def test_overlapping_or_competing_edits_conflict(other: dict) -> None:
    with pytest.raises(ApplyConflict):
        merge_workspace_edits([{"changes": {"f": [edit("f", 3, 4, 7, "new")]}}, {"changes": {"f": [other]}}])


def test_file_operations_do_not_merge() -> None:
    with pytest.raises(ApplyConflict):
        merge_workspace_edits([{"documentChanges": [{"kind": "rename", "oldUri": "a", "newUri": "b"}]}])
