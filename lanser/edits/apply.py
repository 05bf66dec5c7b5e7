"""Transactional apply with a journal, rollback and crash recovery.

The journal is lanser's, not the workspace's: it lives in the per-user
state directory (:mod:`lanser.state`, format in :mod:`lanser.edits.journal`),
and one writer at a time holds the workspace lock (:mod:`lanser.edits.lock`).
Order, per transaction ``T``, all under the lock:

0. recovery of any transaction a crash left behind (below);
1. every file's original and new bytes are written and fsynced, then
   ``plan.json`` (paths, sha256 of both sides, modes) is renamed into
   place: the transaction now exists and can be undone;
2. per file: temp file in the same directory, fsync, ``os.replace``,
   directory fsync (the original's permission bits are kept);
3. ``done`` is written; then the journal is removed, then the lock released.

Any error in step 2 restores what was written.  A process killed at any
point leaves a journal without ``done``; :func:`recover` (run when a
workspace is opened, or by ``lanser recover``) puts every file back to its
original bytes, so each file is entirely old or entirely new and the set of
files is consistent.  Recovery acts only on a journal that passes every
check (owned by this user, mode 0700, no symlink, a well-formed plan for
this workspace, every path inside the jail, the stored copies and every
file on disk matching the recorded hashes); any other is reported, never
acted on.  A ``.lanser/journal`` inside a workspace is never read.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanser.edits.journal import (
    MAX_PLAN_BYTES,
    TX_NAME,
    Entry,
    JournalRejected,
    Plan,
    check_rel,
    encode_plan,
    fsync_dir,
    parse_plan,
    read_private,
    sha256,
    write_durable,
)
from lanser.edits.lock import WorkspaceLock
from lanser.edits.plan import ChangeSet
from lanser.errors import ApplyConflict, FsPermissions, LanserError
from lanser.state import check_private_dir, private_dir, read_fd, state_home, warn_once, workspace_key, workspace_state

__all__ = ["Recovery", "apply_changes", "journal_root", "recover", "recover_report"]

#: Test hook: ``LANSER_APPLY_CRASH_AFTER=N`` kills the process (SIGKILL) after N
#: file replacements, so fault-injection tests can crash at every step.
_CRASH_ENV = "LANSER_APPLY_CRASH_AFTER"
#: Test hook: ``LANSER_APPLY_STOP_AFTER=N`` stops the process (SIGSTOP) after N file
#: replacements, lock held, so a test can run other lanser commands mid-apply.
_STOP_ENV = "LANSER_APPLY_STOP_AFTER"


def journal_root(root: Path) -> Path:
    """Where the transactions of the workspace at ``root`` are journalled (nothing is created)."""
    return state_home() / "workspaces" / workspace_key(root) / "journal"


# -- apply -----------------------------------------------------------------------------


def _hook(done: int) -> None:
    crash, stop = os.environ.get(_CRASH_ENV), os.environ.get(_STOP_ENV)
    if crash is not None and done >= int(crash):
        os.kill(os.getpid(), signal.SIGKILL)
    if stop is not None and done == int(stop):
        os.kill(os.getpid(), signal.SIGSTOP)


def _target(root: Path, rel: str, *, make_parent: bool = False) -> Path:
    """``root/rel`` when its directory is inside the workspace with no symlink on the way and
    the file itself is not a symlink (or missing); else :class:`FsPermissions`."""
    try:
        check_rel(rel)
    except JournalRejected as exc:
        raise FsPermissions(f"{rel!r} is not a writable workspace path: {exc.message}", path=rel) from None
    path = root / rel
    for _ in range(2 if make_parent else 1):  # checked before the directories are made, and after
        if os.path.realpath(path.parent) != str(path.parent):
            raise FsPermissions(f"{rel} lies under a symlink; refused", path=rel)
        if make_parent:
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISREG(st.st_mode):
        raise FsPermissions(f"{rel} is not a regular file (a symlink or special file); refused", path=rel)
    return path


def _read_nofollow(path: Path) -> bytes | None:
    """A regular file's bytes, None when missing (the caller has checked it is no symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FsPermissions(f"{path.name} is not a regular file; refused", path=str(path))
        return read_fd(fd)
    finally:
        os.close(fd)


