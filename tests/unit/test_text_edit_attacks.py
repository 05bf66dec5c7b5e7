"""Plain-text edits (lanser.edits.text), attacks first: a patch to a file no language server
serves must stay inside the workspace, out of .git and off protected paths, with the same
errors ``check --apply`` gives, and be written all or nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lanser.edits.text import apply_text, patch_paths, plan_text
from lanser.errors import ApplyConflict, BadRequest, FsPermissions
from lanser.harness.grade.cleanroom import compile_globs, unified_diff
from lanser.harness.task.spec import DEFAULT_PROTECTED

GRAMMAR = "%token A\n%%\ns: A ;\n"
FIXED = "%token A B\n%%\ns: A | B ;\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "parser.y").write_text(GRAMMAR)
    (root / "tests").mkdir()
    (root / "tests" / "jq.test").write_text("1\n1\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x").write_text("outside\n")
    return root


def _protected(rel: str) -> bool:
    rx = compile_globs(DEFAULT_PROTECTED)
    return bool(rx and rx.match(rel))


def _refused(ws: Path, patch: str, match: str) -> None:
    before = {p: p.read_bytes() for p in ws.parent.rglob("*") if p.is_file() and not p.is_symlink()}
    with pytest.raises(FsPermissions, match=match) as info:
        apply_text(ws, plan_text(ws, patch, protected=_protected))
    assert info.value.exit_code == 71 and info.value.code == "E/FS_PERMISSIONS"
    after = {p: p.read_bytes() for p in ws.parent.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before  # nothing written anywhere


def test_a_path_out_of_the_workspace_is_refused(ws: Path) -> None:
    _refused(ws, unified_diff("../outside/x", "outside\n", "pwned\n"), "outside the workspace|escapes")
    _refused(ws, unified_diff("../outside/new", None, "pwned\n"), "outside the workspace|escapes")
    absolute = str(ws.parent / "outside" / "x")
    patch = f"--- {absolute}\n+++ {absolute}\n@@ -1 +1 @@\n-outside\n+pwned\n"
    _refused(ws, patch, "outside the workspace")


def test_a_symlink_leaving_the_workspace_is_refused(ws: Path) -> None:
    os.symlink(ws.parent / "outside" / "x", ws / "link.txt")
    os.symlink(ws.parent / "outside", ws / "out")
    _refused(ws, unified_diff("link.txt", "outside\n", "pwned\n"), "outside the workspace")
    _refused(ws, unified_diff("out/x", "outside\n", "pwned\n"), "outside the workspace")
    _refused(ws, unified_diff("out/created", None, "pwned\n"), "outside the workspace")
    assert not (ws.parent / "outside" / "created").exists()


def test_a_symlink_inside_the_workspace_is_refused_too(ws: Path) -> None:
    os.symlink("src/parser.y", ws / "alias.y")  # writing through it would change another file
    _refused(ws, unified_diff("alias.y", GRAMMAR, FIXED), "symlink")


def test_git_and_lanser_state_are_refused(ws: Path) -> None:
    _refused(ws, unified_diff(".git/config", "[core]\n", '[core]\n\tfsmonitor = "touch /tmp/x"\n'), r"\.git")
    _refused(ws, unified_diff(".git/hooks/pre-commit", None, "#!/bin/sh\n"), r"\.git")
    _refused(ws, unified_diff(".lanser/x", None, "x\n"), r"\.lanser")
    _refused(ws, unified_diff("src/../.git/config", "[core]\n", "[x]\n"), "refused")


def test_a_protected_path_is_refused(ws: Path) -> None:
    _refused(ws, unified_diff("tests/jq.test", "1\n1\n", "1\n2\n"), "protected")
    _refused(ws, unified_diff("tests/new.test", None, "x\n"), "protected")
    # The whole patch is refused, the unprotected file in it too.
    both = unified_diff("src/parser.y", GRAMMAR, FIXED) + unified_diff("tests/jq.test", "1\n1\n", "1\n2\n")
    _refused(ws, both, "protected")


def test_deny_and_allow_globs_as_check_takes_them(ws: Path) -> None:
    patch = unified_diff("src/parser.y", GRAMMAR, FIXED)
    with pytest.raises(FsPermissions, match="--deny"):
        plan_text(ws, patch, deny=("src/*",))
    with pytest.raises(FsPermissions, match="--allow"):
        plan_text(ws, patch, allow=("lib/*",))


def test_a_hunk_that_does_not_apply_writes_nothing(ws: Path) -> None:
    (ws / "src" / "lexer.l").write_text("%%\n.\n")
    good = unified_diff("src/lexer.l", "%%\n.\n", "%%\n. ;\n")
    bad = unified_diff("src/parser.y", "%token C\n%%\ns: C ;\n", FIXED)
    with pytest.raises(ApplyConflict, match="does not apply") as info:
        plan_text(ws, good + bad)
    assert info.value.exit_code == 70
    assert (ws / "src" / "lexer.l").read_text() == "%%\n.\n"
    with pytest.raises(BadRequest):
        plan_text(ws, "not a diff\n")


def test_a_text_edit_is_written_as_one_transaction(ws: Path) -> None:
    (ws / "src" / "builtin.jq").write_text("def f: 1;\n")
    patch = unified_diff("src/parser.y", GRAMMAR, FIXED) + unified_diff("src/builtin.jq", "def f: 1;\n", "def f: 2;\n")
    assert patch_paths(patch) == ["src/parser.y", "src/builtin.jq"]
    changes = plan_text(ws, patch, protected=_protected)
    assert (ws / "src" / "parser.y").read_text() == GRAMMAR  # planning writes nothing
    applied = apply_text(ws, changes)
    assert applied["applied"] and applied["via"] == "transaction"
    assert (ws / "src" / "parser.y").read_text() == FIXED
    assert (ws / "src" / "builtin.jq").read_text() == "def f: 2;\n"
    # The plan was made against the old bytes: applied again, it conflicts and writes nothing.
    with pytest.raises(ApplyConflict, match="changed since"):
        apply_text(ws, changes)
    assert (ws / "src" / "parser.y").read_text() == FIXED


def test_a_new_file_and_a_deletion(ws: Path) -> None:
    patch = unified_diff("src/config.h.in", None, "#undef HAVE_X\n") + unified_diff("src/parser.y", GRAMMAR, None)
    apply_text(ws, plan_text(ws, patch, protected=_protected))
    assert (ws / "src" / "config.h.in").read_text() == "#undef HAVE_X\n"
    assert not (ws / "src" / "parser.y").exists()
