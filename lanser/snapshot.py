"""Workspace snapshots: a content digest of the files the servers read.

The digest is over (path, sha256 of content) of every source and
configuration file, so it names a workspace state independently of where
it is checked out.  Content hashes are memoised by (mtime, size, inode):
a warm daemon re-reads only files that changed, and learns which ones did,
so it can tell its servers (``workspace/didChangeWatchedFiles``).

The issue suggested git's view (HEAD tree plus changed and untracked
files); a stat-validated content walk gives the same identity inside and
outside git and costs no subprocess per request.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from lanser.lsp.registry import LANGUAGE_OF_SUFFIX
from lanser.workspace import Workspace

__all__ = ["Snapshot", "SnapshotTracker"]

_CONFIG_NAMES = ("pyrightconfig.json", "pyproject.toml", "compile_commands.json", "compile_flags.txt", ".clangd")


@dataclass(frozen=True)
class Snapshot:
    digest: str
    files: dict[str, str]  # rel path -> content hash
    changed: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


@dataclass
class SnapshotTracker:
    """Computes snapshots of one workspace, remembering the previous one."""

    workspace: Workspace
    _stats: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)
    _last: dict[str, str] | None = None

    def digest_of(self, rel: str) -> str | None:
        """Content hash of ``rel`` as of the last snapshot (None if not a tracked file)."""
        entry = self._stats.get(rel)
        return entry[3] if entry is not None else None

    def take(self) -> Snapshot:
        suffixes = tuple(LANGUAGE_OF_SUFFIX)
        listed = [
            f
            for f in self.workspace.files(suffixes + _CONFIG_NAMES)
            if f.endswith(suffixes) or f.rsplit("/", 1)[-1] in _CONFIG_NAMES
        ]
        files: dict[str, str] = {}
        stats: dict[str, tuple[int, int, int, str]] = {}
        for rel in listed:
            try:
                st = os.stat(self.workspace.root / rel)
            except OSError:
                continue
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
            old = self._stats.get(rel)
            if old is not None and old[:3] == key:
                digest = old[3]
            else:
                try:
                    digest = hashlib.sha256((self.workspace.root / rel).read_bytes()).hexdigest()
                except OSError:
                    continue
            stats[rel] = (*key, digest)
            files[rel] = digest
        self._stats = stats
        h = hashlib.sha256()
        for rel in sorted(files):
            h.update(rel.encode("utf-8", "surrogateescape") + b"\0" + files[rel].encode() + b"\n")
        prev = self._last
        self._last = files
        if prev is None:
            return Snapshot("sha256:" + h.hexdigest(), files)
        return Snapshot(
            "sha256:" + h.hexdigest(),
            files,
            changed=tuple(sorted(p for p in files if p in prev and prev[p] != files[p])),
            created=tuple(sorted(p for p in files if p not in prev)),
            deleted=tuple(sorted(p for p in prev if p not in files)),
        )
