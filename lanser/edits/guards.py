"""Guards on a planned ChangeSet, before anything is written.

- the workspace jail: every path, resolved through symlinks, stays inside
  the workspace root (a symlink pointing out is refused);
- allow / deny globs on workspace-relative paths;
- uncommitted work: with git, a dirty worktree refuses the write unless
  ``allow_dirty``;
- case-only renames on a case-insensitive file system.
All refusals are :class:`FsPermissions` (71), naming the path and why.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from lanser.edits.plan import ChangeSet
from lanser.errors import FsPermissions

__all__ = ["check_filters", "check_jail", "dirty_files", "check_case_rename", "jail_rel"]


def jail_rel(root: Path, path: str | Path) -> str:
    """``path`` (absolute, or relative to ``root``) as a workspace-relative POSIX path, or refused."""
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


def dirty_files(root: Path) -> list[str] | None:
    """Tracked files with uncommitted changes, or None outside a git repository."""
    try:
        import git
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    try:
        top = Path(repo.working_tree_dir or root)
        changed = {d.a_path for d in repo.index.diff(None)}
        if repo.head.is_valid():
            changed |= {d.a_path for d in repo.index.diff("HEAD")}
    except git.GitError as exc:
        raise FsPermissions(f"cannot read the git status of {root}: {exc}") from exc
    out = []
    for p in changed:
        if p is None:  # GitPython types a_path as optional; raw diffs always set it
            continue
        try:
            out.append((top / p).resolve().relative_to(root).as_posix())
        except ValueError:
            continue
    return sorted(p for p in out if not p.startswith((".lanser/", ".cache/")))


def check_case_rename(root: Path, changes: ChangeSet) -> None:
    for c in changes.changes:
        if c.op == "rename" and c.new_path and c.new_path.lower() == c.path.lower() and c.new_path != c.path:
            if _case_insensitive(root):
                raise FsPermissions(f"case-only rename {c.path} -> {c.new_path} on a case-insensitive file system",
                                    path=c.path)


def _case_insensitive(root: Path) -> bool:
    probe = root / ".lanser-case-probe"
    try:
        probe.write_text("")
        return (root / ".LANSER-CASE-PROBE").exists()
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)
