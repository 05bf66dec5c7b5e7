"""The edit journal: its format, its validation, and the file primitives it needs.

A transaction ``T`` of a workspace lives in lanser's private state
directory (:func:`lanser.state.workspace_state`), never in the workspace::

    <state>/workspaces/<key>/journal/T/plan.json     what T changes
    <state>/workspaces/<key>/journal/T/files/<i>.old  file i's bytes before
    <state>/workspaces/<key>/journal/T/files/<i>.new  file i's bytes after
    <state>/workspaces/<key>/journal/T/done           written at commit

``plan.json`` records the workspace's real path, the transaction id and,
per file, its workspace-relative path, the sha256 of its bytes before and
after (null: the file does not exist on that side) and its permission
bits.  Recovery trusts none of it: :func:`parse_plan` rejects anything
but exactly this shape (a truncated or hand-made plan included), and
:mod:`lanser.edits.apply` checks the copies and the files on disk against
the recorded hashes before it touches anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lanser.errors import FsPermissions
from lanser.state import read_fd

__all__ = [
    "Entry",
    "JournalRejected",
    "MAX_PLAN_BYTES",
    "Plan",
    "TX_NAME",
    "encode_plan",
    "fsync_dir",
    "parse_plan",
    "read_private",
    "sha256",
    "write_durable",
]

#: A transaction id as :func:`lanser.edits.apply.apply_changes` makes them.
TX_NAME = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{8}$")
#: A plan bigger than this is not one lanser wrote (a path per file, a few hundred bytes each).
MAX_PLAN_BYTES = 64 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class JournalRejected(FsPermissions):
    """A journal that fails a check: reported, never acted on (E/FS_PERMISSIONS, 71)."""


@dataclass(frozen=True)
class Entry:
    path: str
    old: str | None  # sha256 hex of the bytes before, None: the file did not exist
    new: str | None  # sha256 hex of the bytes after, None: the file is deleted
    mode: int | None


@dataclass(frozen=True)
class Plan:
    tx: str
    root: str
    entries: tuple[Entry, ...]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_plan(plan: Plan) -> bytes:
    return json.dumps(
        {
            "version": 2,
            "tx": plan.tx,
            "root": plan.root,
            "files": [{"path": e.path, "old": e.old, "new": e.new, "mode": e.mode} for e in plan.entries],
        },
        indent=1,
        ensure_ascii=False,
    ).encode()


def check_rel(path: object) -> str:
    """A plan's path: relative, normalised, no ``..``, no NUL, not in ``.git``; else rejected."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise JournalRejected(f"the journal names an invalid path {path!r}")
    p = PurePosixPath(path)
    if p.is_absolute() or p.as_posix() != path or any(part in ("..", ".", "") for part in path.split("/")):
        raise JournalRejected(f"the journal names {path!r}, which is not a plain workspace-relative path")
    if p.parts[0] in (".git", ".lanser"):
        raise JournalRejected(f"the journal names {path!r}, inside .git or .lanser")
    return path


def _hash_or_none(value: object, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _HEX64.match(value):
        return value
    raise JournalRejected(f"the journal's {what} hash {value!r} is not a sha256")


def parse_plan(data: bytes, *, tx: str, root: str) -> Plan:
    """The plan of transaction ``tx`` of the workspace at ``root``, or :class:`JournalRejected`
    (pure: a plan that is truncated, of another shape, another workspace or another id is refused)."""
    try:
        raw: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise JournalRejected(f"the journal plan of {tx} is not valid JSON (truncated?): {exc}") from None
    if not isinstance(raw, dict) or raw.get("version") != 2 or not isinstance(raw.get("files"), list):
        raise JournalRejected(f"the journal plan of {tx} is not a lanser plan (version 2)")
    if raw.get("tx") != tx:
        raise JournalRejected(f"the journal plan in {tx} names transaction {raw.get('tx')!r}")
    if raw.get("root") != root:
        raise JournalRejected(f"the journal plan of {tx} is for workspace {raw.get('root')!r}, not {root!r}")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in raw["files"]:
        if not isinstance(item, dict) or set(item) != {"path", "old", "new", "mode"}:
            raise JournalRejected(f"the journal plan of {tx} has a malformed entry")
        path = check_rel(item["path"])
        if path in seen:
            raise JournalRejected(f"the journal plan of {tx} names {path} twice")
        seen.add(path)
        old, new = _hash_or_none(item["old"], "old"), _hash_or_none(item["new"], "new")
        if old is None and new is None:
            raise JournalRejected(f"the journal plan of {tx} has neither side of {path}")
        mode = item["mode"]
        if mode is not None and (type(mode) is not int or not 0 <= mode <= 0o7777):
            raise JournalRejected(f"the journal plan of {tx} gives {path} the mode {mode!r}")
        entries.append(Entry(path, old, new, mode))
    return Plan(tx, root, tuple(entries))


# -- file primitives ------------------------------------------------------------------


def read_private(path: Path, *, limit: int | None = None) -> bytes:
    """Bytes of a journal file: a regular file (not followed if a symlink) of this user that
    no one else may write, at most ``limit`` bytes; else :class:`JournalRejected`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise JournalRejected(f"the journal file {path} cannot be opened ({exc.strerror or exc})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise JournalRejected(f"the journal file {path} is not a regular file")
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o022:
            raise JournalRejected(
                f"the journal file {path} is not this user's own (uid {st.st_uid}, "
                f"mode {oct(stat.S_IMODE(st.st_mode))})"
            )
        if limit is not None and st.st_size > limit:
            raise JournalRejected(f"the journal file {path} is too big ({st.st_size} bytes)")
        return read_fd(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, directory fsync.

    The temp file is created exclusively and never followed: a symlink
    planted under its name is removed, not written through.  The rename
    replaces ``path`` itself (a symlink there is replaced, not followed).
    """
    tmp = path.parent / f".{path.name}.lanser-tmp-{os.getpid()}"
    try:
        try:
            os.unlink(tmp)  # a leftover of a killed process with our pid, or a plant
        except FileNotFoundError:
            pass
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600 if mode is None else mode
        )
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
        try:
            os.unlink(tmp)  # never leave a temp file behind, whatever failed
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
