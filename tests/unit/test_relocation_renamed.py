"""Anchors survive a renamed file as they survive a moved directory (issue 20).

Pinned bug: ``anchor://pkg/core.py#"def load_data("`` after ``git mv
pkg/core.py pkg/core_moved.py`` answered E/NOT_FOUND (only files keeping
the old name were searched), while the same anchor after ``pkg/`` moved
under ``src/`` relocated.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.errors import Ambiguous, NotFound
from lanser.resolve import resolve_target
from lanser.selectors import parse_selector
from lanser.workspace import Workspace

CORE = """\
def load_data(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class Loader:
    def load(self, path: str) -> bytes:
        return load_data(path)
"""


def _ws(tmp_path: Path, files: dict[str, str]) -> Workspace:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return Workspace(tmp_path)


def test_anchor_follows_a_renamed_file(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"pkg/__init__.py": "", "pkg/core_moved.py": CORE, "pkg/other.py": "x = 1\n"})
    t = resolve_target(
        parse_selector('anchor://pkg/core.py#"def%20load_data(path:%20str)%20->%20bytes:"'), ws, "utf-16"
    )
    assert t.path == "pkg/core_moved.py"
    assert t.point == (0, 4)  # on the name, as for the file under its old name
    assert 0.75 <= t.confidence < 1.0


def test_renamed_and_moved_file_still_found_and_a_copy_is_ambiguous(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"src/pkg/loading.py": CORE})
    t = resolve_target(parse_selector('anchor://pkg/core.py#"def%20load(self,%20path:%20str)"'), ws, "utf-16")
    assert (t.path, t.point) == ("src/pkg/loading.py", (6, 8))
    ws = _ws(tmp_path, {"lib/pkg/loading_copy.py": CORE})  # as close to the old path: no silent pick
    with pytest.raises(Ambiguous) as info:
        resolve_target(parse_selector('anchor://pkg/core.py#"def%20load(self,%20path:%20str)"'), ws, "utf-16")
    assert {c["path"] for c in info.value.details["candidates"]} == {"src/pkg/loading.py", "lib/pkg/loading_copy.py"}


def test_text_found_nowhere_is_still_not_found(tmp_path: Path) -> None:
    ws = _ws(tmp_path, {"pkg/core_moved.py": CORE})
    with pytest.raises(NotFound):
        resolve_target(parse_selector('anchor://pkg/core.py#"def%20save_data("'), ws, "utf-16")


def test_a_symbol_id_is_a_selector(tmp_path: Path) -> None:
    """Issue 20: the symbolId a bundle reports could not be passed back."""
    ws = _ws(tmp_path, {"pkg/__init__.py": "", "pkg/core.py": CORE, "csrc/x.c": "int twice(int v) { return 2 * v; }\n"})
    for sel in ("py://pkg.core#Loader.load", 'anchor://pkg/core.py#"def%20load_data("', "c://csrc/x.c#twice"):
        first = resolve_target(parse_selector(sel), ws, "utf-16")
        assert first.symbol_id is not None
        again = resolve_target(parse_selector(first.symbol_id), ws, "utf-16")
        assert (again.path, again.point, again.symbol_id) == (first.path, first.point, first.symbol_id)
    with pytest.raises(NotFound, match="no definition has symbolId"):
        resolve_target(parse_selector("sym:00000000000000000000"), ws, "utf-16")


def test_a_file_that_only_contains_the_text_is_no_rename(tmp_path: Path) -> None:
    """A renamed file keeps the old stem or the old directory; any other file holding the text (an
    import of the anchored name, a copy elsewhere) is not where the anchor went."""
    ws = _ws(tmp_path, {"other/unrelated.py": CORE})
    with pytest.raises(NotFound):
        resolve_target(parse_selector('anchor://pkg/core.py#"def%20load_data("'), ws, "utf-16")
