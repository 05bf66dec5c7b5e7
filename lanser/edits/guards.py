"""Guards on a planned ChangeSet, before anything is written.

- the workspace jail: every path, resolved through symlinks, stays inside
  the workspace root (a symlink pointing out is refused);
- allow / deny globs on workspace-relative paths;
- uncommitted work: with git, a dirty worktree refuses the write unless
  ``allow_dirty``, and so does an edit that would write an untracked (or
  ignored) file, whose old content git could not give back;
- case-only renames on a case-insensitive file system.
All refusals are :class:`FsPermissions` (71), naming the path and why.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path

from lanser import gitsafe
from lanser.edits.plan import ChangeSet
from lanser.errors import FsPermissions

__all__ = ["check_filters", "check_jail", "dirty_files", "check_case_rename", "jail_rel"]


def jail_rel(root: Path, path: str | Path) -> str:
    """``path`` (absolute, or relative to ``root``) as a workspace-relative POSIX path, or refused.

    ``root`` is taken by its real path: a relative root (``bench run``'s default ``--out``) or
    one reached through a symlink is the same jail as its resolved self."""
    root = Path(os.path.realpath(root))
    p = Path(path)
    absolute = p if p.is_absolute() else root / p
    # Resolve the deepest existing ancestor: the file itself may not exist yet.
    probe = absolute
    tail: list[str] = []
    while not probe.exists() and probe != probe.parent:
        tail.insert(0, probe.name)
        probe = probe.parent
    real = Path(os.path.realpath(probe)).joinpath(*tail)
    if ".." in tail:
        raise FsPermissions(f"{path} escapes the workspace", path=str(path))
    try:
        return real.relative_to(root).as_posix()
    except ValueError:
        raise FsPermissions(f"{path} is outside the workspace jail (resolved to {real})", path=str(path)) from None


def check_jail(root: Path, changes: ChangeSet) -> None:
    for rel in changes.paths:
        if jail_rel(root, rel) != rel:
            raise FsPermissions(f"{rel} resolves elsewhere through a symlink; refused", path=rel)


def check_filters(changes: ChangeSet, allow: tuple[str, ...], deny: tuple[str, ...]) -> None:
    for rel in changes.paths:
        if any(fnmatch.fnmatch(rel, g) for g in deny):
            raise FsPermissions(f"{rel} matches a --deny glob", path=rel, deny=list(deny))
        if allow and not any(fnmatch.fnmatch(rel, g) for g in allow):
            raise FsPermissions(f"{rel} matches no --allow glob", path=rel, allow=list(allow))


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return gitsafe.run(root, *args)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FsPermissions(f"cannot run git in {root}: {exc}") from exc


def _z(out: bytes) -> list[str]:
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def dirty_files(root: Path, touched: Iterable[str] | None = None) -> list[str] | None:
    """Files whose content git could not give back, or None outside a git repository.

    Always: tracked files with uncommitted changes (staged or not).  With
    ``touched`` (the workspace-relative paths an edit would write), also
    each of those that exists but is not tracked: untracked, or ignored
    and present.  Paths are workspace-relative; lanser's own ``.lanser/``
    and clangd's ``.cache/`` are never reported.
    """
    top_proc = _git(root, "rev-parse", "--show-toplevel")
    if top_proc.returncode != 0:
        if b"not a git repository" in top_proc.stderr.lower():
            return None
        raise FsPermissions(
            f"cannot read the git status of {root}: {top_proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    top = os.path.realpath(top_proc.stdout.decode("utf-8", "surrogateescape").strip())
    status = _git(root, "status", "--porcelain=v1", "-z", "--untracked-files=normal", "--no-renames", "--", ".")
    if status.returncode != 0:
        raise FsPermissions(f"cannot read the git status of {root}: {status.stderr.decode('utf-8', 'replace').strip()}")
    prefix = os.path.relpath(os.path.realpath(root), top)
    prefix = "" if prefix == "." else prefix + "/"
    changed: set[str] = set()
    for record in _z(status.stdout):
        code, path = record[:2], record[3:]
        if path.startswith(prefix) and code not in ("??", "!!"):  # untracked ones count only if touched
            changed.add(path[len(prefix) :])
    if touched is not None:
        wanted = sorted({t for t in touched if os.path.lexists(root / t)})
        if wanted:
            listed = _git(root, "--literal-pathspecs", "ls-files", "-z", "--cached", "--", *wanted)
            if listed.returncode != 0:
                raise FsPermissions(
                    f"cannot list the tracked files of {root}: {listed.stderr.decode('utf-8', 'replace').strip()}"
                )
            tracked = set(_z(listed.stdout))
            changed |= {t for t in wanted if t not in tracked}  # untracked, or ignored but present
    return sorted(p for p in changed if not p.startswith((".lanser/", ".cache/")))


def check_case_rename(root: Path, changes: ChangeSet) -> None:
    for c in changes.changes:
        if c.op == "rename" and c.new_path and c.new_path.lower() == c.path.lower() and c.new_path != c.path:
            if _case_insensitive(root):
                raise FsPermissions(
                    f"case-only rename {c.path} -> {c.new_path} on a case-insensitive file system", path=c.path
                )


def _case_insensitive(root: Path) -> bool:
    probe = root / f".lanser-case-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        # Created exclusively, never through a symlink: the workspace may hold anything by any name.
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except OSError:
        return False
    try:
        return os.path.lexists(root / probe.name.upper())
    finally:
        probe.unlink(missing_ok=True)
