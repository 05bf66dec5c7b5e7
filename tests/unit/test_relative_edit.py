"""The workspaceEdit a rename bundle shows does not depend on the order the server met the files."""

from __future__ import annotations

from typing import Any

from lanser.commands.common import relative_edit


def _edit(uri: str, *lines: int) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri, "version": None},
        "edits": [
            {"newText": "b", "range": {"start": {"line": ln, "character": 4}, "end": {"line": ln, "character": 5}}}
            for ln in lines
        ],
    }


def rel(uri: str) -> str:
    return uri.removeprefix("file:///ws/")


def test_text_edits_are_listed_by_path_and_position_whatever_the_servers_order() -> None:
    """A warm daemon and a fresh process gave the same rename two bundleIds: basedpyright lists the
    files of a WorkspaceEdit in the order it met them, which the daemon's history decides."""
    one = {"documentChanges": [_edit("file:///ws/z.py", 9, 2), _edit("file:///ws/a.py", 1)]}
    other = {"documentChanges": [_edit("file:///ws/a.py", 1), _edit("file:///ws/z.py", 2, 9)]}
    assert relative_edit(one, rel) == relative_edit(other, rel)
    shown = relative_edit(one, rel)["documentChanges"]
    assert [c["textDocument"]["uri"] for c in shown] == ["a.py", "z.py"]
    assert [e["range"]["start"]["line"] for e in shown[1]["edits"]] == [2, 9]
    changes = relative_edit({"changes": {"file:///ws/z.py": _edit("", 7, 3)["edits"]}}, rel)["changes"]
    assert [e["range"]["start"]["line"] for e in changes["z.py"]] == [3, 7]


def test_file_operations_keep_their_order() -> None:
    """Creating, renaming or deleting a file, then editing it: the order is the meaning."""
    ops = {
        "documentChanges": [
            {"kind": "rename", "oldUri": "file:///ws/z.py", "newUri": "file:///ws/a.py"},
            _edit("file:///ws/a.py", 1),
        ]
    }
    shown = relative_edit(ops, rel)["documentChanges"]
    assert shown[0] == {"kind": "rename", "oldUri": "z.py", "newUri": "a.py"}
    assert shown[1]["textDocument"]["uri"] == "a.py"
