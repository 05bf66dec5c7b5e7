"""Kernel crash tasks, as kGym poses them: a crash report in, the crash gone out.

The crash layer is one UML KUnit build of the suites of
:data:`~lanser.harness.datasets.kernel.suites.SUITES` plus DAMON's (``mm/damon``: objects
allocated from a slab cache and freed, where a use-after-free lives), under
KASAN and the list debugging checks (:data:`CRASH_CONFIG`), booted with
``kasan_multi_shot`` so that every report is printed, not only the first.

A fault (:data:`CRASH_FAULTS`) is a memory error a KUnit case reaches: an access
after ``kfree``, a loop bound moved by one, a dropped bounds check, an object
freed twice, a dropped ``NULL`` check.  The reproducer is the boot that runs the
suites (the grader runs it); the problem statement is the report the kernel
printed, trimmed the way syzbot trims one (:func:`trim_report`: the title, the
access line, the stacks with symbolised frames, the allocation and free stacks;
no timestamps, addresses, register or shadow-memory dumps).

Grading in kGym's terms (:func:`crash_verdict`, pure, applied by
:func:`lanser.harness.grade.grading.grade` when a task's oracles carry ``crash``):

===============  ===================================================  ==================
crash outcome    when                                                 harness outcome
===============  ===================================================  ==================
build_failed     the kernel does not build                            build_failed
timeout          a stage timed out                                    timeout
crash_remains    the task's crash (tool, kind, function) is reported  tests_failed
new_crash        another report the unmodified kernel does not make   sanitizer_error
tests_failed     no crash, but a KUnit case that passed does not      tests_failed
crash_fixed      no crash, every case of the baseline passes          resolved
===============  ===================================================  ==================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lanser.harness.datasets.kernel.suites import SUITES, Suite

__all__ = [
    "CI_CONFIG",
    "CI_OFF",
    "CI_SUITES",
    "CI_TAG",
    "CI_TASK",
    "CRASH_CONFIG",
    "CRASH_FAULTS",
    "CRASH_KERNEL_ARGS",
    "CRASH_KNOWN_FAILING",
    "CRASH_SUITES",
    "CRASH_TAG",
    "HARNESS_OUTCOME",
    "CrashFault",
    "apply_fault",
    "check",
    "crash_verdict",
    "ensure_ci_layer",
    "for_layer",
    "generate",
    "parse_crashes",
    "problem_statement",
    "task_record",
    "test_command",
    "trim_report",
]

#: DAMON's core suite: regions allocated from a slab cache, split, merged and freed.
DAMON = Suite("damon", "DAMON_KUNIT_TEST", "mm/damon/core-test.h", (("mm/damon/core.c", "damon_new_region"),))
CRASH_SUITES: tuple[Suite, ...] = (*SUITES, DAMON)
#: Debug options of the crash build (what each reports on UML: docs/kernel-crash.md).
CRASH_CONFIG = "CONFIG_DAMON=y\nCONFIG_KASAN=y\nCONFIG_KASAN_GENERIC=y\nCONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_LIST=y\n"
CRASH_KERNEL_ARGS = "kasan_multi_shot"
#: Fails on the unmodified crash kernel: it expects DAMON's vaddr/paddr operations registered, and
#: those select PAGE_IDLE_FLAG (a page flag: most of the kernel rebuilds).  Never an oracle.
CRASH_KNOWN_FAILING = ("damon", "damon.damon_test_ops_registration")
CRASH_TAG = "crash"

#: What the one-task CI layer turns off: subsystems of UML's defaults that DAMON's cases never
#: reach (the block layer, PCI over virtio, input, io_uring, ...).  Each must be settable on UML
#: 6.1 (``kunit.py`` refuses a kunitconfig the generated ``.config`` does not honour); several
#: are visible only under ``EXPERT``.
CI_OFF = (
    "VIRTIO_UML",
    "UML_PCI_OVER_VIRTIO",
    "BLOCK",
    "IO_URING",
    "AIO",
    "INPUT",
    "SERIO",
    "HW_RANDOM",
    "NAMESPACES",
    "COMPACTION",
    "FW_LOADER",
    "SUSPEND",
    "PM",
    "SECCOMP",
    "COREDUMP",
    "FILE_LOCKING",
    "MCONSOLE",
)
#: The CI layer (``tests/docker/test_kernel_crash.py``): DAMON's suite alone, the crash build's
#: debug options (KASAN, list debugging) and :data:`CI_OFF`: a smaller first build than the
#: dataset's layer, for one task of the dataset (:data:`CI_TASK`, its oracles cut to this
#: layer's cases by :func:`for_layer`).  Never used to make tasks.
CI_SUITES: tuple[Suite, ...] = (DAMON,)
CI_CONFIG = CRASH_CONFIG + "CONFIG_EXPERT=y\n" + "".join(f"# CONFIG_{name} is not set\n" for name in CI_OFF)
CI_TAG = "crash-ci"
CI_TASK = "damon/damon_merge_two_regions-uaf"

#: kGym's outcome -> the harness's (docs/grading.md's outcomes are unchanged).
HARNESS_OUTCOME = {
    "crash_fixed": "resolved",
    "crash_remains": "tests_failed",
    "new_crash": "sanitizer_error",
    "tests_failed": "tests_failed",
    "build_failed": "build_failed",
    "timeout": "timeout",
}


@dataclass(frozen=True)
class CrashFault:
    """One memory error: in ``function`` of ``path``, the text ``old`` (once, inside the
    function) becomes ``new``.  ``bug`` names the kind of error, for the dataset's own
    records only (never shown to the agent)."""

    suite: str
    path: str
    function: str
    name: str
    bug: str
    old: str
    new: str


CRASH_FAULTS: tuple[CrashFault, ...] = (
    # mm/damon/core.c: regions and targets freed while still referenced.
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_merge_two_regions",
        "uaf",
        "use-after-free: read after free",
        "\tl->ar.end = r->ar.end;\n\tdamon_destroy_region(r, t);\n",
        "\tdamon_destroy_region(r, t);\n\tl->ar.end = r->ar.end;\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_merge_regions_of",
        "uaf",
        "use-after-free: stale pointer kept",
        "\t\t\tdamon_merge_two_regions(t, prev, r);\n\t\telse\n\t\t\tprev = r;\n",
        "\t\t\tdamon_merge_two_regions(t, prev, r);\n\t\tprev = r;\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_free_target",
        "uaf",
        "use-after-free: unsafe list walk",
        "\tdamon_for_each_region_safe(r, next, t)\n",
        "\tdamon_for_each_region(r, t)\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_set_regions",
        "uaf",
        "use-after-free: unsafe list walk",
        "\tdamon_for_each_region_safe(r, next, t) {\n",
        "\tdamon_for_each_region(r, t) {\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_destroy_target",
        "uaf",
        "use-after-free: unlinked after free",
        "\tdamon_del_target(t);\n\tdamon_free_target(t);\n",
        "\tdamon_free_target(t);\n\tdamon_del_target(t);\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_destroy_target",
        "double-free",
        "double free",
        "\tdamon_free_target(t);\n}",
        "\tdamon_free_target(t);\n\tkfree(t);\n}",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_destroy_region",
        "double-free",
        "double free",
        "\tdamon_del_region(r, t);\n\tdamon_free_region(r);\n",
        "\tdamon_del_region(r, t);\n\tdamon_free_region(r);\n\tdamon_free_region(r);\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_destroy_region",
        "list",
        "freed while still on a list",
        "\tdamon_del_region(r, t);\n\tdamon_free_region(r);\n",
        "\tdamon_free_region(r);\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_add_region",
        "list",
        "list corruption: added twice",
        "\tlist_add_tail(&r->list, &t->regions_list);\n",
        "\tlist_add_tail(&r->list, &t->regions_list);\n\tlist_add_tail(&r->list, &t->regions_list);\n",
    ),
    # lib/: bounds moved by one, checks dropped.
    CrashFault(
        "cmdline",
        "lib/cmdline.c",
        "get_options",
        "oob",
        "stack out-of-bounds write: loop bound",
        "\twhile (i < nints || validate) {",
        "\twhile (i <= nints || validate) {",
    ),
    CrashFault(
        "cmdline",
        "lib/cmdline.c",
        "get_options",
        "oob2",
        "stack out-of-bounds write: range bound",
        "\t\t\tint n = validate ? 0 : nints - i;",
        "\t\t\tint n = validate ? 0 : nints - i + 1;",
    ),
    CrashFault(
        "lib_sort",
        "lib/sort.c",
        "sort_r",
        "oob",
        "heap out-of-bounds read: loop bound",
        "(d = c + size) < n;)",
        "(d = c + size) <= n;)",
    ),
    CrashFault(
        "list_sort",
        "lib/list_sort.c",
        "merge",
        "null",
        "NULL dereference: dropped end-of-list check",
        "\t\t\ta = a->next;\n\t\t\tif (!a) {\n\t\t\t\t*tail = b;\n\t\t\t\tbreak;\n\t\t\t}\n",
        "\t\t\ta = a->next;\n",
    ),
    CrashFault(
        "linear-ranges-test",
        "lib/linear_ranges.c",
        "linear_range_values_in_range_array",
        "oob",
        "global out-of-bounds read: loop bound",
        "for (i = 0; i < ranges; i++) {",
        "for (i = 0; i <= ranges; i++) {",
    ),
    CrashFault(
        "linear-ranges-test",
        "lib/linear_ranges.c",
        "linear_range_get_value_array",
        "oob",
        "global out-of-bounds read: loop bound",
        "for (i = 0; i < ranges; i++)",
        "for (i = 0; i <= ranges; i++)",
    ),
    CrashFault(
        "linear-ranges-test",
        "lib/linear_ranges.c",
        "linear_range_get_selector_low_array",
        "oob",
        "global out-of-bounds read: loop bound",
        "for (i = 0; i < ranges; i++) {",
        "for (i = 0; i <= ranges; i++) {",
    ),
    CrashFault(
        "sysctl_test",
        "kernel/sysctl.c",
        "proc_get_long",
        "oob",
        "stack out-of-bounds write: dropped clamp",
        "\tif (len > TMPBUFLEN - 1)\n\t\tlen = TMPBUFLEN - 1;\n\n",
        "",
    ),
    # Added after the first 17 (validated and appended the same way).
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_merge_two_regions",
        "wrong-free",
        "use-after-free: wrong object freed",
        "\tdamon_destroy_region(r, t);\n",
        "\tdamon_destroy_region(l, t);\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_destroy_region",
        "uaf",
        "use-after-free: unlinked after free",
        "\tdamon_del_region(r, t);\n\tdamon_free_region(r);\n",
        "\tdamon_free_region(r);\n\tdamon_del_region(r, t);\n",
    ),
    CrashFault(
        "damon",
        "mm/damon/core.c",
        "damon_merge_regions_of",
        "walk",
        "use-after-free: unsafe list walk",
        "\tdamon_for_each_region_safe(r, next, t) {\n",
        "\tdamon_for_each_region(r, t) {\n",
    ),
    CrashFault(
        "sysctl_test",
        "kernel/sysctl.c",
        "proc_get_long",
        "oob2",
        "stack out-of-bounds write: clamp off by one",
        "\t\tlen = TMPBUFLEN - 1;\n",
        "\t\tlen = TMPBUFLEN;\n",
    ),
    CrashFault(
        "lib_sort",
        "lib/sort.c",
        "sort_r",
        "size",
        "heap out-of-bounds: size miscomputed",
        "size_t n = num * size, a = (num/2) * size;",
        "size_t n = (num + 1) * size, a = (num/2) * size;",
    ),
    CrashFault(
        "linear-ranges-test",
        "lib/linear_ranges.c",
        "linear_range_values_in_range_array",
        "index",
        "global out-of-bounds read: wrong index",
        "values = linear_range_values_in_range(&r[i]);",
        "values = linear_range_values_in_range(&r[i + 1]);",
    ),
)


def apply_fault(data: bytes, fault: CrashFault) -> bytes | None:
    """The file with ``fault`` applied inside its function (``None`` if its text is not
    there exactly once: the source moved, the fault is stale)."""
    from lanser.harness.datasets.kernel import faults as kfaults

    for fn in kfaults.find_functions(data, fault.function):
        body = data[fn.start : fn.body_end]
        old = fault.old.encode()
        if body.count(old) == 1:
            at = fn.start + body.index(old)
            return data[:at] + fault.new.encode() + data[at + len(old) :]
    return None


# -- reading the console ---------------------------------------------------------------

_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_KASAN = re.compile(r"BUG: KASAN: ([\w-]+) in ([A-Za-z_][\w.]*)")
_ACCESS = re.compile(r"^(Read|Write) of size (\d+) at addr")
_WARNING = re.compile(r"WARNING: CPU: \d+ PID: \d+ at (\S+) ([A-Za-z_][\w.]*)")
_BUG_AT = re.compile(r"kernel BUG at (\S+?)!")
_PANIC = re.compile(r"Kernel panic - not syncing: (.*)")
_RIP = re.compile(r"^RIP: [0-9a-f]+:(?:\[<[0-9a-f]+>\] )?([A-Za-z_][\w.]*)\+0x")
_FRAME = re.compile(r"^\s*(?:\[<[0-9a-f]+>\]\s*)?(\? )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?:\s+\[\w+\])?\s*$")
_KTAP = re.compile(r"^\s*(?:(?:not )?ok \d+|# |KTAP version|1\.\.\d)")
_RULE = re.compile(r"^={20,}$")
#: Frames of the reporting machinery and of UML's signal handling: never "where" a crash is.
_MACHINERY = re.compile(
    r"^(?:dump_stack\w*|dump_trace|show_stack\w*|show_regs|panic\w*|__warn\w*|"
    r"warn_slowpath\w*|report_bug|_printk|vprintk\w*|printk\w*|um_set_signals\w*|"
    r"__read_once_word_nocheck|"
    r"kasan_\w+|__kasan_\w+|__asan_\w+|print_report|print_address_description\w*|"
    r"kasan_report\w*|check_memory_region\w*|memcpy|memset|memmove|segv\w*|sig_handler\w*|"
    r"handle_\w*signal\w*|hard_handler|unblock_signals\w*|relay_signal|userspace|"
    r"__list_(?:add|del_entry)_valid|kmem_cache_free|kfree|slab_free\w*|__slab_free|"
    r"\w*_try_catch\w*|kunit_\w+|kthread|new_thread_handler|uml_finishsetup)$"
)


def _clean(output: str) -> list[str]:
    return [_TIMESTAMP.sub("", line.rstrip("\r")) for line in output.splitlines()]


def _frame_text(line: str) -> str | None:
    """``func+off/size`` of a call-trace line, or None.  UML's unwinder scans the stack and
    marks every frame ``?`` (unreliable), so ``?`` cannot be dropped as syzbot drops it on
    x86; a word at offset ``+0x0`` is a function's address on the stack, never a return
    address into it, and is dropped."""
    m = _FRAME.match(line)
    if not m:
        return None
    text = line.strip().split("] ")[-1].strip().removeprefix("? ")
    return None if "+0x0/" in text else text


def _frames(lines: list[str]) -> list[str]:
    return [t for t in map(_frame_text, lines) if t is not None]


def _first_own(frames: list[str]) -> str:
    for f in frames:
        name = f.split("+", 1)[0]
        if not _MACHINERY.match(name.split(".")[0]):
            return name
    return "?"


def parse_crashes(output: str) -> list[dict[str, Any]]:
    """Crash reports in a kernel console, one per (tool, kind, frame), in order.

    KASAN reports (``BUG: KASAN: KIND in FUNC``), ``WARNING`` (a ``WARN``, a list
    debugging check), ``kernel BUG at`` (``BUG_ON``) and UML's panics (a fault in
    kernel mode: ``Segfault with no mm``, ``Kernel mode fault at addr``).  Each has
    ``title`` (syzbot's style: ``KASAN: use-after-free Read in f``), ``frame`` (the
    function it is blamed on), ``tool``, ``kind`` and ``report`` (:func:`trim_report`)."""
    lines = _clean(output)
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        crash: dict[str, Any] | None = None
        m = _KASAN.search(line)
        if m:
            body = _block(lines, i)
            access = next((a.group(1) for a in map(_ACCESS.match, body) if a), "")
            crash = {
                "tool": "KASAN",
                "kind": m.group(1),
                "frame": m.group(2),
                "title": f"KASAN: {m.group(1)}{' ' + access if access else ''} in {m.group(2)}",
            }
        elif (m := _WARNING.search(line)) is not None:
            body = _block(lines, i)
            crash = {"tool": "WARNING", "kind": "warning", "frame": m.group(2), "title": f"WARNING in {m.group(2)}"}
            # The explanation the check printed just above (``list_add corruption. ...``).
            if i > 0 and lines[i - 1].strip() and not _KTAP.match(lines[i - 1]):
                body = [lines[i - 1], *body]
        elif (m := _BUG_AT.search(line)) is not None:
            body = _block(lines, i)
            frame = _first_own(_frames(body))
            crash = {"tool": "BUG", "kind": "bug", "frame": frame, "title": f"kernel BUG in {frame}"}
        elif (m := _PANIC.search(line)) is not None:
            # UML prints the registers (RIP: the faulting function) before it panics.
            start = max(0, i - 40)
            before = [x for x in lines[start:i]]
            rip = next((r.group(1) for r in map(_RIP.match, reversed(before)) if r), None)
            body = _block(lines, i)
            frame = rip or _first_own(_frames(body))
            reason = m.group(1).strip()
            kind = (
                "null-ptr-deref"
                if re.search(r"addr 0x0*[0-9a-f]{0,3},", reason)
                else "segfault"
                if "Segfault" in reason or "fault" in reason
                else "panic"
            )
            title = {
                "null-ptr-deref": f"BUG: kernel NULL pointer dereference in {frame}",
                "segfault": f"BUG: unable to handle kernel access in {frame}",
            }.get(kind, f"panic: {reason}")
            regs = [x for x in before if x.startswith(("RIP:", "Pid:", "CPU:"))]
            crash = {"tool": "UML", "kind": kind, "frame": frame, "title": title}
            body = [*regs[:2], *body]
        if crash is None:
            i += 1
            continue
        key = (crash["tool"], crash["kind"], crash["frame"])
        if key not in found:
            crash["report"] = trim_report(crash["title"], body)
            found[key] = crash
        i += max(1, len(body) // 2)
    return list(found.values())


def _block(lines: list[str], start: int, limit: int = 400) -> list[str]:
    """The report starting at ``start``: up to KASAN's closing rule, a warning's end marker,
    the next report's title or KTAP's next line."""
    out = [lines[start]]
    for line in lines[start + 1 : start + limit]:
        if _RULE.match(line) or line.startswith("---[ end") or _KTAP.match(line):
            break
        if _KASAN.search(line) or _WARNING.search(line) or _BUG_AT.search(line):
            break
        out.append(line)
    return out


#: Where a report is printed from: a stack's frames up to the last of these are the report's
#: own machinery (syzbot starts the trace after them).
_ENTRY = re.compile(
    r"^(?:warn_slowpath\w*|__warn|report_bug|kasan_report\w*|__asan_\w+|__kasan_\w+|"
    r"kasan_check\w*|check_memory_region\w*|print_report|panic|segv\w*|dump_stack\w*|"
    r"show_stack|__list_(?:add|del_entry)_valid)$"
)


def _stack_lines(frames: list[str]) -> list[str]:
    names = [f.split("+", 1)[0].split(".")[0] for f in frames]
    last = max((i for i, n in enumerate(names[:40]) if _ENTRY.match(n)), default=-1)
    # A list check is where the corruption is seen: keep it as the first frame.
    if last >= 0 and names[last].startswith("__list_"):
        last -= 1
    kept = [f for i, f in enumerate(frames) if i > last and (i > last + 1 or not _MACHINERY.match(names[i]))]
    return [" " + f for f in kept[:40]]


def trim_report(title: str, body: list[str]) -> str:
    """A report as syzbot shows it: its title, then the report without timestamps, hex
    addresses, the reporting machinery's own frames, register and raw stack dumps, and
    KASAN's memory-state dump (the object's description is kept)."""
    out = [title, ""]
    skip_hex = False
    frames: list[str] = []
    for line in [*body, ""]:
        text = line.rstrip()
        if _FRAME.match(text):
            frame = _frame_text(text)
            if frame is not None:
                frames.append(frame)
            continue
        if frames:
            out += _stack_lines(frames)
            frames = []
        if text.startswith("Memory state around the buggy address"):
            break
        if re.match(r"^(R[A-Z0-9]{1,2}|EFLAGS|RSP): ", text) and not text.startswith("RIP:"):
            continue
        if text == "Stack:":
            skip_hex = True
            continue
        if skip_hex:
            if re.fullmatch(r"\s*(?:[0-9a-f]{8,16}\s*)+", text):
                continue
            skip_hex = False
        text = re.sub(r"\[<[0-9a-f]+>\]\s*", "", text)
        text = re.sub(r"\b(addr|at|ip|sp|object at|address) 0x[0-9a-f]+\b", r"\1 ADDR", text)
        text = re.sub(r"\b(?:0x)?[0-9a-f]{12,16}\b", "ADDR", text)
        text = re.sub(r"\b(PID|task|pid|Pid): ?\d+", r"\1: N", text)
        text = re.sub(r"(task \S+?)/\d+\b", r"\1/N", text)
        out.append(text)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out[:120]) + ("\n[...]" if len(out) > 120 else "")


# -- grading -------------------------------------------------------------------------


def crash_verdict(
    verdict: dict[str, Any], stages: dict[str, dict[str, Any]], oracles: dict[str, Any]
) -> dict[str, Any]:
    """The harness's verdict with kGym's crash outcome: ``verdict["crash"]`` holds the
    crash the task started from, the reports after the patch and the crash outcome, and
    ``outcome`` is mapped from it (:data:`HARNESS_OUTCOME`).  Reports the unmodified
    kernel makes (``known_sanitizer_reports``) are never blamed on the agent."""
    want = oracles["crash"]
    if verdict.get("outcome") == "infra_error":
        return verdict
    out = dict(verdict)
    test = stages.get("test") or {}
    known = {(r["tool"], r["kind"], r["frame"]) for r in oracles.get("known_sanitizer_reports") or ()}
    after = [c for c in parse_crashes(test.get("output", "")) if (c["tool"], c["kind"], c["frame"]) not in known]
    target = (want["tool"], want["kind"], want["frame"])
    if not verdict.get("compiled", True) or verdict.get("outcome") == "build_failed":
        outcome, reason = "build_failed", verdict.get("reason", "the kernel did not build")
    elif verdict.get("outcome") == "timeout":
        outcome, reason = "timeout", verdict.get("reason", "a stage timed out")
    elif any((c["tool"], c["kind"], c["frame"]) == target for c in after):
        outcome, reason = "crash_remains", f"the crash still reproduces: {want['title']}"
    elif after:
        outcome = "new_crash"
        reason = f"the task's crash is gone, but the kernel reports {after[0]['title']}" + (
            f" ({len(after) - 1} more)" if len(after) > 1 else ""
        )
    elif verdict.get("outcome") != "resolved":
        outcome, reason = "tests_failed", f"no crash, but the suites do not pass: {verdict.get('reason', '')}"
    else:
        outcome, reason = "crash_fixed", "the crash is gone, no new report, every KUnit case of the baseline passes"
    out["crash"] = {
        "outcome": outcome,
        "before": {"title": want["title"], "report": want.get("report", "")},
        "after": [{k: c[k] for k in ("title", "tool", "kind", "frame", "report")} for c in after[:5]],
    }
    out["outcome"] = HARNESS_OUTCOME[outcome]
    out["reason"] = f"{outcome}: {reason}"
    return out


# -- tasks -----------------------------------------------------------------------------

#: The crash build is larger than the plain one (KASAN): a boot takes longer, the limits are the kernel tasks'.
CHECK_TIMEOUT_S = 180


def test_command() -> str:
    """The crash tasks' test stage: boot the KASAN kernel; the whole console is the log."""
    from lanser.harness.datasets.kernel.suites import test_command as boot

    return boot(timeout_s=CHECK_TIMEOUT_S, kernel_args=CRASH_KERNEL_ARGS)


