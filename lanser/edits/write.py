"""Writing a previewed ChangeSet: the dirty-tree refusal, the transaction or a 3-way git apply, the commit.

The caller holds the request's commit point (:func:`lanser.cancel.commit_point`);
the transaction itself is :func:`lanser.edits.apply.apply_changes`.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from lanser import gitsafe
from lanser.edits import guards
from lanser.edits.apply import apply_changes
from lanser.edits.plan import ChangeSet
from lanser.errors import ApplyConflict, FsPermissions

__all__ = ["write_changes"]


def write_changes(root: Path, changes: ChangeSet, args: dict[str, Any], message: str) -> dict[str, Any]:
    """Write ``changes`` as asked: refused on a dirty worktree unless ``allowDirty``; one transaction
    (or ``git apply --3way`` with ``viaGit``); committed with ``commit``.  The ``applied`` block."""
    if not args.get("allowDirty"):
        dirty = guards.dirty_files(root, changes.paths)  # untracked files it would write count
        if dirty:
            raise FsPermissions(f"uncommitted changes in {len(dirty)} file(s); commit them or pass --allow-dirty",
                                dirty=dirty[:50])
    if args.get("viaGit"):
        _apply_via_git(root, changes)
        out: dict[str, Any] = {"applied": True, "via": "git apply --3way"}
    else:
        apply_changes(root, changes)
        out = {"applied": True, "via": "transaction"}
    if args.get("commit"):
        out["commit"] = _commit(root, changes, args.get("message") or message)
    return out


def _apply_via_git(root: Path, changes: ChangeSet) -> None:
    patch = changes.diff()
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as fh:
        fh.write(patch)
        name = fh.name
    try:
        done = gitsafe.run(root, "apply", "--3way", "--whitespace=nowarn", name)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ApplyConflict(f"git apply could not run: {exc}") from exc
    finally:
        Path(name).unlink(missing_ok=True)
    proc = subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0:
        conflicts = sorted({line.split("'")[1] for line in proc.stderr.splitlines()
                            if "with conflicts" in line and "'" in line})
        failed = sorted({line.split(":")[2].strip() for line in proc.stderr.splitlines()
                         if line.startswith("error: patch failed:") and line.count(":") >= 3})
        raise ApplyConflict("git apply --3way could not apply the edit cleanly",
                            conflicts=conflicts, failed=failed, stderr=proc.stderr.strip().splitlines()[-20:])


def _commit(root: Path, changes: ChangeSet, message: str) -> str:
    import git

    try:
        repo = git.Repo(root, search_parent_directories=True)
        top = Path(repo.working_tree_dir or root)
        paths = []
        for c in changes.changes:
            for rel in (c.path, c.new_path):
                if rel:
                    paths.append(str((root / rel).resolve().relative_to(top)))
        existing = [p for p in paths if (top / p).exists()]
        removed = [p for p in paths if not (top / p).exists()]
        if existing:
            repo.index.add(existing)
        if removed:
            repo.index.remove(removed, working_tree=False)
        commit = repo.index.commit(message)
        return commit.hexsha
    except (git.GitError, ValueError) as exc:
        raise FsPermissions(f"the edit was applied but committing failed: {exc}") from exc
