"""Patches, problem statements and test-output excerpts of generated tasks (pure).

Statements quote test and sanitizer output with what changes from run to
run (timings, pids, addresses) masked, so a dataset generated twice with
the same seed is byte-identical.
"""

from __future__ import annotations

import difflib
import re

from lanser.harness.datasets.generate.faults import Edit, Function

__all__ = ["excerpt", "howto", "implement_problem", "normalise", "repair_problem", "unified_diff"]

_MASKS = (
    (re.compile(r"\b\d+\.\d+ sec\b"), "N sec"),
    (re.compile(r"==\d+=="), "==PID=="),
    (re.compile(r"\b0x[0-9a-f]{6,}\b"), "0xADDR"),
    (re.compile(r"\(pc 0xADDR bp 0xADDR sp 0xADDR T\d+\)"), "(pc, bp, sp)"),
    (re.compile(r"\b(thread T\d+)\b"), r"\1"),
    (re.compile(r"Total Test time \(real\) = .*"), "Total Test time (real) = N sec"),
)


def normalise(text: str) -> str:
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def unified_diff(path: str, old: bytes, new: bytes) -> str:
    """A ``--- a/PATH`` / ``+++ b/PATH`` diff with three lines of context."""
    lines = difflib.unified_diff(
        old.decode("utf-8", "replace").splitlines(keepends=True),
        new.decode("utf-8", "replace").splitlines(keepends=True),
        f"a/{path}",
        f"b/{path}",
        n=3,
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def excerpt(output: str, failing: list[str], *, max_lines: int = 30) -> str:
    """The lines of a test log about ``failing`` tests and errors, masked, each once,
    at most ``max_lines`` of them."""
    lines = normalise(output).splitlines()
    keep: list[str] = []
    seen: set[str] = set()
    for line in lines:
        if not line.strip() or line in seen:
            continue
        if any(name in line for name in failing) or re.search(
            r"(?i)\b(fail\w*|error|assert\w*|expected|SUMMARY|Segmentation|Aborted|abort)\b", line
        ):
            seen.add(line)
            keep.append(line)
    if not keep:
        keep = lines[-max_lines:]
    if len(keep) > max_lines:
        keep = keep[:max_lines] + [f"... ({len(keep) - max_lines} more lines)"]
    return "\n".join(keep)


def howto(commands: dict[str, str]) -> str:
    """One line on how the task is built and tested (the full commands are in the task file)."""
    if "ctest" in commands["test"] and "build-asan" in commands["sanitize"]:
        return (
            "The plain build is in build/ (`cmake --build build`, tests: `cd build && ctest`); the sanitized "
            "build (ASan + UBSan) is in build-asan/ with the same tests."
        )
    return f"Build: `{commands['build']}`; tests: `{commands['test']}`; sanitizers: `{commands['sanitize']}`."


def implement_problem(
    fn: Function, callers: list[tuple[str, int, str]], failing: list[str], commands: dict[str, str]
) -> str:
    parts = [
        f"Implement `{fn.name}` in {fn.path}. Its body was removed: a stub now stands in for it "
        f"and the tests that exercise it fail.",
        "",
        "Signature:",
        f"    {fn.signature}",
    ]
    if fn.doc:
        parts += ["", "Its comment:", *[f"    {line}" for line in fn.doc.splitlines()]]
    if callers:
        shown = callers[:8]
        parts += ["", "Called from:", *[f"    {caller} ({path}:{line})" for path, line, caller in shown]]
        if len(callers) > len(shown):
            parts.append(f"    ... and {len(callers) - len(shown)} more call sites")
    parts += [
        "",
        "Tests that cover it (failing now): " + ", ".join(failing),
        howto(commands),
        "Done when the build succeeds, every test passes and the sanitizer build reports nothing new.",
    ]
    return "\n".join(parts)


def repair_problem(
    edit: Edit,
    failing: list[str],
    test_log: str,
    sanitizer: list[dict[str, str]],
    sanitizer_log: str,
    commands: dict[str, str],
) -> str:
    parts = [f"A bug was introduced in {edit.path}."]
    if failing:
        parts += [
            "The test suite now fails: " + ", ".join(failing) + ".",
            "",
            "Test output:",
            excerpt(test_log, failing),
        ]
    if sanitizer:
        lead = "The tests pass, but" if not failing else "Besides,"
        parts += [
            "",
            f"{lead} the sanitizer build reports:",
            *[f"    {normalise(r['summary'])}" for r in sanitizer],
            "",
            "Sanitizer output:",
            _sanitizer_excerpt(sanitizer_log),
        ]
    parts += [
        "",
        howto(commands),
        "Fix the bug without changing the tests. Done when the build succeeds, every test passes "
        "and the sanitizer build reports nothing new.",
    ]
    return "\n".join(parts)


def _sanitizer_excerpt(log: str, max_lines: int = 30) -> str:
    """The first sanitizer report of a log: its ERROR line and the stack after it."""
    lines = normalise(log).splitlines()
    for i, line in enumerate(lines):
        if re.search(r"ERROR: \w+Sanitizer|runtime error:", line):
            return "\n".join(lines[i : i + max_lines])
    return excerpt(log, [], max_lines=max_lines)