def problem_statement(report: str) -> str:
    """What the agent gets: the crash report, trimmed, and how to build and boot the kernel."""
    from lanser.harness.datasets.kernel.suites import build_command

    return "\n".join(
        [
            "The kernel (Linux 6.1, User Mode Linux, KASAN) crashes while it runs its boot-time self-tests:",
            "",
            "```",
            report,
            "```",
            "",
            "Fix the kernel so that this crash is gone. No other crash or warning may appear, and every",
            "self-test that passes on the unmodified kernel must still pass. The self-tests are the",
            "grader's reproducer and cannot be changed.",
            "",
            "Build and boot the kernel (the boot runs the self-tests; its console shows any report) with:",
            f"  {build_command()}",
            f"  {test_command()}",
        ]
    )


def check(tree: Any, image: str, client: Any = None) -> tuple[Any, dict[str, str], list[dict[str, Any]]]:
    """Build and boot ``tree`` in the sandbox: (the run, KTAP results, crash reports)."""
    from lanser.harness.datasets.kernel.generate import CHECK_LIMITS
    from lanser.harness.datasets.kernel.suites import build_command
    from lanser.harness.env import sandbox
    from lanser.harness.grade import grading

    cmd = f"{build_command()} >/tmp/build.log 2>&1 || {{ tail -n 60 /tmp/build.log; exit 97; }}; {test_command()}"
    res = sandbox.run(image, cmd, tree, limits=CHECK_LIMITS, client=client, labels={"lanser.stage": "kernel-crash"})
    if res.exit_code == 97:
        return res, {}, []
    return res, grading.parse_ktap(res.output), parse_crashes(res.output)


