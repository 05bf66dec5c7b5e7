"""One writer per workspace: an exclusive ``flock`` on ``<state>/workspaces/<key>/lock``.

An apply holds it from before its journal exists until the journal is
gone; recovery holds it while it rolls back.  A reader that would run
recovery only *tries* the lock and skips recovery when it is held (a
transaction in progress is not a crashed one).  The lock file lives in
lanser's private state directory, never in the workspace, so a workspace
cannot plant, replace or hold it.  ``flock`` locks die with their process,
so a killed applier never leaves the workspace locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from lanser.errors import ApplyConflict, FsPermissions

__all__ = ["LOCK_NAME", "WorkspaceLock"]

LOCK_NAME = "lock"
#: How long an apply waits for another lanser process's apply (seconds); applies take
#: milliseconds, so a lock held this long is a stuck or paused process.
WAIT_S = float(os.environ.get("LANSER_LOCK_WAIT_S", "30"))


class WorkspaceLock:
    """The lock of one workspace state directory; a context manager once acquired."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def _open(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise FsPermissions(
                f"cannot open the workspace lock {self.path} ({exc.strerror or exc})", path=str(self.path)
            ) from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            os.close(fd)
            raise FsPermissions(
                f"the workspace lock {self.path} is not a regular file of this user; refused", path=str(self.path)
            )
        return fd

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False (and nothing held) if another holder has it."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise FsPermissions(f"cannot lock {self.path} ({exc.strerror or exc})", path=str(self.path)) from exc
        self._fd = fd
        self._note_holder()
        return True

    def acquire(self, wait_s: float | None = None) -> WorkspaceLock:
        """Take the lock, waiting up to ``wait_s`` seconds for another holder; else E/APPLY_CONFLICT."""
        for delay in self._waits(wait_s):
            time.sleep(delay)
        return self

    async def wait_free(self, wait_s: float | None = None) -> None:
        """Wait, yielding to the event loop, until nobody holds the lock (holding nothing after);
        E/APPLY_CONFLICT after ``wait_s`` seconds.  A daemon waits here before its synchronous
        :meth:`acquire`, so one apply behind another process's stalls no other client."""
        import asyncio

        for delay in self._waits(wait_s):
            await asyncio.sleep(delay)
        self.release()

    def _waits(self, wait_s: float | None) -> Iterator[float]:
        """The pauses between attempts to take the lock (backing off to 0.2 s); ends holding it,
        E/APPLY_CONFLICT once ``wait_s`` (default :data:`WAIT_S`) seconds have passed."""
        deadline = time.monotonic() + (WAIT_S if wait_s is None else wait_s)
        delay = 0.01
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise ApplyConflict(
                    "another lanser process is applying an edit to this workspace "
                    f"(it holds {self.path}{self._holder()}); nothing was written, try again",
                    lock=str(self.path),
                )
            yield delay
            delay = min(delay * 2, 0.2)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock

    def _note_holder(self) -> None:
        """The holder's pid in the file, for the message another process shows (best effort)."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass

    def _holder(self) -> str:
        try:
            with open(self.path, "rb") as fh:
                pid = fh.read(32).decode("ascii", "replace").strip()
        except OSError:
            return ""
        return f", pid {pid}" if pid.isdigit() else ""

    def __enter__(self) -> WorkspaceLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
