"""Memoised bundles: in memory and under the workspace's ``.lanser/cache``.

A bundle is served again only for the same key: the request, the
workspace snapshot digest and the environment (server pins, analysed
interpreter, lanser version).  What the key cannot see (packages
installed into the analysed interpreter after the fact) is why the disk
cache can be turned off (``--no-cache``) and is cleared by
``lanser daemon stop --clear-cache``.

Bundles are kept as their rendered JSON text (:func:`render_json`, keys
sorted, one line), which is also what the daemon sends: a hit is served
without parsing or serialising anything.  Disk writes happen on a
background thread, off the answer path; each file appears whole (a
temporary file renamed into place) or not at all, so a crash loses at most
the entries not yet written, and :meth:`BundleCache.flush` (called on
close) writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from lanser.bundle.hashing import canonical_json, render_json

__all__ = ["BundleCache", "cache_key"]


def cache_key(request: dict[str, Any], snapshot: str, environment: dict[str, Any]) -> str:
    payload = {"request": request, "snapshot": snapshot, "environment": environment}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


class BundleCache:
    def __init__(self, directory: Path | None, capacity: int = 512) -> None:
        self.directory = directory
        self.capacity = capacity
        self._memory: OrderedDict[str, str] = OrderedDict()
        self.hits = 0
        self.misses = 0
        #: Entries not yet on disk, oldest first; guarded by ``_cond``.
        self._pending: dict[str, str] = {}
        self._cond = threading.Condition()
        self._writing = 0
        self._writer: threading.Thread | None = None
        self._made: set[Path] = set()
        #: Keys on disk, by subdirectory, as listed on first use (see :meth:`_read`).
        self._listed: dict[str, set[str]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        text = self.get_text(key)
        if text is None:
            return None
        data: dict[str, Any] = json.loads(text)
        return data

    def get_text(self, key: str) -> str | None:
        """The rendered bundle stored under ``key``, or None (counted as a miss)."""
        text = self._memory.get(key)
        if text is not None:
            self._memory.move_to_end(key)
        elif self.directory is not None:
            with self._cond:
                text = self._pending.get(key)
                if text is None:
                    text = self._read(key)
            if text is not None:
                self._remember(key, text)
        if text is None:
            self.misses += 1
            return None
        self.hits += 1
        return text

    def put(self, key: str, data: dict[str, Any]) -> None:
        self.put_text(key, render_json(data))

    def put_text(self, key: str, text: str) -> None:
        """Remember ``text`` (a :func:`render_json` rendering) now; write it to disk soon."""
        self._remember(key, text)
        if self.directory is None:
            return
        with self._cond:
            self._pending[key] = text
            if self._writer is None or not self._writer.is_alive():
                # A daemon thread: it never holds up exit; close() flushes what is left.
                self._writer = threading.Thread(target=self._write_loop, name="lanser-cache-writer", daemon=True)
                self._writer.start()
            self._cond.notify()

    def flush(self) -> None:
        """Write every pending entry now and return once the disk has them all."""
        self._drain()
        with self._cond:
            while self._writing:
                self._cond.wait()

    close = flush

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            self._drain()

    def _drain(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    return
                # Entries stay pending (and served from there) until they are on disk.
                batch = list(self._pending.items())
                self._writing += 1
            try:
                for key, text in batch:
                    self._write(key, text)
                    with self._cond:
                        listed = self._listed.get(key[:2])
                        if listed is not None:
                            listed.add(key)
                        if self._pending.get(key) is text:
                            del self._pending[key]
            finally:
                with self._cond:
                    self._writing -= 1
                    self._cond.notify_all()

    def _write(self, key: str, text: str) -> None:
        assert self.directory is not None
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        for _ in range(2):  # once more if the directory went away (a cleared cache)
            try:
                if path.parent not in self._made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _ignore_in_git(self.directory.parent)
                    self._made.add(path.parent)
                tmp.write_text(text)
                os.replace(tmp, path)
                return
            except OSError:
                # A read-only workspace still answers; it just does not remember.
                self._made.discard(path.parent)

    def _read(self, key: str) -> str | None:
        """An entry from disk, rendered again: a file from another lanser build or a damaged one
        must not reach a client as it is (a damaged one is a miss).

        Each of the 256 subdirectories is listed once; a key not listed is a
        miss without a failed ``open`` per request.  An entry another
        process writes later is not seen, which costs a recomputation, never
        a wrong answer.
        """
        prefix = key[:2]
        listed = self._listed.get(prefix)
        if listed is None:
            assert self.directory is not None
            try:
                listed = {name[:-5] for name in os.listdir(self.directory / prefix) if name.endswith(".json")}
            except OSError:
                listed = set()
            self._listed[prefix] = listed
        if key not in listed:
            return None
        try:
            data = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return render_json(data) if isinstance(data, dict) else None

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def _remember(self, key: str, text: str) -> None:
        self._memory[key] = text
        self._memory.move_to_end(key)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)


def _ignore_in_git(lanser_dir: Path) -> None:
    """``.lanser/`` holds state, never content: keep it out of ``git status``."""
    marker = lanser_dir / ".gitignore"
    if not marker.exists():
        marker.write_text("# lanser's cache and state; safe to delete\n*\n")
