"""The disk guard's accounting and when it walks (the container side is in tests/docker/test_disk_guard.py)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lanser.harness.env import diskguard
from lanser.harness.env.diskguard import MIB, DiskCap, Guard


def test_usage_counts_each_inode_once_and_follows_no_link(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * (1 * MIB))
    before = diskguard.usage(tmp_path)
    os.link(tmp_path / "a", tmp_path / "hard")  # a second name: no new inode, no new block
    (tmp_path / "out").symlink_to("/usr")  # a link out: never walked
    after = diskguard.usage(tmp_path)
    assert after.bytes - before.bytes < 64 * 1024
    assert after.inodes == before.inodes + 1  # the symbolic link itself
    assert before.bytes >= MIB


def test_a_sparse_file_counts_what_it_uses(tmp_path: Path) -> None:
    with open(tmp_path / "sparse", "wb") as f:
        f.truncate(1 << 30)
    assert diskguard.usage(tmp_path).bytes < MIB


class Disk:
    """statvfs of a file system whose free space the test sets."""

    def __init__(self, free: int, ifree: int = 10**6) -> None:
        self.free, self.ifree = free, ifree

    def __call__(self, _path: Path) -> Any:
        return SimpleNamespace(f_bavail=self.free // 4096, f_frsize=4096, f_favail=self.ifree)


def guard(root: Path, disk: Disk, cap: DiskCap | None, clock: list[float]) -> Guard:
    return Guard(root, cap, floor_bytes=100 * MIB, floor_inodes=1000, statvfs=disk, clock=lambda: clock[0])


def test_the_floor_is_checked_without_a_walk(tmp_path: Path) -> None:
    disk, clock = Disk(1000 * MIB), [0.0]
    g = guard(tmp_path, disk, None, clock)
    assert g.check() is None
    disk.free = 99 * MIB
    assert "below the floor of 100 MiB" in (g.check() or "")
    disk.free, disk.ifree = 1000 * MIB, 999
    assert "free inodes, below the floor" in (g.check() or "")
    assert g.walks == 0


def test_it_walks_only_when_the_disk_fell_by_the_headroom(tmp_path: Path) -> None:
    disk, clock = Disk(1000 * MIB), [0.0]
    used = diskguard.usage(tmp_path)
    g = guard(tmp_path, disk, DiskCap(used.bytes + 10 * MIB, used.inodes + 100), clock)
    disk.free -= 9 * MIB  # a neighbour wrote 9 MiB: the work area cannot be over its cap
    assert g.check() is None and g.walks == 0
    disk.free -= 2 * MIB  # 11 MiB gone: it might be; the walk says it is not (the files are elsewhere)
    assert g.check() is None and g.walks == 1
    disk.free -= 20 * MIB
    assert g.check() is None and g.walks == 1  # walked less than walk_every_s ago
    (tmp_path / "big").write_bytes(b"x" * (12 * MIB))
    clock[0] = 5.0
    assert "over its cap" in (g.check() or "") and g.walks == 2


def test_files_past_the_inode_cap_are_seen(tmp_path: Path) -> None:
    disk, clock = Disk(1000 * MIB, 10**6), [0.0]
    used = diskguard.usage(tmp_path)
    g = guard(tmp_path, disk, DiskCap(used.bytes + 10 * MIB, used.inodes + 5), clock)
    for i in range(6):
        (tmp_path / f"n{i}").touch()
    disk.ifree -= 6
    assert "files, over its cap of" in (g.check() or "")