def task_record(
    fault: CrashFault,
    original: bytes,
    faulty: bytes,
    first: dict[str, Any],
    results: dict[str, str],
    baseline: dict[str, str],
    known: list[dict[str, Any]],
    dataset: str,
) -> dict[str, Any]:
    """One tasks.jsonl line: the crash is the oracle; KUnit cases the crash stopped (failed or
    never reported) must pass again, every other case of the baseline must keep passing."""
    from lanser.harness.datasets.kernel import faults as kfaults
    from lanser.harness.datasets.kernel.generate import TASK_LIMITS
    from lanser.harness.datasets.kernel.suites import build_command

    cases = sorted(n for n, v in baseline.items() if n.count(".") == 1 and v == "pass")
    return {
        "id": f"{dataset}/{fault.suite}/{fault.function}-{fault.name}",
        "language": "c",
        "image": "base",
        "source": {"kind": "dir", "path": "project"},
        "commands": {"build": build_command(), "test": test_command()},
        "problem": problem_statement(first["report"]),
        "start_patch": kfaults.unified_diff(fault.path, original, faulty),
        "gold_patch": kfaults.unified_diff(fault.path, faulty, original),
        "oracles": {
            "fail_to_pass": [n for n in cases if results.get(n) != "pass"],
            "pass_to_pass": [n for n in cases if results.get(n) == "pass"],
            "known_sanitizer_reports": [{k: r[k] for k in ("tool", "kind", "frame")} for r in known],
            "crash": {k: first[k] for k in ("tool", "kind", "frame", "title", "report")},
        },
        "limits": dict(TASK_LIMITS),
        "test_log": {"format": "ktap"},
    }


