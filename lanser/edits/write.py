"""Writing a previewed ChangeSet: the dirty-tree refusal, the transaction or a 3-way git apply, the commit.

The caller holds the request's commit point (:func:`lanser.cancel.commit_point`);
the transaction itself is :func:`lanser.edits.apply.apply_changes`.
"""

from __future__ import annotations

import os
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
            raise FsPermissions(
                f"uncommitted changes in {len(dirty)} file(s); commit them or pass --allow-dirty", dirty=dirty[:50]
            )
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
        # A file touched but unchanged would "not match index": refresh its stat first (the
        # content is hashed as stored, the repository's filters neutralised by the runner).
        gitsafe.run(root, "update-index", "-q", "--refresh")
        done = gitsafe.run(root, "apply", "--3way", "--whitespace=nowarn", name)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ApplyConflict(f"git apply could not run: {exc}") from exc
    finally:
        Path(name).unlink(missing_ok=True)
    proc = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    )
    if proc.returncode != 0:
        conflicts = sorted(
            {line.split("'")[1] for line in proc.stderr.splitlines() if "with conflicts" in line and "'" in line}
        )
        failed = sorted(
            {
                line.split(":")[2].strip()
                for line in proc.stderr.splitlines()
                if line.startswith("error: patch failed:") and line.count(":") >= 3
            }
        )
        raise ApplyConflict(
            "git apply --3way could not apply the edit cleanly",
            conflicts=conflicts,
            failed=failed,
            stderr=proc.stderr.strip().splitlines()[-20:],
        )


def _commit(root: Path, changes: ChangeSet, message: str) -> str:
    """Commit the index with the changed paths added; the new commit's id.

    Through the hardened runner, never a library that runs hooks itself: a
    workspace's ``.git/hooks`` and ``core.hooksPath`` are the repository's
    programs, not the user's (GitPython's ``index.commit`` ran ``pre-commit`` and
    ``commit-msg``).  Unsigned (``commit.gpgSign`` could name a program too); with
    no identity configured, git's own defaults are replaced by lanser's name.
    """

    def git(*args: str) -> str:
        try:
            proc = gitsafe.run(root, *args)
        except (OSError, subprocess.SubprocessError) as exc:
            raise FsPermissions(f"the edit was applied but committing failed: {exc}") from exc
        if proc.returncode != 0:
            raise FsPermissions(
                "the edit was applied but committing failed: " + proc.stderr.decode("utf-8", "replace").strip()[-2000:]
            )
        return proc.stdout.decode("utf-8", "surrogateescape").strip()

    top = Path(os.path.realpath(git("rev-parse", "--show-toplevel")))
    paths: list[str] = []
    for c in changes.changes:
        for rel in (c.path, c.new_path):
            if rel:
                paths.append(str((root / rel).resolve().relative_to(top)))
    existing = sorted({p for p in paths if (top / p).exists()})
    removed = sorted({p for p in paths if not (top / p).exists()})
    if existing:
        git("-C", str(top), "--literal-pathspecs", "add", "--", *existing)
    if removed:
        git("-C", str(top), "--literal-pathspecs", "rm", "--cached", "-q", "--ignore-unmatch", "--", *removed)
    identity: list[str] = []
    for key, fallback in (("user.name", "lanser"), ("user.email", "lanser@localhost")):
        known = gitsafe.run(root, "config", "--get", key)
        if known.returncode != 0 or not known.stdout.strip():
            identity += ["-c", f"{key}={fallback}"]
    git(*identity, "-c", "commit.gpgSign=false", "commit", "-q", "--no-verify", "-m", message)
    return git("rev-parse", "HEAD")
