"""A task's start state holds nothing compiled from the code it asks for.

The project layer is built once, from the original source (see
:mod:`lanser.harness.env.project`).  A synthetic task's start patch then
empties a body or flips an operator in the task's copy, but the copy's
objects, static archives and linked binaries (a test runner, a kernel's
``.kunit/linux``) were compiled before the patch: the answer, one
``strings`` or ``objdump`` away for an agent that may run commands.

So :func:`rebuild` runs the layer's own setup again (or the task's build
when the layer has none, as a kernel layer) on the patched copy, in the
sandbox: make, ninja and kbuild recompile and relink exactly what depends on
the patched files, and the agent starts from a tree built from its start
state, with its first build incremental (its compile databases made portable
again, as the layer's are).  If that rebuild fails (a start
state that does not build, a timeout), every compiled output that is not a
tracked file is deleted: the agent's first build is then a full one, slow
but holding nothing of the answer.

The setup runs again as the dataset wrote it: one that rewrites tracked
sources with different bytes each time (say ``autoreconf`` on another
toolchain) would show those rewrites as the agent's changes; the shipped
synthetic sets use cmake and kbuild, which do not.

A layer with no compiled output (a source directory without a setup) is
left alone, and a task without a start patch (a real bug: the start state
is the pinned source the layer was built from) has nothing to hide.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lanser.harness.env import sandbox
from lanser.harness.task import worktree
from lanser.harness.task.spec import TaskSpec

__all__ = ["COMPILED_MAGIC", "compiled_outputs", "rebuild", "scrub"]

#: How a file compiled from source begins: ELF (objects, shared libraries, executables), ar archives
#: (thin ones too), LLVM bitcode (raw and wrapped), GCC and clang precompiled headers.
COMPILED_MAGIC = (b"\x7fELF", b"!<arch>\n", b"!<thin>\n", b"BC\xc0\xde", b"\xde\xc0\x17\x0b", b"gpch", b"CPCH")
_HEAD = max(len(m) for m in COMPILED_MAGIC)


def _untracked_files(tree: Path, tracked: frozenset[str]) -> Iterator[str]:
    """Regular files under ``tree`` (links not followed, ``.git`` skipped) that git does not track."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(tree / rel_dir if rel_dir else tree))
        except OSError:
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_dir(follow_symlinks=False):
                if rel != ".git":
                    stack.append(rel)
            elif entry.is_file(follow_symlinks=False) and rel not in tracked:
                yield rel


def _compiled(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, _HEAD)
    finally:
        os.close(fd)
    return head.startswith(COMPILED_MAGIC)


def compiled_outputs(tree: Path, tracked: frozenset[str], *, first: bool = False) -> list[str]:
    """The untracked files of ``tree`` that are compiled code; ``first``: stop at the first one."""
    found = []
    for rel in _untracked_files(tree, tracked):
        if _compiled(tree / rel):
            found.append(rel)
            if first:
                break
    return sorted(found)


def scrub(tree: Path, tracked: frozenset[str]) -> int:
    """Delete every untracked compiled file in ``tree``; how many were deleted."""
    gone = 0
    for rel in compiled_outputs(tree, tracked):
        with_path = tree / rel
        try:
            with_path.unlink()
            gone += 1
        except FileNotFoundError:
            continue
    return gone


def rebuild(
    task: TaskSpec,
    work: Path,
    image: str,
    tracked: frozenset[str],
    *,
    labels: dict[str, str] | None = None,
    client: Any = None,
) -> dict[str, Any] | None:
    """Rebuild ``work`` (a patched copy of a built layer) from its start state; ``None`` when there
    is nothing to rebuild.  Returns what ran: the command's name, exit code, duration, whether it
    timed out, and how many compiled outputs were deleted because it failed."""
    if not task.start_patch or not compiled_outputs(work, tracked, first=True):
        return None
    name, command = ("setup", task.commands.setup) if task.commands.setup else ("build", task.commands.build)
    limits = sandbox.Limits(
        wall_s=max(task.limits.wall_s, task.limits.setup_wall_s) if task.commands.setup else task.limits.wall_s,
        memory_mb=task.limits.memory_mb,
        cpus=task.limits.cpus,
        pids=task.limits.pids,
    )
    started = time.monotonic()
    res = sandbox.run(
        image, command, work, limits=limits, labels={**(labels or {}), "lanser.stage": "start"}, client=client
    )
    ok = res.exit_code == 0 and not res.timed_out and not res.oom_killed
    for cdb in worktree.databases(work):  # a configure step writes them again, with container paths
        worktree.portable_compile_commands(cdb, work)
    return {
        "command": name,
        "exit_code": res.exit_code,
        "timed_out": res.timed_out,
        "seconds": round(time.monotonic() - started, 3),
        "scrubbed": 0 if ok else scrub(work, tracked),
        **({} if ok else {"output": res.output[-4000:]}),
    }
