"""Kernel tasks from faults, each validated by running its KUnit suite on UML.

For every (file, function) of :data:`~lanser.harness.datasets.kernel.suites.SUITES`:
the emptied body and the operator flips of :mod:`~lanser.harness.datasets.kernel.faults`
are tried, in a seeded order, on one copy of the layer: write the fault,
rebuild incrementally and boot the kernel in the sandbox, parse the KTAP.
A fault becomes a task only if the kernel builds and at least one case of
the function's own suite says ``not ok``; faults the suite does not catch,
faults that do not compile and faults that crash the kernel before any case
fails are counted and dropped.  The task's oracles are what the run showed:
the cases that failed (or went missing) must pass again, every other case
must keep passing.  Problem statements give what a kernel developer would
get: the function's signature and comment, its callers, the failing KTAP
lines (never the fault).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanser.harness.datasets.kernel import canary as kcanary
from lanser.harness.datasets.kernel import faults as kfaults
from lanser.harness.datasets.kernel.layer import Layer
from lanser.harness.datasets.kernel.suites import SUITES, Suite, build_command, sanitize_command, test_command
from lanser.harness.env import sandbox
from lanser.harness.grade import grading

__all__ = [
    "GenerateStats",
    "Validated",
    "callers",
    "failing_lines",
    "problem_statement",
    "task_record",
    "validate_all",
    "write_jsonl",
]

CHECK_LIMITS = sandbox.Limits(wall_s=900.0, memory_mb=2048, cpus=2.0, pids=512, output_bytes=2 << 20)
#: The task's own limits: an incremental build and a boot take about 10-30 s; a
#: toolchain change in the image means a full rebuild (minutes), so there is room.
TASK_LIMITS = {"wall_s": 900.0, "memory_mb": 2048, "cpus": 2.0, "pids": 512, "max_steps": 30}


@dataclass
class Validated:
    fault: kfaults.Fault
    suite: Suite
    results: dict[str, str]
    output: str
    seconds: float


@dataclass
class GenerateStats:
    tried: int = 0
    kept: int = 0
    not_caught: int = 0
    build_failed: int = 0
    crashed: int = 0
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        secs = sorted(self.seconds)
        return {
            "tried": self.tried,
            "kept": self.kept,
            "not_caught": self.not_caught,
            "build_failed": self.build_failed,
            "crashed_or_no_failing_case": self.crashed,
            "check_seconds_min": round(secs[0], 1) if secs else None,
            "check_seconds_median": round(secs[len(secs) // 2], 1) if secs else None,
            "check_seconds_max": round(secs[-1], 1) if secs else None,
        }


def _check(tree: Path, image: str, client: Any) -> tuple[sandbox.RunResult, dict[str, str]]:
    cmd = f"{build_command()} >/tmp/build.log 2>&1 || {{ tail -n 60 /tmp/build.log; exit 97; }}; {test_command()}"
    res = sandbox.run(image, cmd, tree, limits=CHECK_LIMITS, client=client, labels={"lanser.stage": "kernel-check"})
    return res, grading.parse_ktap(res.output) if res.exit_code != 97 else {}


def validate_all(
    layer: Layer,
    scratch: Path,
    image: str,
    *,
    seed: int = 1,
    per_function: int = 1,
    max_tries: int = 4,
    empty: bool = True,
    suites: tuple[Suite, ...] = SUITES,
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Validated], GenerateStats]:
    """Validated faults: for each target the emptied body (if ``empty``) and up to
    ``per_function`` operator flips, trying at most ``max_tries`` flips in a seeded order."""
    from lanser.harness.env.project import copy_tree

    say = progress or (lambda _m: None)
    tree = scratch / "check-tree"
    shutil.rmtree(tree, ignore_errors=True)
    copy_tree(layer.tree, tree)
    rng = random.Random(seed)
    stats = GenerateStats()
    kept: list[Validated] = []
    for suite in suites:
        for path, function in suite.targets:
            original = (tree / path).read_bytes()
            candidates: list[kfaults.Fault] = []
            flips: list[kfaults.Fault] = []
            for fn in kfaults.find_functions(original, function):
                e = kfaults.empty_body(path, original, fn) if empty else None
                if e is not None:
                    candidates.append(e)
                flips.extend(kfaults.mutations(path, original, fn))
            rng.shuffle(flips)
            quota = {"empty": len(candidates), "mutate": per_function}
            tries = {"empty": 0, "mutate": 0}
            for fault in [*candidates, *flips]:
                if quota[fault.kind] <= 0 or (fault.kind == "mutate" and tries["mutate"] >= max_tries):
                    continue
                tries[fault.kind] += 1
                stats.tried += 1
                (tree / path).write_bytes(fault.text)
                started = time.monotonic()
                try:
                    res, results = _check(tree, image, client)
                finally:
                    (tree / path).write_bytes(original)
                took = time.monotonic() - started
                stats.seconds.append(took)
                verdict = _classify(res, results, suite, layer.baseline)
                say(f"{suite.name}: {function} {fault.detail}: {verdict} ({took:.0f} s)")
                if verdict == "kept":
                    stats.kept += 1
                    quota[fault.kind] -= 1
                    kept.append(Validated(fault, suite, results, res.output, took))
                elif verdict == "build_failed":
                    stats.build_failed += 1
                elif verdict == "not_caught":
                    stats.not_caught += 1
                else:
                    stats.crashed += 1
    shutil.rmtree(tree, ignore_errors=True)
    return kept, stats


def _classify(res: sandbox.RunResult, results: dict[str, str], suite: Suite, baseline: dict[str, str]) -> str:
    if res.exit_code == 97 or (not results and not res.timed_out):
        return "build_failed" if res.exit_code == 97 else "crashed"
    own = [n for n in results if n.startswith(suite.name + ".")]
    if any(results[n] == "fail" for n in own):
        return "kept"
    if all(results.get(n) == "pass" for n in baseline):
        return "not_caught"
    return "crashed"


# -- task records --------------------------------------------------------------------


def failing_lines(output: str, limit: int = 30) -> list[str]:
    """The console lines that show a failure: every ``not ok`` result, and KUnit's
    failed expectations with the lines that explain them (``limit`` lines of those)."""
    out: list[str] = []
    details = 0
    detail = False
    for line in output.splitlines():
        text = line.rstrip()
        if re.match(r"^\s*(not ok|ok) \d+", text):
            detail = False
            if text.lstrip().startswith("not ok"):
                out.append(text)
            continue
        if "EXPECTATION FAILED" in text or "ASSERTION FAILED" in text:
            detail = True
        elif not (detail and text.strip()) or text.lstrip().startswith(("# Subtest", "KTAP version", "1..")):
            continue
        details += 1
        if details <= limit:
            out.append(text)
        elif details == limit + 1:
            out.append("    [...]")
    return out


def callers(tree: Path, function: str, definition: str, limit: int = 8, *, static: bool = False) -> list[str]:
    """``path:line: text`` of calls to ``function`` in the tree's C files (not its
    definition); only in its own file when it is ``static``.  Textual: a kernel
    developer's grep, which is what the statement promises."""
    pattern = re.compile(r"\b" + re.escape(function) + r"\s*\(")
    hits: list[str] = []
    files = (
        [tree / definition]
        if static
        else [p for sub in ("lib", "kernel", "fs", "mm", "init", "arch/um") for p in sorted((tree / sub).rglob("*.c"))]
    )
    for path in files:
        rel = path.relative_to(tree).as_posix()
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for n, line in enumerate(lines, 1):
            if pattern.search(line) and not (rel == definition and _is_definition(lines, n - 1, function)):
                stripped = line.strip()
                if stripped.startswith(("*", "/*", "//", "EXPORT_SYMBOL")):
                    continue
                hits.append(f"{rel}:{n}: {stripped}")
                if len(hits) >= limit:
                    return hits
    return hits


