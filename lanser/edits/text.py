"""Plain-text edits: a unified diff written to files no language server serves.

lanser's ``check --apply`` edits only files it has a server for: a fix to a
bison grammar, a ``.jq`` prelude or a ``config.h.in`` has no diagnostics to
evaluate.  Such an edit is planned and written here with the refusals the
speculative path has and one more:

- the patch must parse and every hunk apply (:class:`~lanser.errors.BadRequest`,
  :class:`~lanser.errors.ApplyConflict`), as :func:`lanser.edits.patch.parse_patch` says;
- every path stays in the workspace jail, through symlinks too, and is a
  plain workspace path outside ``.git`` and ``.lanser``
  (:class:`~lanser.errors.FsPermissions`);
- allow / deny globs, as ``check`` takes them;
- a path the caller calls *protected* (a task's hidden tests and build
  recipes) is refused (:class:`~lanser.errors.FsPermissions`).

The write is one transaction (:func:`lanser.edits.apply.apply_changes`:
journal, workspace lock, rollback, crash recovery): every file entirely old
or entirely new.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanser.edits import guards
from lanser.edits.apply import apply_changes
from lanser.edits.journal import JournalRejected, check_rel
from lanser.edits.patch import parse_patch
from lanser.edits.plan import ChangeSet
from lanser.errors import FsPermissions

__all__ = ["apply_text", "patch_paths", "plan_text"]


def _strip(path: str) -> str | None:
    path = path.split("\t")[0].strip()
    if path == "/dev/null":
        return None
    return path[2:] if path.startswith(("a/", "b/")) else path


def patch_paths(patch: str) -> list[str]:
    """The paths a unified diff's file headers name (old and new, in order, once each); nothing is read."""
    lines = patch.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("--- ") and lines[i + 1].startswith("+++ "):
            for p in (_strip(line[4:]), _strip(lines[i + 1][4:])):
                if p is not None and p not in out:
                    out.append(p)
    return out


def plan_text(
    root: Path,
    patch: str,
    *,
    protected: Callable[[str], bool] | None = None,
    allow: tuple[str, ...] = (),
    deny: tuple[str, ...] = (),
) -> ChangeSet:
    """The ChangeSet ``patch`` makes in the workspace at ``root``, or the refusal; nothing is written."""

    def read(rel: str) -> bytes | None:
        p = root / guards.jail_rel(root, rel)  # a path leaving the jail is refused before it is read
        return p.read_bytes() if p.is_file() and not p.is_symlink() else None

    changes = parse_patch(patch, read)
    guards.check_jail(root, changes)
    for rel in changes.paths:
        try:
            check_rel(rel)
        except JournalRejected as exc:
            raise FsPermissions(f"{rel!r} is not a writable workspace path: {exc.message}", path=rel) from None
        if protected is not None and protected(rel):
            raise FsPermissions(f"{rel} is protected (the task's tests or build recipes); refused", path=rel)
    guards.check_filters(changes, allow, deny)
    return changes


def apply_text(root: Path, changes: ChangeSet) -> dict[str, Any]:
    """Write ``changes`` as one transaction; the ``applied`` block (as ``check --apply`` gives it)."""
    written = apply_changes(root, changes)
    return {"applied": True, "via": "transaction", "transaction": written["transaction"]}
