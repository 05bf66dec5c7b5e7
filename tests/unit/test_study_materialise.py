"""The study re-measures stored patches: an agent's patch, applied only inside its copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.errors import LanserError
from lanser.harness.study.diag import _materialise


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    tree = tmp_path / "tree"
    (tree / "src").mkdir(parents=True)
    (tree / "src" / "a.c").write_text("int a;\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.c").write_text("int secret;\n")
    (tree / "link").symlink_to(outside, target_is_directory=True)
    return tree, outside


@pytest.mark.parametrize("target", ["link/secret.c", "../outside/secret.c"])
def test_a_stored_patch_reaching_out_of_the_tree_is_refused_and_writes_nothing(tmp_path: Path, target: str) -> None:
    """A stored final patch is an agent's: one naming a file through a link out of the tree, or
    with ``..``, writes nothing outside. (The write was already refused by apply_changes; the
    old content is now also read through the jail, which this test cannot observe.)"""
    tree, outside = _tree(tmp_path)
    patch = f"--- a/{target}\n+++ b/{target}\n@@ -1 +1 @@\n-int secret;\n+int pwned;\n"
    with pytest.raises(LanserError):
        _materialise(tree, tmp_path / "copy", [patch])
    assert (outside / "secret.c").read_text() == "int secret;\n"


def test_the_copy_takes_a_patch_inside(tmp_path: Path) -> None:
    tree, _ = _tree(tmp_path)
    patch = "--- a/src/a.c\n+++ b/src/a.c\n@@ -1 +1 @@\n-int a;\n+int b;\n"
    assert _materialise(tree, tmp_path / "copy", [patch]) == ["src/a.c"]
    assert (tmp_path / "copy" / "src" / "a.c").read_text() == "int b;\n"
    assert (tree / "src" / "a.c").read_text() == "int a;\n"
