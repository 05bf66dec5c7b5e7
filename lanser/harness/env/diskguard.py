"""A command in the sandbox may not fill the host's disk through its work area.

The container's own file system is read-only and its tmpfs mounts are sized,
so the one place a command can write without bound is its work area, a
host directory bind-mounted at ``/work``: a ``run`` step of the agent, or a
build the agent's changes drive while it is graded. Docker has no quota
for a bind mount, so :class:`Guard` watches while the command runs
(:func:`lanser.harness.env.sandbox.run` asks it about once a second) and
says when to stop it:

- the file system holding the work area is down to its floor of free
  space or free inodes (always on: whoever filled it, the host keeps
  room to work);
- the work area holds more than its :class:`DiskCap` (bytes allocated, or
  inodes): the caller sets one where the writer is untrusted, as the
  task loop does for the agent's ``run`` steps (its size after ``reset``
  plus an allowance for the whole episode, not for each step).

Checking the floor costs one ``statvfs``. The work area is walked (links
never followed, each inode counted once) only when the file system's free
space or inodes fell by more than the cap's headroom since the last walk,
and at most every ``walk_every_s`` seconds: a busy neighbour costs a walk
now and then, an idle one none.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DiskCap", "Guard", "Usage", "cap_over", "usage"]

MIB = 1 << 20


@dataclass(frozen=True)
class Usage:
    """What a tree holds: bytes allocated (``st_blocks``, so sparse files count what they use)
    and inodes, each inode once however many names it has."""

    bytes: int
    inodes: int


@dataclass(frozen=True)
class DiskCap:
    """The most a work area may hold while a command runs."""

    bytes: int
    inodes: int


def usage(root: Path) -> Usage:
    """Walk ``root`` without following links; a vanished entry (the command is running) is skipped."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(root)]
    while stack:
        top = stack.pop()
        try:
            st = os.lstat(top)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(top) as entries:
                    stack.extend(entry.path for entry in entries)
            except OSError:
                continue
    return Usage(total, len(seen))


def cap_over(root: Path, extra_mb: int, extra_inodes: int) -> DiskCap:
    """A cap of what ``root`` holds now plus an allowance."""
    now = usage(root)
    return DiskCap(now.bytes + extra_mb * MIB, now.inodes + extra_inodes)


class Guard:
    """Says why a command writing into ``root`` must stop, or ``None``; see the module's text."""

    def __init__(
        self,
        root: Path,
        cap: DiskCap | None,
        *,
        floor_bytes: int,
        floor_inodes: int,
        walk_every_s: float = 2.0,
        statvfs: Callable[[Path], os.statvfs_result] = os.statvfs,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root, self.cap = root, cap
        self.floor_bytes, self.floor_inodes = floor_bytes, floor_inodes
        self.walk_every_s = walk_every_s
        self._statvfs, self._clock = statvfs, clock
        self._walked_at = -float("inf")
        self._used = usage(root) if cap is not None else Usage(0, 0)
        self._free_then = self._free()
        self.walks = 0

    def _free(self) -> tuple[int, int]:
        st = self._statvfs(self.root)
        return st.f_bavail * st.f_frsize, st.f_favail

    def check(self) -> str | None:
        free, ifree = self._free()
        if free < self.floor_bytes:
            return (
                f"the disk holding the work area has {free // MIB} MiB free, "
                f"below the floor of {self.floor_bytes // MIB} MiB"
            )
        if ifree < self.floor_inodes:
            return f"the disk holding the work area has {ifree} free inodes, below the floor of {self.floor_inodes}"
        cap = self.cap
        if cap is None:
            return None
        # The work area can only have passed its cap if the file system lost at least the headroom.
        fell, ifell = self._free_then[0] - free, self._free_then[1] - ifree
        if fell <= cap.bytes - self._used.bytes and ifell <= cap.inodes - self._used.inodes:
            return None
        now = self._clock()
        if now - self._walked_at < self.walk_every_s:
            return None
        self._walked_at = now
        self._used, self._free_then = usage(self.root), (free, ifree)
        self.walks += 1
        if self._used.bytes > cap.bytes:
            return f"the work area holds {self._used.bytes // MIB} MiB, over its cap of {cap.bytes // MIB} MiB"
        if self._used.inodes > cap.inodes:
            return f"the work area holds {self._used.inodes} files, over its cap of {cap.inodes}"
        return None
