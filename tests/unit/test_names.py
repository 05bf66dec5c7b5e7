"""New-name checks made before any server is asked (issue 17, finding 11)."""

from __future__ import annotations

import pytest

from lanser.edits.names import name_problem


@pytest.mark.parametrize(
    "name", ["class", "a b", "1abc", "a\x00b", "", "None", "__debug__", "\ufb01le", "x\n", "a" * 256, "lambda"]
)
def test_python_invalid(name: str) -> None:
    assert name_problem("python", name)


@pytest.mark.parametrize("name", ["match", "case", "type", "_", "caf\u00e9", "sum_areas", "_private", "X1"])
def test_python_valid(name: str) -> None:
    assert name_problem("python", name) is None


@pytest.mark.parametrize("name", ["int", "while", "_Bool", "nullptr", "a-b", "9x", "caf\u00e9", "a\x00", ""])
def test_c_invalid(name: str) -> None:
    assert name_problem("c", name)


def test_c_valid_and_cpp_keywords() -> None:
    assert name_problem("c", "class") is None and name_problem("cpp", "class")
    assert name_problem("c", "taxicab_2") is None