def apply_changes(root: Path, changes: ChangeSet) -> dict[str, Any]:
    """Apply ``changes`` as one transaction, holding the workspace lock; returns what was written."""
    root = Path(os.path.realpath(root))
    state = workspace_state(root, create=True)
    assert state is not None
    with WorkspaceLock(state).acquire():
        for problem in _recover_locked(root, state / "journal").rejected:
            warn_once(problem["message"])
        return _apply_locked(root, state / "journal", changes)


def _apply_locked(root: Path, jroot: Path, changes: ChangeSet) -> dict[str, Any]:
    steps = changes.steps()
    for rel, before, _ in steps:  # the plan must still describe the disk
        now = _read_nofollow(_target(root, rel))
        if now != before:
            raise ApplyConflict(f"{rel} changed since the edit was planned", path=rel)
    tx = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    entries: list[Entry] = []
    source_modes = {
        c.new_path: stat.S_IMODE(os.lstat(root / c.path).st_mode)
        for c in changes.changes
        if c.op == "rename" and c.new_path
    }
    jdir = jroot / tx
    try:
        private_dir(jroot, create=True)
        os.mkdir(jdir, 0o700)
        os.mkdir(jdir / "files", 0o700)
        for i, (rel, before, after) in enumerate(steps):
            mode = source_modes.get(rel)  # a renamed file keeps its permission bits
            if before is not None:
                mode = stat.S_IMODE(os.lstat(root / rel).st_mode)
                write_durable(jdir / "files" / f"{i}.old", before)
            if after is not None:
                write_durable(jdir / "files" / f"{i}.new", after)
            entries.append(
                Entry(rel, None if before is None else sha256(before), None if after is None else sha256(after), mode)
            )
        write_durable(jdir / "plan.json", encode_plan(Plan(tx, str(root), tuple(entries))))
    except OSError as exc:
        shutil.rmtree(jdir, ignore_errors=True)
        code = FsPermissions if isinstance(exc, PermissionError) else ApplyConflict
        raise code(f"writing the journal failed ({exc.strerror or exc}); no file was changed") from exc
    written: list[int] = []
    try:
        for i, (rel, _before, after) in enumerate(steps):
            path = _target(root, rel, make_parent=after is not None)
            if after is None:
                path.unlink()
                fsync_dir(path.parent)
            else:
                mode = entries[i].mode
                write_durable(path, after, mode if mode is not None else 0o644)
            written.append(i)
            _hook(len(written))
    except (OSError, FsPermissions) as exc:
        _roll_back(root, jdir, entries, {i: before for i, (_, before, _) in enumerate(steps)})
        failed = steps[len(written)][0]
        if isinstance(exc, FsPermissions):
            raise FsPermissions(f"{exc.message}; every file was restored", path=failed) from exc
        code = FsPermissions if isinstance(exc, PermissionError) else ApplyConflict
        raise code(f"writing {failed} failed ({exc.strerror or exc}); every file was restored", path=failed) from exc
    write_durable(jdir / "done", b"")
    shutil.rmtree(jdir, ignore_errors=True)
    return {"transaction": tx, "files": [rel for rel, _, _ in steps]}


def _roll_back(root: Path, jdir: Path, entries: list[Entry], originals: dict[int, bytes | None]) -> None:
    """Put every entry back to its original bytes (``originals``, by entry index); drop the journal."""
    for i, e in reversed(list(enumerate(entries))):
        path = _target(root, e.path)
        original = originals[i]
        if original is not None:
            if _read_nofollow(path) != original:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_durable(path, original, e.mode if e.mode is not None else 0o644)
        elif os.path.lexists(path):
            path.unlink()
        _remove_temps(path)
    shutil.rmtree(jdir, ignore_errors=True)


def _remove_temps(path: Path) -> None:
    prefix = f".{path.name}.lanser-tmp-"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix):
            try:
                os.unlink(path.parent / name)  # unlink never follows a symlink
            except OSError:
                pass


# -- recovery ---------------------------------------------------------------------------


