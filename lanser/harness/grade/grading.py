"""Grading: a pure function of the stage logs, so a run re-grades without Docker.

The rules are a contract, written down in docs/grading.md.  Per-test results
come from the format the task declares (:mod:`lanser.harness.grade.logs`; detection
only when it says ``auto``), and the verdict names the parser used.  A
stage's exit status always counts: a test stage that exits non-zero with no
failing test read fails, with the reason stated; a test stage from which no
result was read while the oracles name tests is the task's error
(``task_error``: the harness or the task, not the agent).  Sanitizer reports
(ASan, LSan, UBSan, KASAN) are parsed with their stacks and named by their
first frame in the project's own code, never by the sanitizer's
interceptors, and de-duplicated by (tool, kind, frame).  An infrastructure
failure (an image, Docker, the harness itself) is its own outcome and never
counted against the agent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lanser.harness.grade import logs
from lanser.harness.grade.logs import automake, ctest, ktap, tap

__all__ = [
    "EVIDENCE_KEYS",
    "OUTCOMES",
    "grade",
    "grade_stages",
    "parse_automake",
    "parse_ctest",
    "parse_ktap",
    "parse_sanitizers",
    "parse_tap",
    "parse_tests",
    "read_result_files",
]

OUTCOMES = ("resolved", "tests_failed", "sanitizer_error", "build_failed", "timeout", "task_error", "infra_error")
#: The keys of ``verdict["evidence"]`` (each present only when it has something to show).
EVIDENCE_KEYS = ("failing_tests", "build_tail", "test_tail", "sanitize_tail")

parse_tap = tap.parse
parse_ktap = ktap.parse
parse_ctest = ctest.parse
parse_automake = automake.parse

_ASAN = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer: ([\w-]+)")
_FRAME_LINE = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+(?: in (\S+))?(?: (.*))?$")
_UBSAN = re.compile(r"^(\S+?):(\d+):(\d+): runtime error: (.*)$", re.M)
_KASAN = re.compile(r"BUG: KASAN: ([\w-]+) in ([\w.]+)")
_LEAK = re.compile(r"^(Direct|Indirect) leak of \d+ byte\(s\) in \d+ object\(s\) allocated from:", re.M)
#: Frames of the sanitizer runtime, the C library and the loader: never "where" a bug is.
_RUNTIME_FUNC = re.compile(
    r"^_{0,3}(?:interceptor_|asan_|lsan_|ubsan_|sanitizer_|msan_|tsan_|libc_start|"
    r"start\b|GI_|__libc)|^(?:_start|malloc|calloc|realloc|free|strdup|strndup|"
    r"operator (?:new|delete)|posix_memalign|aligned_alloc|memcpy|memmove|memset|"
    r"strcpy|strlen|printf|puts|abort|raise)\b"
)
_RUNTIME_PLACE = re.compile(
    r"libsanitizer|compiler-rt|/asan/|/lsan/|/ubsan/|libasan|libubsan|liblsan|libtsan|"
    r"libc\.so|libc-|ld-linux|libstdc\+\+|csu/|sysdeps/"
)


def parse_tests(text: str) -> dict[str, str]:
    """Per-test results of a test log, its format detected (see :mod:`lanser.harness.grade.logs`)."""
    return logs.parse([text]).results


def read_result_files(tree: Path, patterns: tuple[str, ...] | list[str], cap: int = 8 << 20) -> dict[str, str]:
    """The result files a test stage wrote (``test_log.files``; ``*`` within a component), read
    from the graded tree without following links (the project's code wrote them), by path."""
    import fnmatch
    import os

    from lanser.harness.grade.cleanroom import read_inside

    out: dict[str, str] = {}
    total = 0
    for pattern in patterns:
        parts = pattern.split("/")
        candidates = [""]
        for i, part in enumerate(parts):
            nxt = []
            for base in candidates:
                if not any(c in part for c in "*?["):
                    nxt.append(f"{base}{part}")
                    continue
                try:
                    with os.scandir(tree / base if base else tree) as it:
                        names = sorted(e.name for e in it if not e.is_symlink())
                except OSError:
                    continue
                nxt.extend(f"{base}{n}" for n in names if fnmatch.fnmatchcase(n, part))
            candidates = [c + "/" if i < len(parts) - 1 else c for c in nxt]
        for rel in candidates[:200]:
            data = read_inside(tree, rel, cap=cap)
            if data is not None and total + len(data) <= cap:
                out[rel] = data.decode("utf-8", errors="replace")
                total += len(data)
    return out


def _frames(block: str) -> list[tuple[str, str]]:
    """(function, place) of the leading stack of ``block``: the ``#0``, ``#1``... lines up to the
    first line that is not one (a blank line ends an ASan stack)."""
    out: list[tuple[str, str]] = []
    started = False
    for line in block.splitlines():
        m = _FRAME_LINE.match(line)
        if m:
            started = True
            out.append((m.group(2) or "?", (m.group(3) or "").strip()))
        elif started:
            break
    return out


def _project_frame(frames: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The first frame in the project's code: not the sanitizer runtime's, the C library's or the
    loader's; a frame with a source file in the work tree is preferred to one without."""
    own = [f for f in frames if not _RUNTIME_FUNC.match(f[0]) and not _RUNTIME_PLACE.search(f[1])]
    for func, place in own:
        if place.startswith("/work/") or (place and not place.startswith(("/", "(")) and ":" in place):
            return func, place
    return own[0] if own else None


def _stack(frames: list[tuple[str, str]], limit: int = 16) -> list[str]:
    return [f"{func} {place}".strip() for func, place in frames[:limit]]


def _section(text: str, start: int, end_markers: tuple[str, ...] = ("SUMMARY: ", "==ABORTING")) -> str:
    ends = [i for i in (text.find(m, start) for m in end_markers) if i != -1]
    stop = min(ends) if ends else min(len(text), start + 12000)
    stop = text.find("\n", stop)
    return text[start : stop if stop != -1 else len(text)]


def parse_sanitizers(text: str) -> list[dict[str, Any]]:
    """Sanitizer reports, one per (tool, kind, frame), in order of first appearance.

    ``frame`` is the first function in the project's own code (a leak is where the
    project allocated, not ``malloc``'s interceptor); each report keeps ``stack`` (the
    access stack, or a leak's allocation stack), ``allocated`` and ``freed`` stacks when the
    report has them, ``location`` (file:line of the frame) and ``text`` (the report, bounded)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(
        tool: str,
        kind: str,
        frames: list[tuple[str, str]],
        summary: str,
        body: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        own = _project_frame(frames)
        # No frame of the project's (a stack the unwinder cut inside libc): "?", never the interceptor.
        key = (tool, kind, own[0] if own else "?")
        if key in found:
            return
        found[key] = {
            "tool": tool,
            "kind": kind,
            "frame": key[2],
            "location": own[1] if own else "",
            "summary": summary,
            "stack": _stack(frames),
            **(extra or {}),
            "text": body[:6000],
        }

    for m in _ASAN.finditer(text):
        tool, kind = m.group(1) + "Sanitizer", m.group(2)
        if tool == "LeakSanitizer" and kind == "detected":
            kind = "detected-memory-leaks"  # "ERROR: LeakSanitizer: detected memory leaks"
        line_start = text.rfind("\n", 0, m.start()) + 1
        body = _section(text, line_start)
        summary = (
            text[m.start() : text.find("\n", m.start())].strip() if "\n" in text[m.start() :] else text[m.start() :]
        )
        if tool == "LeakSanitizer":
            for leak in _LEAK.finditer(body):
                add(tool, kind, _frames(body[leak.end() :]), leak.group(0).rstrip(":"), body)
            if not _LEAK.search(body):
                add(tool, kind, [], summary, body)
            continue
        extra: dict[str, Any] = {}
        for label, marker in (("freed", "freed by thread"), ("allocated", "allocated by thread")):
            at = body.find(marker)
            if at != -1:
                extra[label] = _stack(_frames(body[at:]))
        add(tool, kind, _frames(body[m.end() - line_start :]), summary, body, extra)
    for m in _UBSAN.finditer(text):
        kind = m.group(4).split(":")[0].strip()  # "signed integer overflow", "load of misaligned address ..."
        key = ("UndefinedBehaviorSanitizer", kind, f"{m.group(1)}:{m.group(2)}")
        body = text[m.start() : m.start() + 4000]
        found.setdefault(
            key,
            {
                "tool": key[0],
                "kind": key[1],
                "frame": key[2],
                "location": f"{m.group(1)}:{m.group(2)}:{m.group(3)}",
                "summary": m.group(0).strip(),
                "stack": _stack(_frames(body)),
                "text": body[:2000],
            },
        )
    for m in _KASAN.finditer(text):
        key = ("KASAN", m.group(1), m.group(2))
        body = text[m.start() : m.start() + 6000]
        found.setdefault(
            key,
            {
                "tool": key[0],
                "kind": key[1],
                "frame": key[2],
                "location": "",
                "summary": m.group(0).strip(),
                "stack": [],
                "text": body,
            },
        )
    return list(found.values())


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])[-6000:]


def grade(
    stages: dict[str, dict[str, Any]],
    oracles: dict[str, Any],
    baseline_sanitizer: list[dict[str, str]] | None = None,
    *,
    test_log: dict[str, Any] | None = None,
    dropped: list[dict[str, str]] | None = None,
    dropped_more: int = 0,
) -> dict[str, Any]:
    """:func:`grade_stages`; a kernel crash task's (``oracles["crash"]``) then gets kGym's crash
    outcome, mapped onto these outcomes (:func:`lanser.harness.datasets.kernel.crash.crash_verdict`)."""
    verdict = grade_stages(
        stages, oracles, baseline_sanitizer, test_log=test_log, dropped=dropped, dropped_more=dropped_more
    )
    if oracles.get("crash"):
        from lanser.harness.datasets.kernel.crash import crash_verdict

        verdict = crash_verdict(verdict, stages, oracles)
    return verdict


def grade_stages(
    stages: dict[str, dict[str, Any]],
    oracles: dict[str, Any],
    baseline_sanitizer: list[dict[str, str]] | None = None,
    *,
    test_log: dict[str, Any] | None = None,
    dropped: list[dict[str, str]] | None = None,
    dropped_more: int = 0,
) -> dict[str, Any]:
    """The verdict of one task from its stage records (``exit_code``, ``output``,
    ``timed_out``, ``infra_error``, and ``files``: result files by path), its oracles,
    the sanitizer reports the project had before the agent (never blamed on it), the
    task's ``test_log`` declaration (by default the one the test stage's record keeps) and what
    the clean room dropped of the agent's changes (by default the ``clean_room`` stage's record)."""
    room = stages.get("clean_room") or {}
    if dropped is None:
        dropped, dropped_more = room.get("dropped") or [], int(room.get("dropped_more") or 0)
    notes = [f"edits to {d['path']} ignored ({d['why']})" for d in dropped if d["why"] != "build output"]
    notes += [
        f"the {name} stage was stopped: {st['disk_exceeded']}" for name, st in stages.items() if st.get("disk_exceeded")
    ]
    if dropped_more:
        notes.append(f"{dropped_more} more paths dropped")
    for name, stage in stages.items():
        if stage.get("infra_error"):
            return {
                "outcome": "infra_error",
                "stage": name,
                "error": stage["infra_error"],
                "reason": f"the {name} stage could not run: {stage['infra_error']}",
            }
    build = stages.get("build", {})
    compiled = build.get("exit_code") == 0 and not build.get("timed_out")
    verdict: dict[str, Any] = {"compiled": compiled, "dropped": list(dropped or ()), "notes": notes}
    evidence: dict[str, Any] = {}
    verdict["evidence"] = evidence
    if not compiled:
        verdict["outcome"] = "timeout" if build.get("timed_out") else "build_failed"
        verdict["reason"] = (
            "the build timed out"
            if build.get("timed_out")
            else f"the build was stopped: {build['disk_exceeded']}"
            if build.get("disk_exceeded")
            else f"the build exited with {build.get('exit_code')}"
        )
        evidence["build_tail"] = _tail(build.get("output", ""))
        return verdict
    test = stages.get("test", {})
    declared = test_log if test_log is not None else (test.get("test_log") or {})
    files = test.get("files") or {}
    texts = [files[k] for k in sorted(files)] if declared.get("files") else [test.get("output", "")]
    patterns = {"pass": declared.get("pass_re"), "fail": declared.get("fail_re"), "skip": declared.get("skip_re")}
    parsed = logs.parse(texts, declared.get("format") or "auto", {k: v for k, v in patterns.items() if v})
    results = dict(parsed.results)
    canary = test.get("canary")
    if canary:  # no test of the task: read apart, and its failure is the one expected
        verdict["canary"] = {"test": canary, "result": results.pop(canary, "missing")}
    f2p = {name: results.get(name, "missing") for name in oracles.get("fail_to_pass", ())}
    p2p = {name: results.get(name, "missing") for name in oracles.get("pass_to_pass", ())}
    failing = sorted(n for n, v in results.items() if v == "fail")
    verdict.update(
        parser=parsed.parser,
        parser_declared=parsed.declared,
        tests=results,
        fail_to_pass=f2p,
        pass_to_pass=p2p,
        tests_passed=sum(v == "pass" for v in results.values()),
        tests_total=len(results),
        test_exit_code=test.get("exit_code"),
    )
    named = bool(f2p or p2p)
    bad_oracles = sorted(n for n, v in {**f2p, **p2p}.items() if v != "pass")
    if failing:
        evidence["failing_tests"] = logs.failing_lines("\n".join(texts), failing)
    san = stages.get("sanitize")
    reports: list[dict[str, Any]] = []
    san_failed_silently = False
    if san is not None:
        known = {(r["tool"], r["kind"], r["frame"]) for r in baseline_sanitizer or []}
        everything = parse_sanitizers(san.get("output", ""))
        reports = [r for r in everything if (r["tool"], r["kind"], r["frame"]) not in known]
        san_failed_silently = san.get("exit_code") not in (0, None) and not everything and not san.get("timed_out")
        verdict["sanitizer"] = {
            "clean": not reports and not san_failed_silently,
            "reports": reports,
            "exit_code": san.get("exit_code"),
        }
        if san_failed_silently:
            evidence["sanitize_tail"] = _tail(san.get("output", ""))
    exit_code = test.get("exit_code")
    if test.get("timed_out") or (san or {}).get("timed_out"):
        verdict["outcome"] = "timeout"
        verdict["reason"] = "the test stage timed out" if test.get("timed_out") else "the sanitize stage timed out"
    elif named and not results and exit_code not in (0, None):
        # Nothing read, and the tests failed: the code under test stopped them before any result
        # (a crash in the first test is the common case: an empty function returning NULL). The
        # task's parser read the oracle's log when the task was validated, so this is the agent's.
        verdict["outcome"] = "tests_failed"
        verdict["reason"] = (
            f"the test stage exited with {exit_code} before any test result was read "
            f"({parsed.parser} parser); the oracles name {len(f2p) + len(p2p)} tests"
        )
        evidence["test_tail"] = _tail("\n".join(texts))
    elif named and not results:
        verdict["outcome"] = "task_error"
        how = f"with the {parsed.parser} parser" if parsed.declared else "by any parser"
        verdict["reason"] = (
            f"no test result was read from the test stage (exit {exit_code}) {how}, "
            f"while the oracles name {len(f2p) + len(p2p)} tests: the task's or the harness's "
            "error, not the agent's"
        )
        evidence["test_tail"] = _tail("\n".join(texts))
    elif bad_oracles:
        verdict["outcome"] = "tests_failed"
        verdict["reason"] = (
            "oracle tests not passing: "
            + ", ".join(f"{n} ({results.get(n, 'missing')})" for n in bad_oracles[:10])
            + (" ..." if len(bad_oracles) > 10 else "")
        )
    elif not named and failing:
        verdict["outcome"] = "tests_failed"
        verdict["reason"] = f"{len(failing)} tests failed: " + ", ".join(failing[:10])
    elif canary and verdict["canary"]["result"] != "fail":
        # Every test passes, and so does the one made to fail: the results were printed by the code
        # under test, not by the tests (a forgery built at run time; docs/grading.md).
        verdict["outcome"] = "tests_failed"
        verdict["canary"]["forged"] = True
        verdict["reason"] = (
            f"the canary test {canary}, hidden from the agent and made to fail on purpose, was read as "
            f"{verdict['canary']['result']}: the results were not the tests' own"
        )
        evidence["test_tail"] = _tail("\n".join(texts))
    elif exit_code != 0 and not failing and not canary:  # a canary's failure is the test stage's non-zero exit
        verdict["outcome"] = "tests_failed"
        verdict["reason"] = f"the test stage exited with {exit_code} and no failing test was read"
        evidence["test_tail"] = _tail("\n".join(texts))
    elif reports:
        verdict["outcome"] = "sanitizer_error"
        first = reports[0]
        where = f"in {first['frame']}" if first["frame"] != "?" else "(no frame of the project's code in its stack)"
        verdict["reason"] = f"{first['tool']}: {first['kind']} {where}" + (
            f" ({len(reports) - 1} more reports)" if len(reports) > 1 else ""
        )
    elif san_failed_silently:
        verdict["outcome"] = "sanitizer_error"
        verdict["reason"] = (
            f"the sanitize stage exited with {san.get('exit_code') if san else None} and no sanitizer report was read"
        )
    else:
        verdict["outcome"] = "resolved"
        verdict["reason"] = (
            "every oracle test passes"
            if named
            else "the test stage passed"
            + ("" if results else " (no per-test result was read; graded by its exit status)")
        )
    return verdict
