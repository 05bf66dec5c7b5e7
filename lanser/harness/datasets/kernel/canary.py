"""The kernel tasks' canary (``TaskSpec.canary``, docs/grading.md): a KUnit case that fails on purpose.

In a kernel task the agent's code is the whole machine, from the first instruction of the boot
to the last line of the console: a patch can print every KTAP line the grader reads and halt.
The canary is one more case of the ``cmdline`` suite, built into every kernel task's kernel,
first in its case array, under a name the grader draws each time it grades: a forgery cannot
print its result, an honest kernel reports it failed.
"""

from __future__ import annotations

from pathlib import Path

from lanser.harness.datasets.kernel import faults as kfaults
from lanser.harness.task.spec import CANARY_SLOT

__all__ = ["FILE", "canary"]

#: The test file the canary is added to (protected by the default globs: ``**/*_kunit.c``).
FILE = "lib/cmdline_kunit.c"
SUITE = "cmdline"
_CASES = "static struct kunit_case cmdline_test_cases[] = {\n"
_CASE = f'static void {CANARY_SLOT}(struct kunit *test)\n{{\n\tKUNIT_FAIL(test, "expected to fail");\n}}\n\n'


def canary(tree: Path) -> dict[str, str]:
    """The task's ``canary`` field for the kernel source at ``tree``."""
    old = (tree / FILE).read_bytes()
    text = old.decode()
    if text.count(_CASES) != 1:
        raise ValueError(f"{FILE} has no single {_CASES.strip()!r}: the canary has nowhere to go")
    new = text.replace(_CASES, _CASE + _CASES + f"\tKUNIT_CASE({CANARY_SLOT}),\n")
    return {"patch": kfaults.unified_diff(FILE, old, new.encode()), "test": f"{SUITE}.{CANARY_SLOT}"}