@dataclass
class Recovery:
    """What recovery did: transactions rolled back, journals refused (with why), whether it was
    skipped because an apply holds the lock, journals found in the workspace and ignored."""

    undone: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    busy: bool = False
    ignored: list[str] = field(default_factory=list)


def recover_report(root: Path) -> Recovery:
    """Undo every transaction a crash left unfinished in ``root``, under the lock.

    Never raises for a journal: a bad one is in ``rejected``.  When
    another process holds the lock (an apply in progress), nothing is
    done and ``busy`` is set.
    """
    root = Path(os.path.realpath(root))
    out = Recovery()
    if os.path.lexists(root / ".lanser" / "journal"):
        out.ignored.append(".lanser/journal")  # a workspace's bytes are no journal of ours
    try:
        state = workspace_state(root, create=False)
    except FsPermissions as exc:
        out.rejected.append({"transaction": "", "message": exc.message})
        return out
    if state is None or not os.path.lexists(state / "journal"):
        return out  # the common case: nothing was ever journalled, and nothing is created
    lock = WorkspaceLock(state)
    try:
        if not lock.try_acquire():
            out.busy = True
            return out
    except FsPermissions as exc:
        out.rejected.append({"transaction": "", "message": exc.message})
        return out
    with lock:
        done = _recover_locked(root, state / "journal")
    out.undone, out.rejected = done.undone, out.rejected + done.rejected
    return out


def recover(root: Path) -> list[str]:
    """Recovery as a workspace is opened: the ids undone; refusals are warnings on stderr, and
    an apply in progress (lock held) is left alone."""
    report = recover_report(root)
    for problem in report.rejected:
        warn_once(problem["message"])
    return report.undone


def _recover_locked(root: Path, jroot: Path) -> Recovery:
    out = Recovery()
    try:
        if private_dir(jroot, create=False) is None:
            return out
        names = sorted(os.listdir(jroot))
    except (FsPermissions, OSError) as exc:
        message = exc.message if isinstance(exc, LanserError) else f"cannot list {jroot}: {exc}"
        out.rejected.append({"transaction": "", "message": message})
        return out
    for name in names:
        try:
            if _recover_tx(root, jroot / name):
                out.undone.append(name)
        except (LanserError, OSError) as exc:
            detail = exc.message if isinstance(exc, LanserError) else f"{type(exc).__name__}: {exc}"
            out.rejected.append(
                {
                    "transaction": name,
                    "message": f"journal {jroot / name} left alone, not recovered: {detail}; "
                    "inspect it, then delete it",
                }
            )
    return out


def _recover_tx(root: Path, tdir: Path) -> bool:
    """Roll back one transaction; False when it needed none (finished, or never started)."""
    if not TX_NAME.match(tdir.name):
        raise JournalRejected("not a transaction lanser made (its name)")
    try:
        check_private_dir(tdir)
    except FsPermissions as exc:
        raise JournalRejected(exc.message) from None
    if os.path.lexists(tdir / "done") or not os.path.lexists(tdir / "plan.json"):
        # Committed, or killed while journalling (no plan: nothing was touched yet).
        shutil.rmtree(tdir)
        return False
    plan = parse_plan(read_private(tdir / "plan.json", limit=MAX_PLAN_BYTES), tx=tdir.name, root=str(root))
    originals: dict[int, bytes | None] = {}
    for i, e in enumerate(plan.entries):  # every check before anything is touched
        try:
            path = _target(root, e.path)
            now = _read_nofollow(path)
        except FsPermissions as exc:
            raise JournalRejected(exc.message) from None
        now_hash = None if now is None else sha256(now)
        if now_hash not in (e.old, e.new):
            raise JournalRejected(
                f"{e.path} is neither as before nor as after the transaction "
                "(changed since); rolling back would lose that change"
            )
        originals[i] = None
        if e.old is not None:
            copy = read_private(tdir / "files" / f"{i}.old")
            if sha256(copy) != e.old:
                raise JournalRejected(f"the journal's copy of {e.path} does not match its recorded hash")
            originals[i] = copy
    _roll_back(root, tdir, list(plan.entries), originals)
    return True
