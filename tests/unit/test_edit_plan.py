"""lanser.edits.plan and lanser.edits.guards: planning an edit, byte for byte, and refusing bad ones.

No language server here: WorkspaceEdits are written by hand, files live in
``tmp_path``, and the diff is checked by a real ``git apply``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lanser.edits import guards
from lanser.edits.apply import apply_changes
from lanser.edits.plan import ChangeSet, FileChange, apply_text_edits, decode, encode, plan_workspace_edit, uri_path
from lanser.errors import ApplyConflict, FsPermissions, IndexingUnsupported, NotFound

ENCODINGS = ("utf-16", "utf-8", "utf-32")


def E(l1: int, c1: int, l2: int, c2: int, text: str) -> dict[str, Any]:  # noqa: N802 - reads like a literal
    """One LSP TextEdit."""
    return {"range": {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}, "newText": text}


# --------------------------------------------------------------------------
# apply_text_edits: positions in every encoding


@pytest.mark.parametrize("enc", ENCODINGS)
def test_ascii_positions_are_the_same_in_every_encoding(enc: str) -> None:
    data = b"def total(xs):\n    return sum(xs)\n"
    out = apply_text_edits(data, [E(0, 4, 0, 9, "grand_total"), E(1, 15, 1, 17, "items")], enc)
    assert out == b"def grand_total(xs):\n    return sum(items)\n"


@pytest.mark.parametrize(
    ("enc", "old_col", "emoji"),
    [
        ("utf-16", 10, (5, 7)),  # the emoji is a surrogate pair: 2 units
        ("utf-8", 12, (5, 9)),  # ... 4 bytes
        ("utf-32", 9, (5, 6)),  # ... 1 code point
    ],
)
def test_non_bmp_positions(enc: str, old_col: int, emoji: tuple[int, int]) -> None:
    data = 's = "\U0001f600"; old = 1\n'.encode()
    out = apply_text_edits(data, [E(0, old_col, 0, old_col + 3, "new")], enc)
    assert out == 's = "\U0001f600"; new = 1\n'.encode()
    out = apply_text_edits(data, [E(0, emoji[0], 0, emoji[1], "x")], enc)
    assert out == b's = "x"; old = 1\n'


@pytest.mark.parametrize(
    ("enc", "col"),
    [
        ("utf-16", 4),  # U+1F600 (2) + 'e' + U+0301 (1 each)
        ("utf-8", 7),  # 4 + 1 + 2
        ("utf-32", 3),  # three code points
    ],
)
def test_combining_and_non_bmp_positions(enc: str, col: int) -> None:
    data = "\U0001f600e\u0301x = 1\nx\n".encode()
    out = apply_text_edits(data, [E(0, col, 0, col + 1, "why")], enc)
    assert out == "\U0001f600e\u0301why = 1\nx\n".encode()


def test_position_on_a_later_line_is_unaffected_by_wide_characters_before_it() -> None:
    data = "\U0001f600\U0001f600\nab\n".encode()
    assert apply_text_edits(data, [E(1, 1, 1, 2, "Z")], "utf-16") == "\U0001f600\U0001f600\naZ\n".encode()


@pytest.mark.parametrize(("enc", "col"), [("utf-16", 1), ("utf-8", 2)])
def test_column_inside_one_character_is_refused(enc: str, col: int) -> None:
    with pytest.raises(IndexingUnsupported):
        apply_text_edits("\U0001f600\n".encode(), [E(0, col, 0, col, "x")], enc)


def test_positions_past_the_end_clamp() -> None:
    data = b"ab\ncd\n"
    assert apply_text_edits(data, [E(0, 99, 0, 99, "!")], "utf-16") == b"ab!\ncd\n"
    assert apply_text_edits(data, [E(9, 0, 9, 0, "tail\n")], "utf-16") == b"ab\ncd\ntail\n"


# --------------------------------------------------------------------------
# apply_text_edits: line endings and encodings survive


def test_crlf_file_keeps_crlf_and_inserted_newlines_become_crlf() -> None:
    data = b"import os\r\nx = 1\r\n"
    out = apply_text_edits(data, [E(1, 0, 1, 0, "import sys\nimport re\n")], "utf-16")
    assert out == b"import os\r\nimport sys\r\nimport re\r\nx = 1\r\n"
    assert b"\r\r\n" not in out and out.count(b"\n") == out.count(b"\r\n")


def test_crlf_file_takes_crlf_text_without_doubling_the_cr() -> None:
    out = apply_text_edits(b"a\r\nb\r\n", [E(1, 0, 1, 0, "c\r\n")], "utf-16")
    assert out == b"a\r\nc\r\nb\r\n"


def test_crlf_positions_count_lines_by_crlf() -> None:
    out = apply_text_edits(b"one\r\ntwo\r\nthree\r\n", [E(2, 0, 2, 5, "3")], "utf-8")
    assert out == b"one\r\ntwo\r\n3\r\n"


def test_lf_file_keeps_lf() -> None:
    data = b"import os\nx = 1\n"
    out = apply_text_edits(data, [E(1, 0, 1, 0, "import sys\nimport re\n")], "utf-16")
    assert out == b"import os\nimport sys\nimport re\nx = 1\n"
    assert b"\r" not in out


def test_utf8_bom_is_kept_and_not_counted_in_positions() -> None:
    data = b"\xef\xbb\xbfname = 1\n"
    out = apply_text_edits(data, [E(0, 0, 0, 4, "label")], "utf-16")
    assert out == b"\xef\xbb\xbflabel = 1\n"
    assert decode(out) == ("label = 1\n", "utf-8-sig")


def test_latin1_file_stays_latin1() -> None:
    data = "caf\u00e9 = 'na\u00efve'\n".encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    # 'caf\xe9' is 4 units in utf-16 (Latin-1 bytes are decoded, then positions are the LSP ones)
    out = apply_text_edits(data, [E(0, 0, 0, 4, "cr\u00e8me")], "utf-16")
    assert out == "cr\u00e8me = 'na\u00efve'\n".encode("latin-1")
    assert b"\xc3" not in out  # not silently turned into UTF-8


@pytest.mark.parametrize("text", ["\u20ac", "\U0001f600", "\u4e2d"])
def test_text_that_latin1_cannot_hold_is_an_apply_conflict(text: str) -> None:
    data = "caf\u00e9 = 1\n".encode("latin-1")
    with pytest.raises(ApplyConflict) as info:
        apply_text_edits(data, [E(0, 7, 0, 8, text)], "utf-16")
    assert info.value.code == "E/APPLY_CONFLICT"
    assert info.value.exit_code == 70
    assert "latin-1" in info.value.message


def test_encode_decode_round_trip() -> None:
    for raw in (b"plain\n", "\u00e9t\u00e9\n".encode(), b"\xef\xbb\xbfbom\n", b"caf\xe9\n"):
        text, enc = decode(raw)
        assert encode(text, enc) == raw


# --------------------------------------------------------------------------
# apply_text_edits: several edits


def test_overlapping_edits_are_refused() -> None:
    with pytest.raises(ApplyConflict) as info:
        apply_text_edits(b"abcdefghij\n", [E(0, 0, 0, 5, "X"), E(0, 3, 0, 8, "Y")], "utf-16")
    assert info.value.code == "E/APPLY_CONFLICT"


def test_insert_strictly_inside_a_replaced_range_is_an_overlap() -> None:
    with pytest.raises(ApplyConflict):
        apply_text_edits(b"abcdefghij\n", [E(0, 2, 0, 2, "!"), E(0, 0, 0, 5, "X")], "utf-16")


def test_overlap_across_lines_is_refused() -> None:
    with pytest.raises(ApplyConflict):
        apply_text_edits(b"one\ntwo\nthree\n", [E(0, 1, 1, 2, "X"), E(1, 0, 2, 0, "Y")], "utf-16")


def test_touching_edits_are_not_overlapping() -> None:
    out = apply_text_edits(b"abcdef\n", [E(0, 3, 0, 6, "DEF"), E(0, 0, 0, 3, "ABC")], "utf-16")
    assert out == b"ABCDEF\n"


def test_inserts_at_one_position_keep_their_order() -> None:
    out = apply_text_edits(b"x\n", [E(0, 0, 0, 0, "a"), E(0, 0, 0, 0, "b"), E(0, 0, 0, 0, "c")], "utf-16")
    assert out == b"abcx\n"


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
def test_many_edits_on_one_line_are_applied_right_to_left(order: list[int]) -> None:
    data = b"print(area(r), area(r * 2), area)\n"
    edits = [E(0, 6, 0, 10, "surface"), E(0, 15, 0, 19, "surface"), E(0, 28, 0, 32, "surface")]
    out = apply_text_edits(data, [edits[i] for i in order], "utf-16")
    assert out == b"print(surface(r), surface(r * 2), surface)\n"


def test_edits_that_change_line_count_do_not_shift_later_edits() -> None:
    data = b"a\nb\nc\n"
    out = apply_text_edits(data, [E(0, 0, 0, 1, "a1\na2\na3"), E(2, 0, 2, 1, "C"), E(1, 0, 2, 0, "")], "utf-16")
    assert out == b"a1\na2\na3\nC\n"


# --------------------------------------------------------------------------
# plan_workspace_edit


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = (tmp_path / "ws").resolve()
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "shapes.py").write_bytes(b"def area(r):\n    return 3 * r * r\n")
    (root / "pkg" / "report.py").write_bytes(b"from pkg.shapes import area\nprint(area(2))\n")
    (root / "pkg" / "old.py").write_bytes(b"OLD = 1\n")
    (root / "pkg" / "doomed.py").write_bytes(b"DOOMED = 1\n")
    return root


def _uri(root: Path, rel: str) -> str:
    return (root / rel).as_uri()


def _plan(root: Path, edit: dict[str, Any], enc: str = "utf-16") -> ChangeSet:
    def read(rel: str) -> bytes | None:
        p = root / rel
        return p.read_bytes() if p.is_file() else None

    return plan_workspace_edit(edit, enc, lambda uri: guards.jail_rel(root, uri_path(uri)), read)


def _by_path(cs: ChangeSet) -> dict[str, FileChange]:
    return {c.path: c for c in cs.changes}


def test_plan_changes_map(ws: Path) -> None:
    cs = _plan(
        ws,
        {
            "changes": {
                _uri(ws, "pkg/shapes.py"): [E(0, 4, 0, 8, "surface")],
                _uri(ws, "pkg/report.py"): [E(0, 23, 0, 27, "surface"), E(1, 6, 1, 10, "surface")],
            }
        },
    )
    by = _by_path(cs)
    assert sorted(by) == ["pkg/report.py", "pkg/shapes.py"]
    assert {c.op for c in cs.changes} == {"edit"}
    assert by["pkg/shapes.py"].old == b"def area(r):\n    return 3 * r * r\n"
    assert by["pkg/shapes.py"].new == b"def surface(r):\n    return 3 * r * r\n"
    assert by["pkg/report.py"].new == b"from pkg.shapes import surface\nprint(surface(2))\n"
    assert cs.paths == ["pkg/report.py", "pkg/shapes.py"]
    data = cs.to_data()
    assert [d["path"] for d in data] == ["pkg/report.py", "pkg/shapes.py"]
    assert all(d["oldHash"].startswith("sha256:") and d["oldHash"] != d["newHash"] for d in data)
    # planning wrote nothing
    assert (ws / "pkg" / "shapes.py").read_bytes() == b"def area(r):\n    return 3 * r * r\n"


def test_plan_drops_edits_that_change_nothing(ws: Path) -> None:
    cs = _plan(ws, {"changes": {_uri(ws, "pkg/shapes.py"): [E(0, 4, 0, 8, "area")]}})
    assert cs.changes == []


def test_plan_edit_of_a_missing_file_is_not_found(ws: Path) -> None:
    with pytest.raises(NotFound):
        _plan(ws, {"changes": {_uri(ws, "pkg/nope.py"): [E(0, 0, 0, 0, "x")]}})


def test_plan_document_changes_with_create_rename_delete(ws: Path) -> None:
    cs = _plan(
        ws,
        {
            "documentChanges": [
                {"textDocument": {"uri": _uri(ws, "pkg/shapes.py"), "version": 3}, "edits": [E(0, 4, 0, 8, "surface")]},
                {"kind": "create", "uri": _uri(ws, "pkg/new_mod.py")},
                {
                    "textDocument": {"uri": _uri(ws, "pkg/new_mod.py"), "version": None},
                    "edits": [E(0, 0, 0, 0, "NEW = 1\n")],
                },
                {"kind": "rename", "oldUri": _uri(ws, "pkg/old.py"), "newUri": _uri(ws, "pkg/renamed.py")},
                {
                    "textDocument": {"uri": _uri(ws, "pkg/renamed.py"), "version": None},
                    "edits": [E(0, 0, 0, 3, "RENAMED")],
                },
                {"kind": "delete", "uri": _uri(ws, "pkg/doomed.py")},
            ]
        },
    )
    by = _by_path(cs)
    assert {p: c.op for p, c in by.items()} == {
        "pkg/shapes.py": "edit",
        "pkg/new_mod.py": "create",
        "pkg/old.py": "rename",
        "pkg/doomed.py": "delete",
    }
    assert by["pkg/new_mod.py"].old is None and by["pkg/new_mod.py"].new == b"NEW = 1\n"
    assert by["pkg/old.py"].new_path == "pkg/renamed.py"
    assert by["pkg/old.py"].old == b"OLD = 1\n" and by["pkg/old.py"].new == b"RENAMED = 1\n"
    assert by["pkg/doomed.py"].old == b"DOOMED = 1\n" and by["pkg/doomed.py"].new is None
    assert cs.paths == sorted(["pkg/shapes.py", "pkg/new_mod.py", "pkg/old.py", "pkg/renamed.py", "pkg/doomed.py"])
    # the plan applies, and gives exactly what was planned
    apply_changes(ws, cs)
    assert (ws / "pkg" / "new_mod.py").read_bytes() == b"NEW = 1\n"
    assert (ws / "pkg" / "renamed.py").read_bytes() == b"RENAMED = 1\n"
    assert not (ws / "pkg" / "old.py").exists() and not (ws / "pkg" / "doomed.py").exists()
    assert (ws / "pkg" / "shapes.py").read_bytes().startswith(b"def surface(r):")


def test_create_of_an_existing_file_is_refused(ws: Path) -> None:
    with pytest.raises(ApplyConflict):
        _plan(ws, {"documentChanges": [{"kind": "create", "uri": _uri(ws, "pkg/old.py")}]})


def test_create_ignore_if_exists_leaves_the_file_alone(ws: Path) -> None:
    cs = _plan(
        ws,
        {"documentChanges": [{"kind": "create", "uri": _uri(ws, "pkg/old.py"), "options": {"ignoreIfExists": True}}]},
    )
    assert cs.changes == []


def test_create_overwrite_replaces_an_existing_file(ws: Path) -> None:
    cs = _plan(
        ws,
        {
            "documentChanges": [
                {"kind": "create", "uri": _uri(ws, "pkg/old.py"), "options": {"overwrite": True}},
                {
                    "textDocument": {"uri": _uri(ws, "pkg/old.py"), "version": None},
                    "edits": [E(0, 0, 0, 0, "FRESH = 2\n")],
                },
            ]
        },
    )
    (change,) = cs.changes
    assert change.new == b"FRESH = 2\n"
    # the existing bytes are what the transaction must check and could restore
    assert change.old == b"OLD = 1\n", f"overwrite planned as {change}: the existing content is lost from the plan"
    apply_changes(ws, cs)
    assert (ws / "pkg" / "old.py").read_bytes() == b"FRESH = 2\n"


def test_rename_onto_an_existing_file_is_refused(ws: Path) -> None:
    with pytest.raises(ApplyConflict):
        _plan(
            ws,
            {
                "documentChanges": [
                    {"kind": "rename", "oldUri": _uri(ws, "pkg/old.py"), "newUri": _uri(ws, "pkg/doomed.py")}
                ]
            },
        )


def test_rename_overwrite_replaces_the_target(ws: Path) -> None:
    cs = _plan(
        ws,
        {
            "documentChanges": [
                {
                    "kind": "rename",
                    "oldUri": _uri(ws, "pkg/old.py"),
                    "newUri": _uri(ws, "pkg/doomed.py"),
                    "options": {"overwrite": True},
                }
            ]
        },
    )
    assert cs.paths == ["pkg/doomed.py", "pkg/old.py"]
    apply_changes(ws, cs)
    assert not (ws / "pkg" / "old.py").exists()
    assert (ws / "pkg" / "doomed.py").read_bytes() == b"OLD = 1\n"


def test_rename_of_a_missing_file_is_not_found(ws: Path) -> None:
    with pytest.raises(NotFound):
        _plan(
            ws,
            {
                "documentChanges": [
                    {"kind": "rename", "oldUri": _uri(ws, "pkg/nope.py"), "newUri": _uri(ws, "pkg/x.py")}
                ]
            },
        )


def test_edit_then_rename_plans_from_the_bytes_on_disk(ws: Path) -> None:
    cs = _plan(
        ws,
        {
            "documentChanges": [
                {"textDocument": {"uri": _uri(ws, "pkg/old.py"), "version": 1}, "edits": [E(0, 0, 0, 3, "NEWER")]},
                {"kind": "rename", "oldUri": _uri(ws, "pkg/old.py"), "newUri": _uri(ws, "pkg/newer.py")},
            ]
        },
    )
    (change,) = cs.changes
    assert change.op == "rename" and change.new_path == "pkg/newer.py"
    assert change.new == b"NEWER = 1\n"
    assert change.old == b"OLD = 1\n", f"the rename's old bytes are the edited ones, not the file's: {change}"
    apply_changes(ws, cs)
    assert (ws / "pkg" / "newer.py").read_bytes() == b"NEWER = 1\n"


def test_delete_of_a_missing_file(ws: Path) -> None:
    with pytest.raises(NotFound):
        _plan(ws, {"documentChanges": [{"kind": "delete", "uri": _uri(ws, "pkg/nope.py")}]})
    cs = _plan(
        ws,
        {
            "documentChanges": [
                {"kind": "delete", "uri": _uri(ws, "pkg/nope.py"), "options": {"ignoreIfNotExists": True}}
            ]
        },
    )
    assert cs.changes == []


def test_edit_after_delete_is_not_found(ws: Path) -> None:
    with pytest.raises(NotFound):
        _plan(
            ws,
            {
                "documentChanges": [
                    {"kind": "delete", "uri": _uri(ws, "pkg/doomed.py")},
                    {"textDocument": {"uri": _uri(ws, "pkg/doomed.py"), "version": 1}, "edits": [E(0, 0, 0, 0, "x")]},
                ]
            },
        )


def test_edit_outside_the_workspace_is_refused_by_the_jail(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_bytes(b"SECRET = 1\n")
    with pytest.raises(FsPermissions):
        _plan(ws, {"changes": {outside.as_uri(): [E(0, 0, 0, 6, "PWNED")]}})
    with pytest.raises(FsPermissions):
        _plan(ws, {"changes": {"file://" + str(ws) + "/../outside.py": [E(0, 0, 0, 6, "PWNED")]}})
    with pytest.raises(FsPermissions):
        _plan(ws, {"documentChanges": [{"kind": "create", "uri": (tmp_path / "planted.py").as_uri()}]})
    with pytest.raises(FsPermissions):
        _plan(
            ws,
            {
                "documentChanges": [
                    {"kind": "rename", "oldUri": _uri(ws, "pkg/old.py"), "newUri": (tmp_path / "stolen.py").as_uri()}
                ]
            },
        )
    assert outside.read_bytes() == b"SECRET = 1\n"
    assert not (tmp_path / "planted.py").exists() and not (tmp_path / "stolen.py").exists()


def test_edit_through_a_symlink_pointing_out_is_refused(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "lib.py").write_bytes(b"X = 1\n")
    (ws / "linked_dir").symlink_to(outside, target_is_directory=True)
    (ws / "linked_file.py").symlink_to(outside / "lib.py")
    for rel in ("linked_dir/lib.py", "linked_file.py"):
        with pytest.raises(FsPermissions):
            _plan(ws, {"changes": {_uri(ws, rel): [E(0, 0, 0, 1, "Y")]}})
    assert (outside / "lib.py").read_bytes() == b"X = 1\n"


# --------------------------------------------------------------------------
# ChangeSet.diff() is a patch git applies


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@lanser.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@lanser.invalid",
    }
    return subprocess.run(["git", *args], cwd=root, env=env, capture_output=True, text=True, timeout=60)


def _git_repo(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    assert _git(root, "init", "-q", "-b", "main").returncode == 0
    assert _git(root, "add", "-A").returncode == 0
    assert _git(root, "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", "base").returncode == 0
    return root


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(".git/"):
            out[rel] = p.read_bytes()
    return out


def _after(before: dict[str, bytes], cs: ChangeSet) -> dict[str, bytes]:
    out = dict(before)
    for c in cs.changes:
        if c.op in ("delete", "rename"):
            del out[c.path]
        if c.op == "rename":
            assert c.new_path is not None and c.new is not None
            out[c.new_path] = c.new
        elif c.op in ("edit", "create"):
            assert c.new is not None
            out[c.path] = c.new
    return out


BASE = {
    "a.py": b"def area(r):\n    return 3 * r * r\n\n\nprint(area(1))\n",
    "sub/b.py": b"from a import area\n",
    "crlf.txt": b"one\r\ntwo\r\nthree\r\n",
    "noeol.txt": b"first\nlast",
    "gone.py": b"GONE = True\n",
    "empty_gone.py": b"",
    "old_name.py": b"OLD = 1\nKEEP = 2\n",
    "ff.py": b"A = 1\n\x0c\nB = 2\n",
}

DIFF_CASES: dict[str, list[FileChange]] = {
    "edit": [
        FileChange("a.py", "edit", BASE["a.py"], BASE["a.py"].replace(b"area", b"surface")),
        FileChange("sub/b.py", "edit", BASE["sub/b.py"], b"from a import surface\n"),
    ],
    "edit-crlf": [FileChange("crlf.txt", "edit", BASE["crlf.txt"], b"one\r\n2\r\nthree\r\n")],
    "edit-no-eol": [FileChange("noeol.txt", "edit", BASE["noeol.txt"], b"first\nfinal")],
    "edit-form-feed": [FileChange("ff.py", "edit", BASE["ff.py"], b"A = 1\n\x0c\nB = 3\n")],
    "create": [FileChange("sub/new.py", "create", None, b"NEW = 1\n")],
    "create-empty": [FileChange("sub/__init__.py", "create", None, b"")],
    "delete": [FileChange("gone.py", "delete", BASE["gone.py"], None)],
    "delete-empty": [FileChange("empty_gone.py", "delete", b"", None)],
    "rename": [FileChange("old_name.py", "rename", BASE["old_name.py"], BASE["old_name.py"], "sub/new_name.py")],
    "rename-and-edit": [
        FileChange("old_name.py", "rename", BASE["old_name.py"], b"NEW = 1\nKEEP = 2\n", "sub/new_name.py")
    ],
}
DIFF_CASES["everything"] = [
    DIFF_CASES["edit"][0],
    DIFF_CASES["create"][0],
    DIFF_CASES["delete"][0],
    DIFF_CASES["rename-and-edit"][0],
]


@pytest.mark.parametrize("case", sorted(DIFF_CASES))
def test_diff_is_accepted_by_git_apply(case: str, tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo", BASE)
    cs = ChangeSet(list(DIFF_CASES[case]))
    patch = tmp_path / "edit.patch"
    patch.write_bytes(cs.diff().encode("utf-8"))
    check = _git(repo, "apply", "--check", "-v", str(patch))
    assert check.returncode == 0, f"git apply --check refused the diff:\n{cs.diff()}\n{check.stderr}"
    done = _git(repo, "apply", str(patch))
    assert done.returncode == 0, done.stderr
    # and git's result is exactly the planned one (no stray files such as dev/null)
    assert _files(repo) == _after(BASE, cs), f"git applied the diff differently:\n{cs.diff()}"


def test_diff_names_every_changed_file(tmp_path: Path) -> None:
    cs = ChangeSet(list(DIFF_CASES["everything"]))
    diff = cs.diff()
    for header in (
        "diff --git a/a.py b/a.py",
        "--- /dev/null\n+++ b/sub/new.py",
        "--- a/gone.py\n+++ /dev/null",
        "rename from old_name.py\nrename to sub/new_name.py",
    ):
        assert header in diff
    assert diff.index("a/a.py") < diff.index("gone.py") < diff.index("old_name.py") < diff.index("sub/new.py")


# --------------------------------------------------------------------------
# guards.jail_rel and check_jail


def test_jail_rel_accepts_paths_inside(ws: Path) -> None:
    assert guards.jail_rel(ws, "pkg/shapes.py") == "pkg/shapes.py"
    assert guards.jail_rel(ws, ws / "pkg" / "shapes.py") == "pkg/shapes.py"
    assert guards.jail_rel(ws, "pkg/../pkg/shapes.py") == "pkg/shapes.py"
    # not yet existing, several levels deep
    assert guards.jail_rel(ws, "pkg/sub/deeper/new.py") == "pkg/sub/deeper/new.py"
    assert guards.jail_rel(ws, ws / "brand_new.py") == "brand_new.py"


@pytest.mark.parametrize(
    "path", ["../outside.py", "pkg/../../outside.py", "pkg/missing/../../../x.py", "missing/../../x.py"]
)
def test_jail_rel_refuses_dot_dot_out(ws: Path, path: str) -> None:
    with pytest.raises(FsPermissions) as info:
        guards.jail_rel(ws, path)
    assert info.value.code == "E/FS_PERMISSIONS" and info.value.exit_code == 71


def test_jail_rel_refuses_absolute_paths_outside(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "exists.py").write_bytes(b"")
    for path in (tmp_path / "exists.py", tmp_path / "not_yet.py", Path("/etc/passwd"), Path("/")):
        with pytest.raises(FsPermissions):
            guards.jail_rel(ws, path)
    # a sibling whose name starts like the workspace is still outside
    sibling = ws.parent / (ws.name + "-evil")
    sibling.mkdir()
    with pytest.raises(FsPermissions):
        guards.jail_rel(ws, sibling / "x.py")


def test_jail_rel_refuses_symlinks_pointing_out(ws: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.py").write_bytes(b"T = 1\n")
    (ws / "file_link.py").symlink_to(outside / "target.py")
    (ws / "dir_link").symlink_to(outside, target_is_directory=True)
    (ws / "pkg" / "nested_link").symlink_to("../../outside", target_is_directory=True)  # relative link
    for rel in (
        "file_link.py",
        "dir_link/target.py",
        "dir_link/new_file.py",
        "dir_link/new_dir/x.py",
        "pkg/nested_link/target.py",
    ):
        with pytest.raises(FsPermissions):
            guards.jail_rel(ws, rel)


def test_jail_rel_allows_symlinks_staying_inside(ws: Path) -> None:
    (ws / "alias.py").symlink_to(ws / "pkg" / "shapes.py")
    (ws / "pkgalias").symlink_to("pkg", target_is_directory=True)
    assert guards.jail_rel(ws, "alias.py") == "pkg/shapes.py"
    assert guards.jail_rel(ws, "pkgalias/report.py") == "pkg/report.py"


def test_check_jail_refuses_a_changeset_through_a_symlink(ws: Path, tmp_path: Path) -> None:
    (ws / "pkgalias").symlink_to("pkg", target_is_directory=True)
    (tmp_path / "outside").mkdir()
    (ws / "escape").symlink_to(tmp_path / "outside", target_is_directory=True)
    guards.check_jail(ws, ChangeSet([FileChange("pkg/shapes.py", "edit", b"a", b"b")]))  # fine
    with pytest.raises(FsPermissions):
        guards.check_jail(ws, ChangeSet([FileChange("pkgalias/shapes.py", "edit", b"a", b"b")]))
    with pytest.raises(FsPermissions):
        guards.check_jail(ws, ChangeSet([FileChange("pkg/old.py", "rename", b"a", b"a", "escape/old.py")]))


# --------------------------------------------------------------------------
# guards.check_filters


def _cs(*paths: str, rename_to: str | None = None) -> ChangeSet:
    changes = [FileChange(p, "edit", b"a", b"b") for p in paths]
    if rename_to:
        changes.append(FileChange("mv/src.py", "rename", b"a", b"a", rename_to))
    return ChangeSet(changes)


def test_check_filters_without_globs_allows_everything() -> None:
    guards.check_filters(_cs("a.py", "vendor/x.py"), (), ())


def test_check_filters_deny() -> None:
    with pytest.raises(FsPermissions) as info:
        guards.check_filters(_cs("src/a.py", "vendor/lib/x.py"), (), ("vendor/*",))
    assert info.value.details["path"] == "vendor/lib/x.py"
    guards.check_filters(_cs("src/a.py"), (), ("vendor/*",))


def test_check_filters_allow() -> None:
    guards.check_filters(_cs("src/a.py", "src/pkg/b.py"), ("src/*",), ())
    with pytest.raises(FsPermissions) as info:
        guards.check_filters(_cs("src/a.py", "docs/readme.md"), ("src/*",), ())
    assert info.value.details["path"] == "docs/readme.md"
    guards.check_filters(_cs("src/a.py", "docs/readme.md"), ("src/*", "*.md"), ())


def test_check_filters_deny_wins_over_allow() -> None:
    with pytest.raises(FsPermissions):
        guards.check_filters(_cs("src/generated/a.py"), ("src/*",), ("src/generated/*",))


def test_check_filters_sees_rename_targets() -> None:
    with pytest.raises(FsPermissions):
        guards.check_filters(_cs(rename_to="vendor/src.py"), (), ("vendor/*",))
    with pytest.raises(FsPermissions):
        guards.check_filters(_cs(rename_to="elsewhere/src.py"), ("mv/*",), ())


# --------------------------------------------------------------------------
# guards.dirty_files


def test_dirty_files_on_a_real_repo(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo", {"a.py": b"A = 1\n", "b.py": b"B = 1\n", "sub/c.py": b"C = 1\n"})
    assert guards.dirty_files(repo) == []
    (repo / "untracked.py").write_bytes(b"U = 1\n")
    assert guards.dirty_files(repo) == []  # untracked files are not "dirty"
    (repo / "a.py").write_bytes(b"A = 2\n")
    assert guards.dirty_files(repo) == ["a.py"]
    (repo / "staged.py").write_bytes(b"S = 1\n")
    (repo / "sub" / "c.py").write_bytes(b"C = 2\n")
    assert _git(repo, "add", "staged.py", "sub/c.py").returncode == 0
    assert guards.dirty_files(repo) == ["a.py", "staged.py", "sub/c.py"]
    # a subdirectory workspace reports its own files, relative to itself
    assert guards.dirty_files(repo / "sub") == ["c.py"]


def test_dirty_files_sees_a_deleted_tracked_file(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo", {"a.py": b"A = 1\n", "b.py": b"B = 1\n"})
    (repo / "b.py").unlink()
    assert guards.dirty_files(repo) == ["b.py"]


def test_dirty_files_outside_git_is_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_bytes(b"A = 1\n")
    assert _git(plain, "rev-parse", "--git-dir").returncode != 0, "tmp_path is inside a git repository"
    assert guards.dirty_files(plain) is None


def test_jail_of_a_relative_or_linked_root_is_its_real_self(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # bench run's default --out is relative (.lanser-bench): its work trees' roots were relative,
    # and every start_patch was refused as "outside the workspace jail".
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.c").write_text("int x;\n")
    (tmp_path / "link").symlink_to(tmp_path / "ws")
    monkeypatch.chdir(tmp_path)
    assert guards.jail_rel(Path("ws"), "a.c") == "a.c"
    assert guards.jail_rel(Path("link"), "a.c") == "a.c"
    assert guards.jail_rel(Path("ws"), "new/b.c") == "new/b.c"
    with pytest.raises(FsPermissions):
        guards.jail_rel(Path("ws"), "../link/a.c/../../x")
    with pytest.raises(FsPermissions):
        guards.jail_rel(Path("ws"), str(tmp_path / "elsewhere.c"))
