"""lanser's own places on disk, and the checks that keep a workspace out of them.

Two kinds of place:

- the per-user state directory (``$XDG_STATE_HOME/lanser``, else
  ``~/.local/state/lanser``), where edit journals and workspace locks
  live, one subdirectory per workspace keyed by the workspace's real path.
  Nothing in a workspace can name, plant or redirect anything there: every
  directory is created mode 0700 and checked (a real directory, not a
  symlink, owned by this user, no access for group or others) before use;
- ``.lanser/`` inside a workspace (the bundle cache, document versions).
  Its bytes may come from a hostile repository, so a path under it is used
  only when every component is a real directory or file, never a symlink
  (:func:`workspace_private`); a refusal is reported once per path.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from pathlib import Path

from lanser.errors import FsPermissions

__all__ = [
    "check_private_dir",
    "ignore_in_git",
    "no_symlinks",
    "private_dir",
    "read_fd",
    "read_nofollow",
    "state_home",
    "warn_once",
    "workspace_key",
    "workspace_private",
    "workspace_state",
    "write_exclusive",
]

_warned: set[str] = set()


def warn_once(message: str) -> None:
    """One line on stderr per distinct message and process (stdout stays the answer's)."""
    if message in _warned:
        return
    _warned.add(message)
    try:
        sys.stderr.write(f"lanser: warning: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed (a detached daemon): the warning is lost, not the answer
        pass


def state_home() -> Path:
    """``$XDG_STATE_HOME/lanser`` (an absolute path only, as the spec says), else ``~/.local/state/lanser``."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(base):
        try:
            base = str(Path.home() / ".local" / "state")
        except (RuntimeError, KeyError) as exc:  # no HOME and no passwd entry (docker run --user N)
            raise FsPermissions("no home directory to keep lanser's state in; set XDG_STATE_HOME") from exc
    return Path(base) / "lanser"


def workspace_key(root: Path) -> str:
    """The state subdirectory name of a workspace: a digest of its real path."""
    real = os.path.realpath(root)
    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def check_private_dir(path: Path) -> None:
    """Refuse ``path`` unless it is a real directory owned by this user with no group/other access."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise FsPermissions(
            f"lanser's state directory {path} cannot be read ({exc.strerror or exc})", path=str(path)
        ) from exc
    if stat.S_ISLNK(st.st_mode):
        raise FsPermissions(f"lanser's state directory {path} is a symlink; refused", path=str(path))
    if not stat.S_ISDIR(st.st_mode):
        raise FsPermissions(f"lanser's state directory {path} is not a directory; refused", path=str(path))
    if st.st_uid != os.geteuid():
        raise FsPermissions(
            f"lanser's state directory {path} belongs to uid {st.st_uid}, not to this user "
            f"(uid {os.geteuid()}); refused",
            path=str(path),
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise FsPermissions(
            f"lanser's state directory {path} is open to other users "
            f"(mode {oct(stat.S_IMODE(st.st_mode))}, wanted 0o700); refused",
            path=str(path),
        )


def private_dir(path: Path, *, create: bool) -> Path | None:
    """``path`` after :func:`check_private_dir`; created (mode 0700) when missing and ``create``,
    else None when missing.  Raises :class:`FsPermissions` when it cannot be used."""
    try:
        os.mkdir(path, 0o700) if create else os.lstat(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        if not create:
            return None
        raise FsPermissions(
            f"cannot create lanser's state directory {path}: its parent is missing", path=str(path)
        ) from None
    except OSError as exc:
        raise FsPermissions(
            f"cannot create lanser's state directory {path} ({exc.strerror or exc})", path=str(path)
        ) from exc
    check_private_dir(path)
    return path


def workspace_state(root: Path, *, create: bool) -> Path | None:
    """The private state directory of the workspace at ``root`` (``<state>/workspaces/<key>``).

    With ``create`` every level is made (the base, e.g. ``~/.local/state``,
    with the usual mode; lanser's own levels 0700); without it, None when
    the directory does not exist yet, and nothing is created.
    """
    home = state_home()
    if create:
        try:
            home.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FsPermissions(
                f"cannot create {home.parent} for lanser's state ({exc.strerror or exc}); "
                "set XDG_STATE_HOME to a writable directory",
                path=str(home.parent),
            ) from exc
    for level in (home, home / "workspaces", home / "workspaces" / workspace_key(root)):
        if private_dir(level, create=create) is None:
            return None
    return home / "workspaces" / workspace_key(root)


# -- lanser's paths inside a workspace ----------------------------------------------


def no_symlinks(root: Path, rel: str) -> str | None:
    """Why ``root/rel`` must not be used (a component is a symlink, or not a directory where
    one is needed), or None when every existing component is a real directory, the last a
    real directory or regular file."""
    path = root
    parts = Path(rel).parts
    for i, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"{path.relative_to(root)} cannot be inspected ({exc.strerror or exc})"
        if stat.S_ISLNK(st.st_mode):
            return f"{path.relative_to(root)} is a symlink"
        last = i == len(parts) - 1
        if not stat.S_ISDIR(st.st_mode) and not (last and stat.S_ISREG(st.st_mode)):
            return f"{path.relative_to(root)} is not a {'directory' if not last else 'regular file'}"
    return None


def workspace_private(root: Path, rel: str, *, create: bool = False) -> Path | None:
    """``root/rel`` (a directory lanser keeps under ``.lanser``), or None when it must not be used:
    a component is a symlink or not a directory.  The refusal is reported once on stderr.
    With ``create`` the missing directories are made one level at a time, each checked."""
    why = no_symlinks(root, rel)
    if why is None and create:
        path = root
        for part in Path(rel).parts:
            path = path / part
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass
            except OSError:
                return None  # a read-only workspace: lanser only answers, it does not remember
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
                why = f"{path.relative_to(root)} is not a directory (or became a symlink)"
                break
    if why is not None:
        warn_once(f"{why} in {root}; lanser does not follow it and keeps no cache or versions there")
        return None
    return root / rel


def write_exclusive(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Create ``path`` with ``data``; never through a symlink, never over an existing file
    (FileExistsError)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def ignore_in_git(lanser_dir: Path) -> None:
    """``.lanser/.gitignore``: lanser's state stays out of ``git status``.  Written only when
    nothing (not even a dangling symlink) is there; best effort."""
    marker = lanser_dir / ".gitignore"
    if os.path.lexists(marker):
        return
    try:
        write_exclusive(marker, b"# lanser's cache and state; safe to delete when no lanser runs\n*\n")
    except OSError:
        pass


def read_fd(fd: int) -> bytes:
    """Everything left to read from an open file descriptor."""
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def read_nofollow(path: Path) -> bytes | None:
    """A regular file's bytes, or None when it is missing, a symlink or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return read_fd(fd)
    finally:
        os.close(fd)
