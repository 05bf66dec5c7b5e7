"""The kernel tasks' canary patch, on a stand-in for lib/cmdline_kunit.c (the real file is in the kernel
layer; tests/docker/test_kernel.py grades a task with it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lanser.harness.datasets.kernel import canary
from lanser.harness.grade.cleanroom import apply_start_patch, compile_globs
from lanser.harness.task.spec import CANARY_SLOT, DEFAULT_PROTECTED, Canary

CMDLINE = """static void cmdline_test_noint(struct kunit *test)
{
}

static struct kunit_case cmdline_test_cases[] = {
\tKUNIT_CASE(cmdline_test_noint),
\t{}
};
"""


def test_the_canary_is_the_suites_first_case_and_fails(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / canary.FILE).write_text(CMDLINE)
    field = Canary.model_validate(canary.canary(tmp_path))
    assert field.test == f"cmdline.{CANARY_SLOT}"
    guard = compile_globs(DEFAULT_PROTECTED)
    assert guard is not None and guard.match(canary.FILE)  # the agent cannot edit it away
    apply_start_patch(tmp_path, field.patch.replace(CANARY_SLOT, "abcdefghijkl"), "canary")
    text = (tmp_path / canary.FILE).read_text()
    assert "static void abcdefghijkl(struct kunit *test)\n{\n\tKUNIT_FAIL(" in text
    assert "cmdline_test_cases[] = {\n\tKUNIT_CASE(abcdefghijkl),\n\tKUNIT_CASE(cmdline_test_noint)," in text


def test_a_file_without_the_case_array_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / canary.FILE).write_text("int x;\n")
    with pytest.raises(ValueError, match="nowhere to go"):
        canary.canary(tmp_path)
