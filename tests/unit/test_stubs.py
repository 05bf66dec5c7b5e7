"""Which .pyi stubs declare a renamed Python symbol (lanser/edits/stubs.py), without a server."""

from __future__ import annotations

from lanser.edits.stubs import Companion, companions, declarations, definition_at, module_level

MORE_PY = b"__all__ = ['divide']\n\n\ndef divide(n, iterable):\n    return []\n\n\nclass Box:\n    def divide(self):\n        pass\n"
MORE_PYI = (
    b"from typing import overload\n\n@overload\ndef divide(n: int) -> list[int]: ...\n@overload\n"
    b"def divide(n: str) -> list[str]: ...\n\nclass Box:\n    def divide(self) -> None: ...\n"
)
INIT_PY = b"from ._funcs import astuple\n\n\ndef helper():\n    from ._funcs import astuple\n    return astuple\n"
INIT_PYI = b"def astuple(inst: object) -> tuple[object, ...]: ...\n"


def reader(files: dict[str, bytes]):
    return lambda rel: files.get(rel)


def test_definition_at_names_the_qualified_definition() -> None:
    assert definition_at(MORE_PY, 3, 4) == "divide"
    assert definition_at(MORE_PY, 8, 8) == "Box.divide"
    assert definition_at(MORE_PY, 4, 4) is None


def test_declarations_lists_every_overload_and_only_that_scope() -> None:
    assert declarations(MORE_PYI, "divide") == [(3, 4), (5, 4)]
    assert declarations(MORE_PYI, "Box.divide") == [(8, 8)]


def test_module_level_tells_a_re_export_from_a_local_import() -> None:
    assert module_level(INIT_PY, 0, 20)
    assert not module_level(INIT_PY, 4, 24)  # inside a function: no re-export


def test_the_stub_beside_the_defining_module_declares_the_same_qualname() -> None:
    files = {"pkg/more.py": MORE_PY, "pkg/more.pyi": MORE_PYI}
    got = companions([("pkg/more.py", "Box.divide")], [], "divide", set(files), reader(files))
    assert got == [Companion("pkg/more.pyi", "Box.divide", ((8, 8),))]


def test_a_module_level_re_export_brings_its_stub_along() -> None:
    files = {"attr/__init__.py": INIT_PY, "attr/__init__.pyi": INIT_PYI, "attr/_funcs.py": b"def astuple(i): ...\n"}
    got = companions(
        [("attr/_funcs.py", "astuple")], [("attr/__init__.py", 0, 20)], "astuple", set(files), reader(files)
    )
    assert got == [Companion("attr/__init__.pyi", "astuple", ((0, 4),))]
    # An import inside a function re-exports nothing.
    assert (
        companions([("attr/_funcs.py", "astuple")], [("attr/__init__.py", 4, 24)], "astuple", set(files), reader(files))
        == []
    )


def test_no_stub_no_companion_and_an_unreadable_stub_is_none() -> None:
    files = {"pkg/more.py": MORE_PY}
    assert companions([("pkg/more.py", "divide")], [], "divide", set(files), reader(files)) == []
    files2 = {"pkg/more.py": MORE_PY, "pkg/more.pyi": MORE_PYI}
    # read() refuses the stub (a symlink, outside the jail): nothing to rename with.
    assert companions([("pkg/more.py", "divide")], [], "divide", set(files2), reader({"pkg/more.py": MORE_PY})) == []


def test_a_stub_lacking_the_name_is_no_companion() -> None:
    files = {"pkg/more.py": MORE_PY, "pkg/more.pyi": b"def other() -> None: ...\n"}
    assert companions([("pkg/more.py", "divide")], [], "divide", set(files), reader(files)) == []


def test_renamed_from_the_stub_the_module_beside_it_is_the_companion() -> None:
    files = {"pkg/more.py": MORE_PY, "pkg/more.pyi": MORE_PYI}
    got = companions([("pkg/more.pyi", "divide")], [], "divide", set(files), reader(files))
    assert got == [Companion("pkg/more.py", "divide", ((3, 4),))]
