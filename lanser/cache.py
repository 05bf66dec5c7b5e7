"""Memoised bundles: in memory and under the workspace's ``.lanser/cache``.

A bundle is served again only for the same key: the request, the
workspace snapshot digest and the environment (server pins, analysed
interpreter, lanser version).  What the key cannot see (packages
installed into the analysed interpreter after the fact) is why the disk
cache can be turned off (``--no-cache``) and is cleared by
``lanser daemon stop --clear-cache``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

from lanser.bundle.hashing import canonical_json

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

    def get(self, key: str) -> dict[str, Any] | None:
        text = self._memory.get(key)
        if text is not None:
            self._memory.move_to_end(key)
        elif self.directory is not None:
            path = self.directory / key[:2] / f"{key}.json"
            try:
                text = path.read_text()
            except OSError:
                text = None
            if text is not None:
                self._remember(key, text)
        if text is None:
            self.misses += 1
            return None
        self.hits += 1
        data: dict[str, Any] = json.loads(text)
        return data

    def put(self, key: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, sort_keys=True, ensure_ascii=False)
        self._remember(key, text)
        if self.directory is None:
            return
        path = self.directory / key[:2] / f"{key}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _ignore_in_git(self.directory.parent)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only workspace still answers; it just does not remember

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
