"""The tests a candidate's hidden test change touches, for suites too big or too flaky to run whole (pure).

A project whose test runner takes test names (libuv's ``uv_run_tests NAME``) can
be validated on the tests the fix's own test change touches plus a fixed list,
instead of its whole suite: the test command holds :data:`PLACEHOLDER`, which
the miner replaces, task by task, with the names found here.  A name is the
first group of ``pattern`` (``TEST_IMPL\\((\\w+)\\)``) on the definition that
encloses a changed line of a test file after the change (the last definition at
or above it), or on a definition the change adds.  A changed line above every
definition of its file (a header, a test list) names nothing.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["NAME_RE", "PLACEHOLDER", "names", "substitute"]

#: Where a test command takes the touched tests' names.
PLACEHOLDER = "@TESTS@"
#: What a name may be: it is pasted into a shell command.
NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")


def names(before: dict[str, str | None], after: dict[str, str | None], pattern: re.Pattern[str]) -> list[str]:
    """The sorted names of the tests the change ``before`` -> ``after`` (path -> text, None: absent) touches."""
    found: set[str] = set()
    for path in sorted(after):
        old = (before.get(path) or "").splitlines()
        new = (after[path] or "").splitlines()
        if old == new:
            continue
        defs = [(i, m.group(1)) for i, line in enumerate(new) if (m := pattern.search(line)) and m.group(1)]
        for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            # An insertion or replacement: its lines j1..j2-1; a deletion: the line above where it was.
            for j in range(j1, j2) if j2 > j1 else (j1 - 1,):
                if j2 > j1 and not new[j].strip():
                    continue  # an added blank line (before a new test) is in none
                enclosing = [name for i, name in defs if i <= j]
                if enclosing:
                    found.add(enclosing[-1])
    bad = sorted(n for n in found if not NAME_RE.fullmatch(n))
    if bad:
        raise ValueError(f"test names a shell command cannot carry: {', '.join(bad)}")
    return sorted(found)


def substitute(command: str | None, tests: list[str]) -> str | None:
    """``command`` with :data:`PLACEHOLDER` replaced by ``tests``, space-separated."""
    return command.replace(PLACEHOLDER, " ".join(tests)) if command else command
