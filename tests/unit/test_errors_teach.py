"""Errors that teach (issue 20): a selector that names nothing says what it probably meant.

Pinned bugs: ``src/click/core.py:737:9`` answered a bare "no such file";
``py://click.core#Context.findroot`` had no ``find_root`` among its
suggestions; E/AMBIGUOUS candidates carried 0-based ranges only, nothing an
agent could pass back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.errors import Ambiguous, NotFound
from lanser.resolve import resolve_target
from lanser.selectors import parse_selector
from lanser.workspace import Workspace

CORE = """\
class Context:
    def find_root(self) -> "Context":
        return self

    def find_object(self, kind: type) -> object:
        return kind()


class Group:
    def find_root(self) -> "Group":
        return self
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text("")
    (tmp_path / "click" / "core.py").write_text(CORE)
    return Workspace(tmp_path)


def _not_found(ws: Workspace, selector: str) -> NotFound:
    with pytest.raises(NotFound) as info:
        resolve_target(parse_selector(selector), ws, "utf-16")
    return info.value


def test_grep_style_position_under_a_wrong_prefix_suggests_the_cursor_meant(ws: Workspace) -> None:
    err = _not_found(ws, "src/click/core.py:5:9")
    assert err.details["suggestions"] == ["click/core.py@L5:C9"]
    assert "did you mean click/core.py@L5:C9?" in err.message and "PATH@L<line>:C<col>" in err.message
    # The suggestion works as given.
    target = resolve_target(parse_selector(err.details["suggestions"][0]), ws, "utf-16")
    assert target.path == "click/core.py" and target.start == (4, 8)


def test_a_cursor_or_file_in_the_wrong_directory_suggests_the_file_that_exists(ws: Workspace) -> None:
    assert _not_found(ws, "src/click/core.py@L2:C9").details["suggestions"] == ["click/core.py@L2:C9"]
    assert _not_found(ws, "core.py").details["suggestions"] == ["click/core.py"]
    assert "suggestions" not in _not_found(ws, "click/nothing.py").details


def test_a_misspelt_name_suggests_the_nearest_definitions(ws: Workspace) -> None:
    err = _not_found(ws, "py://click.core#Context.findroot")
    assert err.details["nearest"][0] == "py://click.core#Context.find_root"


def test_ambiguous_candidates_carry_a_selector_to_pass_back_and_a_preview(ws: Workspace) -> None:
    with pytest.raises(Ambiguous) as info:
        resolve_target(parse_selector('anchor://click/core.py#"def%20find_root(self)"'), ws, "utf-16")
    cands = info.value.details["candidates"]
    assert [c["selector"] for c in cands] == ["py://click.core#Context.find_root", "py://click.core#Group.find_root"]
    assert {c["preview"] for c in cands} == {'def find_root(self) -> "Context":', 'def find_root(self) -> "Group":'}
    for c in cands:  # each selector resolves, alone, to its candidate
        target = resolve_target(parse_selector(c["selector"]), ws, "utf-16")
        assert [target.start[0], target.point] == [c["range"][0], (c["range"][0], 8)]
