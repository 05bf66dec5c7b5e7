"""The suite's own layout: pytest imports test modules by basename (rootdir-relative "prepend"
mode), so two test files with one name in different tiers stop the whole run at collection on a
clean clone, while a developer's warm ``__pycache__`` may hide it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_unique_basename() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    clashes = sorted(name for name, n in names.items() if n > 1)
    assert not clashes, f"test modules sharing a basename (rename one of each): {clashes}"