def generate(
    out: Any,
    image: str,
    cache: Any,
    *,
    only: tuple[str, ...] = (),
    client: Any = None,
    progress: Any = None,
    layer_only: bool = False,
) -> dict[str, Any]:
    """Build (or find) the crash layer, validate every fault of :data:`CRASH_FAULTS` (the kernel
    builds, and the boot reports a crash the unmodified kernel does not), write the dataset."""
    import json
    import shutil
    import time
    from pathlib import Path

    from lanser.harness.datasets.kernel import generate as kgen
    from lanser.harness.datasets.kernel.dataset import link_project
    from lanser.harness.datasets.kernel.layer import ensure_layer
    from lanser.harness.env.project import copy_tree
    from lanser.harness.errors import InfrastructureError
    from lanser.harness.task.spec import TaskSpec

    say = progress or (lambda _m: None)
    out, cache = Path(out), Path(cache)
    started = time.monotonic()
    layer = ensure_layer(
        cache / "kernel",
        image,
        suites=CRASH_SUITES,
        extra_config=CRASH_CONFIG,
        kernel_args=CRASH_KERNEL_ARGS,
        tag=CRASH_TAG,
        known_failing=CRASH_KNOWN_FAILING,
        client=client,
        progress=say,
    )
    link_project(layer, out)
    if layer_only:
        return {
            "package": layer.info["package"],
            "version": layer.info["version"],
            "tasks": 0,
            "suites": [],
            "tried": [],
            "layer": {k: v for k, v in layer.info.items() if k not in ("baseline", "baseline_reports")},
        }
    tree = cache / "kernel" / "crash-check-tree"
    shutil.rmtree(tree, ignore_errors=True)
    copy_tree(layer.tree, tree)
    # What the unmodified kernel reports (KASAN, warnings) is the baseline, never a task's crash.
    t0 = time.monotonic()
    res0, _results0, known = check(tree, image, client)
    if res0.exit_code == 97:
        raise InfrastructureError(
            "the unmodified crash kernel does not build",
            stage="kernel-crash",
            log_tail="\n".join(res0.output.splitlines()[-40:]),
        )
    say(f"unmodified kernel: {len(known)} reports ({time.monotonic() - t0:.0f} s)")
    known_keys = {(r["tool"], r["kind"], r["frame"]) for r in known}
    records: list[dict[str, Any]] = []
    tried: list[dict[str, Any]] = []
    try:
        for fault in CRASH_FAULTS:
            if only and fault.suite not in only:
                continue
            original = (tree / fault.path).read_bytes()
            faulty = apply_fault(original, fault)
            entry: dict[str, Any] = {"id": f"{fault.suite}/{fault.function}-{fault.name}", "bug": fault.bug}
            tried.append(entry)
            if faulty is None:
                entry["verdict"] = "stale"
                continue
            (tree / fault.path).write_bytes(faulty)
            t0 = time.monotonic()
            try:
                res, results, crashes = check(tree, image, client)
            finally:
                (tree / fault.path).write_bytes(original)
            entry["check_seconds"] = round(time.monotonic() - t0, 1)
            new = [c for c in crashes if (c["tool"], c["kind"], c["frame"]) not in known_keys]
            if res.exit_code == 97:
                entry["verdict"] = "build_failed"
            elif res.timed_out:
                entry["verdict"] = "timeout"
            elif not new:
                entry["verdict"] = "no_crash"
            else:
                entry.update(
                    verdict="kept",
                    crash=new[0]["title"],
                    reports=[c["title"] for c in new],
                    failing=sorted(n for n in layer.baseline if results.get(n) != "pass"),
                )
                record = task_record(fault, original, faulty, new[0], results, layer.baseline, known, out.name)
                TaskSpec.model_validate(record)
                records.append(record)
            say(
                f"{entry['id']}: {entry['verdict']} ({entry['check_seconds']} s)"
                + (f": {entry['crash']}" if entry.get("crash") else "")
            )
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    kgen.write_jsonl(records, out / "tasks.jsonl")
    summary = {
        "package": layer.info["package"],
        "version": layer.info["version"],
        "sha256": layer.info["sha256"],
        "layer": {k: v for k, v in layer.info.items() if k not in ("baseline", "baseline_reports")},
        "debug_config": CRASH_CONFIG.split(),
        "kernel_args": CRASH_KERNEL_ARGS,
        "tasks": len(records),
        "suites": sorted({r["id"].split("/")[1] for r in records}),
        "tried": tried,
        "baseline_reports": [c["title"] for c in known],
        "baseline_check_seconds": round(res0.duration_s, 1),
        "seconds": round(time.monotonic() - started, 1),
    }
    (out / "generation.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return summary


# -- the CI layer ----------------------------------------------------------------------


def ensure_ci_layer(cache: Any, image: str, *, client: Any = None, progress: Any = None) -> Any:
    """The CI layer (:data:`CI_CONFIG`) from ``cache`` (a kernel cache directory, as for
    :func:`~lanser.harness.datasets.kernel.layer.ensure_layer`), built now if it is not there:
    under the layer's lock, like every layer."""
    from lanser.harness.datasets.kernel.layer import ensure_layer

    return ensure_layer(
        cache,
        image,
        suites=CI_SUITES,
        extra_config=CI_CONFIG,
        kernel_args=CRASH_KERNEL_ARGS,
        tag=CI_TAG,
        known_failing=CRASH_KNOWN_FAILING,
        client=client,
        progress=progress,
    )


def for_layer(task: dict[str, Any], baseline: dict[str, str]) -> dict[str, Any]:
    """``task`` (a record of the dataset) for a layer with fewer suites (the CI layer): its
    ``fail_to_pass`` and ``pass_to_pass`` cut to the cases ``baseline`` (that layer's first
    run) has, ``pass_to_pass`` to those that passed there.  The crash oracle is unchanged: the
    same fault makes the same report wherever DAMON's suite runs under KASAN."""
    oracles = dict(task["oracles"])
    oracles["fail_to_pass"] = [n for n in oracles["fail_to_pass"] if n in baseline]
    oracles["pass_to_pass"] = [n for n in oracles["pass_to_pass"] if baseline.get(n) == "pass"]
    return {**task, "oracles": oracles}
