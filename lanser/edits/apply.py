"""Transactional apply with a journal, rollback and crash recovery.

Order, per transaction ``T`` under ``.lanser/journal/T/``:
1. ``plan.json`` and every file's original and new bytes are written and
   fsynced, then ``plan.json`` is renamed into place: the transaction now
   exists and can be undone;
2. per file: temp file in the same directory, fsync, ``os.replace``,
   directory fsync (the original's permission bits are kept);
3. ``done`` is written; then the journal is removed.
Any error in step 2 restores what was written.  A process killed at any
point leaves a journal without ``done``; :func:`recover` (run when a
workspace is opened, or by ``lanser recover``) puts every file back to its
original bytes, so each file is entirely old or entirely new and the set of
files is consistent.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import uuid
from pathlib import Path
from typing import Any

from lanser.edits.plan import ChangeSet
from lanser.errors import ApplyConflict, FsPermissions

__all__ = ["apply_changes", "journal_root", "recover"]

#: Test hook: ``LANSER_APPLY_CRASH_AFTER=N`` kills the process (SIGKILL) after N
#: file replacements, so fault-injection tests can crash at every step.
_CRASH_ENV = "LANSER_APPLY_CRASH_AFTER"


def journal_root(root: Path) -> Path:
    return root / ".lanser" / "journal"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, directory fsync."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.lanser-tmp-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if mode is None else mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if mode is not None:
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # never leave a temp file behind, whatever failed
        raise
    _fsync_dir(path.parent)


def _maybe_crash(done: int) -> None:
    limit = os.environ.get(_CRASH_ENV)
    if limit is not None and done >= int(limit):
        os.kill(os.getpid(), 9)


def _steps(changes: ChangeSet) -> list[tuple[str, bytes | None, bytes | None]]:
    """(path, bytes before, bytes after) for every path a change touches."""
    steps: list[tuple[str, bytes | None, bytes | None]] = []
    for c in changes.changes:
        if c.op == "rename":
            steps.append((c.path, c.old, None))
            steps.append((c.new_path or c.path, None, c.new))
        else:
            steps.append((c.path, c.old, c.new))
    return steps


def apply_changes(root: Path, changes: ChangeSet) -> dict[str, Any]:
    """Apply ``changes`` as one transaction; returns what was written."""
    recover(root)
    steps = _steps(changes)
    for rel, before, _ in steps:  # the plan must still describe the disk
        path = root / rel
        now = path.read_bytes() if path.exists() else None
        if now != before:
            raise ApplyConflict(f"{rel} changed since the edit was planned", path=rel)
    tx = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    jdir = journal_root(root) / tx
    (jdir / "files").mkdir(parents=True)
    gitignore = root / ".lanser" / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# lanser's cache and state; safe to delete when no lanser runs\n*\n")
    entries: list[dict[str, Any]] = []
    source_modes = {c.new_path: stat.S_IMODE((root / c.path).stat().st_mode)
                    for c in changes.changes if c.op == "rename" and c.new_path}
    try:
        for i, (rel, before, after) in enumerate(steps):
            mode = source_modes.get(rel)  # a renamed file keeps its permission bits
            if before is not None:
                mode = stat.S_IMODE((root / rel).stat().st_mode)
                _write_durable(jdir / "files" / f"{i}.old", before)
            if after is not None:
                _write_durable(jdir / "files" / f"{i}.new", after)
            entries.append({"path": rel, "old": before is not None, "new": after is not None, "mode": mode})
        _write_durable(jdir / "plan.json", json.dumps({"tx": tx, "files": entries}, indent=1).encode())
    except OSError as exc:
        shutil.rmtree(jdir, ignore_errors=True)
        code = FsPermissions if isinstance(exc, PermissionError) else ApplyConflict
        raise code(f"writing the journal failed ({exc.strerror or exc}); no file was changed") from exc
    written: list[int] = []
    try:
        for i, (rel, before, after) in enumerate(steps):
            path = root / rel
            if after is None:
                path.unlink()
                _fsync_dir(path.parent)
            else:
                mode = entries[i]["mode"]
                _write_durable(path, after, mode if mode is not None else 0o644)
            written.append(i)
            _maybe_crash(len(written))
    except OSError as exc:
        _roll_back(root, jdir, entries)
        code = FsPermissions if isinstance(exc, PermissionError) else ApplyConflict
        raise code(f"writing {steps[len(written)][0]} failed ({exc.strerror or exc}); "
                   "every file was restored", path=steps[len(written)][0]) from exc
    _write_durable(jdir / "done", b"")
    shutil.rmtree(jdir, ignore_errors=True)
    return {"transaction": tx, "files": [rel for rel, _, _ in steps]}


def _roll_back(root: Path, jdir: Path, entries: list[dict[str, Any]]) -> None:
    for i, e in reversed(list(enumerate(entries))):
        path = root / e["path"]
        if e["old"]:
            original = (jdir / "files" / f"{i}.old").read_bytes()
            if not path.exists() or path.read_bytes() != original:
                _write_durable(path, original, e["mode"] if e["mode"] is not None else 0o644)
        elif path.exists():
            path.unlink()
        for leftover in path.parent.glob(f".{path.name}.lanser-tmp-*"):
            leftover.unlink(missing_ok=True)
    shutil.rmtree(jdir, ignore_errors=True)


def recover(root: Path) -> list[str]:
    """Undo every transaction a crash left unfinished; returns their ids."""
    jroot = journal_root(root)
    if not jroot.is_dir():
        return []
    undone = []
    for jdir in sorted(p for p in jroot.iterdir() if p.is_dir()):
        if (jdir / "done").exists():
            shutil.rmtree(jdir, ignore_errors=True)
            continue
        plan = jdir / "plan.json"
        if not plan.exists():  # killed while journalling: nothing was touched yet
            shutil.rmtree(jdir, ignore_errors=True)
            continue
        entries = json.loads(plan.read_text())["files"]
        _roll_back(root, jdir, entries)
        undone.append(jdir.name)
    return undone
