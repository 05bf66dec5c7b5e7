"""The task field mined tasks need: ``test_patch``, hidden tests applied only by the grader."""

from __future__ import annotations

import pytest

from lanser.harness.task.spec import TaskSpec

_BASE = {
    "id": "t/1",
    "language": "c",
    "source": {"kind": "dir", "path": "p"},
    "commands": {"build": "make", "test": "make test"},
    "problem": "p",
    "gold_patch": "--- a/lib.c\n+++ b/lib.c\n@@ -1 +1 @@\n-a\n+b\n",
}
_TEST = "--- a/tests/t.c\n+++ b/tests/t.c\n@@ -1 +1 @@\n-x\n+y\n"


def test_test_patch_must_write_protected_paths_only() -> None:
    """A hidden test the agent could edit (a path outside ``protected``) is refused: the
    agent would see and change the very test that grades it."""
    assert TaskSpec.model_validate({**_BASE, "test_patch": _TEST}).test_patch == _TEST
    with pytest.raises(ValueError, match="not protected"):
        TaskSpec.model_validate({**_BASE, "test_patch": _TEST.replace("tests/t.c", "lib2.c")})
    with pytest.raises(ValueError, match="not protected"):
        TaskSpec.model_validate({**_BASE, "test_patch": _TEST, "protected": []})
    with pytest.raises(ValueError, match="outside|relative"):
        TaskSpec.model_validate({**_BASE, "test_patch": _TEST.replace("tests/t.c", "../t.c")})


def test_test_patch_unset_keeps_the_key() -> None:
    """Tasks without hidden tests keep the keys their stored results are filed under."""
    plain = TaskSpec.model_validate(_BASE)
    assert plain.key() == TaskSpec.model_validate({**_BASE, "test_patch": None}).key()
    assert plain.key() != TaskSpec.model_validate({**_BASE, "test_patch": _TEST}).key()
