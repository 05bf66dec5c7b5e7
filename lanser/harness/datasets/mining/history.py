"""Reading an upstream history: the commits of a range, each with the files it changed.

IO at the edge: git runs on a local clone the dataset's author fetched (a
bare repository is fine), with lanser's hardened overrides (no fsmonitor,
no hooks, no redirecting ``GIT_*`` variables): the history is the
project's, not ours.  Everything else in :mod:`lanser.harness.datasets.mining` is
pure over :class:`Commit`.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from lanser import gitsafe
from lanser.errors import BadRequest

__all__ = ["Change", "Commit", "Merge", "check_subdir", "in_subdir", "read_commits", "read_merges", "resolve"]

#: A file mode git reports for a symbolic link; a gitlink (submodule) is 160000.
LINK_MODES = ("120000", "160000")


@dataclass(frozen=True)
class Change:
    """One file a commit changed: its content before and after (None: absent) and git's modes.

    ``unreadable``: the clone lacks a blob of it (a partial clone or a mirror that left out
    its largest files): its content is unknown, so a candidate that needs it is dropped
    (:mod:`.port`), counted, and the rest of the range is mined."""

    path: str
    old: bytes | None
    new: bytes | None
    old_mode: str
    new_mode: str
    unreadable: bool = False

    @property
    def special(self) -> bool:
        """A link, a submodule, or a new executable file: nothing a text patch can carry."""
        return (
            self.old_mode in LINK_MODES
            or self.new_mode in LINK_MODES
            or (self.old is None and self.new_mode == "100755")
            or (self.old is not None and self.new is not None and self.old_mode != self.new_mode)
        )


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    changes: tuple[Change, ...]

    @property
    def subject(self) -> str:
        return self.message.strip().splitlines()[0] if self.message.strip() else ""


@dataclass(frozen=True)
class Merge:
    """A merge commit of the range and the commits it brought in (its second parent's side,
    oldest first): a pull request's own commits, when it was merged with a merge commit."""

    sha: str
    message: str
    commits: tuple[str, ...]


def _git(git_dir: Path, *args: str) -> bytes:
    proc = subprocess.run(
        ["git", *gitsafe.SAFE_ARGS, "--git-dir", str(git_dir), *args],
        env=gitsafe.env(),
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode != 0:
        raise BadRequest(
            f"git {' '.join(args[:3])} in {git_dir}: {proc.stderr.decode(errors='replace').strip()}", field="history"
        )
    return proc.stdout


def resolve(git_dir: Path, rev: str) -> str:
    """The full commit id ``rev`` names (a tag, a branch, a prefix)."""
    if rev.startswith("-"):
        raise BadRequest(f"{rev!r} is not a revision", field="history")
    return _git(git_dir, "rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}").decode().strip()


def read_commits(git_dir: Path, since: str, until: str) -> list[Commit]:
    """The non-merge commits reachable from ``until`` and not from ``since``, oldest first
    (topological order: the same range always lists the same commits in the same order)."""
    base, head = resolve(git_dir, since), resolve(git_dir, until)
    shas = _git(git_dir, "rev-list", "--no-merges", "--topo-order", "--reverse", f"{base}..{head}").decode().split()
    return [_commit(git_dir, sha) for sha in shas]


def _commit(git_dir: Path, sha: str) -> Commit:
    message = _git(git_dir, "log", "-1", "--format=%B", sha).decode("utf-8", errors="replace")
    raw = _git(git_dir, "diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", "--root", sha)
    fields = raw.split(b"\0")
    changes: list[Change] = []
    i = 0
    while i + 1 < len(fields) and fields[i].startswith(b":"):
        meta = fields[i][1:].decode().split()
        path = fields[i + 1].decode("utf-8", errors="surrogateescape")
        i += 2
        old_mode, new_mode, status = meta[0], meta[1], meta[4]
        # A submodule's "blob" is a commit of another repository: no content here (the change is special).
        old = None if status == "A" or old_mode in ("000000", "160000") else _blob(git_dir, meta[2])
        new = None if status == "D" or new_mode in ("000000", "160000") else _blob(git_dir, meta[3])
        unreadable = old is MISSING or new is MISSING
        changes.append(
            Change(
                path,
                None if old is MISSING else old,
                None if new is MISSING else new,
                old_mode,
                new_mode,
                unreadable,
            )
        )
    return Commit(sha, message, tuple(sorted(changes, key=lambda c: c.path)))


#: What :func:`_blob` returns for a blob the clone does not hold.
MISSING = b"\0<missing blob>"


def _blob(git_dir: Path, oid: str) -> bytes | None:
    if set(oid) == {"0"}:
        return None
    try:
        return _git(git_dir, "cat-file", "blob", oid)
    except BadRequest:
        if _has(git_dir, oid):
            raise  # the blob is there: another failure, not a missing object
        return MISSING


def _has(git_dir: Path, oid: str) -> bool:
    proc = subprocess.run(
        ["git", *gitsafe.SAFE_ARGS, "--git-dir", str(git_dir), "cat-file", "-e", oid],
        env=gitsafe.env(),
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode == 0


def check_subdir(subdir: str) -> str:
    """``subdir`` as a relative directory path without a trailing slash (``expat``, ``src/lib``);
    ValueError for an absolute path, ``..``, ``.`` or an empty one."""
    parts = subdir.strip("/").split("/") if subdir.strip("/") else []
    if not parts or subdir.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"--subdir {subdir!r}: a relative directory of the upstream repository (e.g. expat)")
    return "/".join(parts)


def in_subdir(commits: list[Commit], subdir: str) -> list[Commit]:
    """``commits`` as seen from ``subdir`` (pure): a change under ``subdir/`` keeps its path
    relative to it (the pinned source's root is that directory), every other change is left
    out; a commit left with none stays in the list (it is counted, as a commit that changes
    neither source nor tests)."""
    prefix = check_subdir(subdir) + "/"
    out = []
    for commit in commits:
        changes = tuple(
            replace(c, path=c.path[len(prefix) :])
            for c in commit.changes
            if c.path.startswith(prefix) and len(c.path) > len(prefix)
        )
        out.append(replace(commit, changes=changes))
    return out


def read_merges(git_dir: Path, since: str, until: str) -> list[Merge]:
    """The two-parent merge commits of ``since..until``, oldest first, each with the non-merge
    commits reachable from its second parent and not from its first (what it brought in)."""
    base, head = resolve(git_dir, since), resolve(git_dir, until)
    shas = _git(git_dir, "rev-list", "--merges", "--topo-order", "--reverse", f"{base}..{head}").decode().split()
    out: list[Merge] = []
    for sha in shas:
        parents = _git(git_dir, "log", "-1", "--format=%P", sha).decode().split()
        if len(parents) != 2:
            continue
        message = _git(git_dir, "log", "-1", "--format=%B", sha).decode("utf-8", errors="replace")
        brought = _git(
            git_dir, "rev-list", "--no-merges", "--topo-order", "--reverse", parents[1], f"^{parents[0]}", f"^{base}"
        )
        out.append(Merge(sha, message, tuple(brought.decode().split())))
    return out