def _is_definition(lines: list[str], i: int, function: str) -> bool:
    line = lines[i]
    return (
        not line.startswith((" ", "\t"))
        and bool(re.search(r"\b" + re.escape(function) + r"\s*\(", line))
        and (not line.rstrip().endswith(";"))
    )


def problem_statement(v: Validated, fn: kfaults.FunctionInfo, calls: list[str]) -> str:
    what = (
        "The body of `{f}` in `{p}` is missing: implement it."
        if v.fault.kind == "empty"
        else "`{f}` in `{p}` has a bug: find it and fix it."
    ).format(f=v.fault.function, p=v.fault.path)
    parts = [what, "", "```c"]
    if fn.comment:
        parts.append(fn.comment)
    parts += [fn.signature, "```", ""]
    if calls:
        parts += ["Callers:", *(f"  {c}" for c in calls), ""]
    parts += [
        f"The KUnit suite `{v.suite.name}` ({v.suite.test_file}) fails on User Mode Linux:",
        *(f"  {line}" for line in failing_lines(v.output)),
        "",
        "Build and run the suites with:",
        f"  {build_command()}",
        f"  {test_command()}",
    ]
    return "\n".join(parts)


def task_record(
    v: Validated, original: bytes, tree: Path, dataset: str, n: int, baseline: dict[str, str], kasan: bool = False
) -> dict[str, Any]:
    """One tasks.jsonl line for a validated fault: cases of the baseline run that the
    fault broke (failed or never reported) must pass again, the others keep passing."""
    fns = kfaults.find_functions(v.fault.text, v.fault.function)
    fn = min(fns, key=lambda f: abs(f.line - v.fault.line))
    cases = sorted(name for name in baseline if name.count(".") == 1)
    f2p = [name for name in cases if v.results.get(name) != "pass"]
    p2p = [name for name in cases if v.results.get(name) == "pass"]
    suffix = "empty" if v.fault.kind == "empty" else f"fault{n}"
    return {
        "id": f"{dataset}/{v.suite.name}/{v.fault.function}-{suffix}",
        "language": "c",
        "image": "base",
        "source": {"kind": "dir", "path": "project"},
        "commands": {
            "build": build_command(),
            "test": test_command(),
            **({"sanitize": sanitize_command()} if kasan else {}),
        },
        "problem": problem_statement(
            v, fn, callers(tree, v.fault.function, v.fault.path, static="static" in fn.signature.split())
        ),
        "start_patch": kfaults.unified_diff(v.fault.path, original, v.fault.text),
        "gold_patch": kfaults.unified_diff(v.fault.path, v.fault.text, original),
        "oracles": {"fail_to_pass": f2p, "pass_to_pass": p2p},
        "limits": dict(TASK_LIMITS),
        "canary": kcanary.canary(tree),
    }


def write_jsonl(records: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
