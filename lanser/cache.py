"""Memoised bundles: in memory and under the workspace's ``.lanser/cache``.

A bundle is served again only for the same key: the request, the
workspace snapshot digest and the environment (server pins, analysed
interpreter, lanser version).  What the key cannot see (packages
installed into the analysed interpreter after the fact) is why deleting
``.lanser/cache`` is always safe: it only costs the answers again.

Bundles are kept as their rendered JSON text (:func:`render_json`, keys
sorted, one line), which is also what the daemon sends: a memory hit is
served without parsing or serialising anything.  On disk they live in one
SQLite database (``.lanser/cache/bundles.sqlite``, write-ahead log):
a file per bundle cost a quarter of a millisecond of CPU per answer in
``open``/``rename`` alone, a row costs a few microseconds, and every
commit is atomic, so a crash loses at most the rows not yet committed.
Rows are written by a background thread, off the answer path;
:meth:`BundleCache.flush` (called on close) waits for them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import stat
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Any

from lanser.bundle.hashing import canonical_json, render_json
from lanser.state import ignore_in_git, no_symlinks, warn_once, workspace_private

__all__ = ["BundleCache", "cache_key"]

DB_NAME = "bundles.sqlite"
#: How long the writer gathers answers before committing them together (a commit costs
#: about 0.1 ms of CPU; one per answer would compete with the servers for the CPU).
COALESCE_S = 0.25
#: Times a batch is tried again when another process holds the database past the busy timeout.
BUSY_RETRIES = 5
#: Up to this many keys are read into memory on the first lookup, so that a miss (most
#: requests of a new snapshot) costs no query; a bigger database is asked per key.
_KEY_INDEX_LIMIT = 500_000
#: The files SQLite keeps next to the database (write-ahead log, shared memory, rollback journal).
_DB_SIDE_FILES = ("-wal", "-shm", "-journal")
_SCHEMA = "CREATE TABLE IF NOT EXISTS bundles (key TEXT PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID"


def cache_key(request: dict[str, Any], snapshot: str, environment: dict[str, Any]) -> str:
    """The row's key: an HMAC of the request, the snapshot and the environment under this user's
    secret (:func:`_secret`).  A plain digest of them is anyone's to compute, and the database lives
    in the workspace: a repository that ships ``.lanser/cache`` with a forged row (no diagnostics
    for code full of errors) had it served in CI.  Rows lanser did not write for this user never hit."""
    payload = {"request": request, "snapshot": snapshot, "environment": environment}
    return hmac.new(_secret(), canonical_json(payload), hashlib.sha256).hexdigest()


_SECRET_FILE = "cache.key"


@lru_cache(maxsize=1)
def _secret() -> bytes:
    """32 random bytes kept in this user's state directory (``cache.key``, mode 0600, a regular
    file of this user, read without following links), made once.  When it cannot be kept or read,
    a secret of this process: the disk cache then never answers another process, which is safe."""
    from lanser.daemon.paths import state_dir

    try:
        path = state_dir() / _SECRET_FILE
        if not os.path.lexists(path):
            tmp = path.with_name(f".{_SECRET_FILE}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(os.urandom(32))
                    fh.flush()
                    os.fsync(fh.fileno())
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)  # whole or not at all; the first writer wins
            finally:
                os.unlink(tmp)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read(64)
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077 and len(data) == 32:
            return data
    except OSError:
        pass
    return os.urandom(32)


class BundleCache:
    def __init__(self, directory: Path | None, capacity: int = 512) -> None:
        self.directory = directory
        self.capacity = capacity
        self._memory: OrderedDict[str, str] = OrderedDict()
        self.hits = 0
        self.misses = 0
        #: Entries not yet committed to disk; guarded by ``_cond``.  An entry
        #: stays here (and is served from here) until its row is committed.
        self._pending: dict[str, str] = {}
        self._cond = threading.Condition()
        self._writing = False
        self._writer: threading.Thread | None = None
        #: The reading connection (the caller's thread); the writer thread has its own.
        self._reader: sqlite3.Connection | None = None
        #: Set when the database cannot be used (read-only or damaged workspace): memory only from then on.
        self._broken = False
        self._busy_retries = 0
        self._closed = False
        self._flushing = 0
        #: True while the writer waits for work (the only wait put_text wakes it from).
        self._idle = False
        #: Keys in the database (see :meth:`_read`); None until loaded, or when too many.
        self._keys: set[str] | None = None
        self._keys_loaded = False

    # -- reading ------------------------------------------------------

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

    def _read(self, key: str) -> str | None:
        """A row from disk, rendered again: a row from another lanser build or a damaged
        one must not reach a client as it is (a damaged one is a miss).

        The keys are read once, on the first lookup, and the writer adds its
        own: a row another process commits later is not seen, which costs a
        recomputation, never a wrong answer.
        """
        if self._broken or self.directory is None:
            return None
        try:
            if not self._keys_loaded:
                self._keys_loaded = True
                if not _usable(self.directory, create=False):
                    self._broken = True
                    return None
                if not (self.directory / DB_NAME).exists():
                    with self._cond:
                        self._keys = set()
                    return None
                self._reader = _connect(self.directory / DB_NAME)
                found = {k for (k,) in self._reader.execute("SELECT key FROM bundles LIMIT ?", (_KEY_INDEX_LIMIT + 1,))}
                with self._cond:
                    self._keys = found if len(found) <= _KEY_INDEX_LIMIT else None
            with self._cond:
                if self._keys is not None and key not in self._keys:
                    return None
            if self._reader is None:
                self._reader = _connect(self.directory / DB_NAME)
            row = self._reader.execute("SELECT text FROM bundles WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None  # locked for longer than the busy timeout, or damaged: answer afresh
        if row is None:
            return None
        try:
            data = json.loads(row[0])
        except (TypeError, ValueError):
            return None
        return render_json(data) if isinstance(data, dict) else None

    # -- writing ------------------------------------------------------

    def put(self, key: str, data: dict[str, Any]) -> None:
        self.put_text(key, render_json(data))

    def put_text(self, key: str, text: str) -> None:
        """Remember ``text`` (a :func:`render_json` rendering) now; commit it to disk soon."""
        self._remember(key, text)
        if self.directory is None or self._broken or self._closed:
            return
        with self._cond:
            self._pending[key] = text
            if self._writer is None:
                # A daemon thread never holds up exit; close() flushes what is left.
                self._writer = threading.Thread(target=self._write_loop, name="lanser-cache-writer", daemon=True)
                self._writer.start()
            elif self._idle:
                self._cond.notify_all()

    def flush(self) -> None:
        """Return once every entry put so far is committed (or found impossible to commit)."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while (self._pending or self._writing) and self._writer is not None and self._writer.is_alive():
                    self._cond.wait(timeout=1.0)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Flush, then stop the writer thread; later entries are remembered in memory only."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join(timeout=10.0)
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _write_loop(self) -> None:
        db: sqlite3.Connection | None = None
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                if not self._pending:  # closed, and nothing left to write
                    if db is not None:
                        db.close()
                    return
                # Let more answers join this commit (put_text does not wake this wait).
                deadline = time.monotonic() + COALESCE_S
                while not self._closed and not self._flushing and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(timeout=left)
                batch = list(self._pending.items())
                self._writing = True
            retry = False
            try:
                if db is None:
                    db = self._open_for_writing()
                if db is not None:
                    with db:  # one transaction per batch of answers
                        db.executemany("INSERT OR REPLACE INTO bundles (key, text) VALUES (?, ?)", batch)
                self._busy_retries = 0
            except sqlite3.OperationalError as exc:
                # Locked past the busy timeout (another lanser process writing): try the batch again
                # a few times; anything else means the store is unusable.
                if _busy(exc) and self._busy_retries < BUSY_RETRIES:
                    self._busy_retries += 1
                    retry = True
                else:
                    self._broken = True
            except Exception:  # noqa: BLE001 - the writer must never die with answers pending
                self._broken = True  # a read-only or damaged workspace still answers; it just does not remember
            finally:
                with self._cond:
                    for key, text in [] if retry else batch:
                        if self._pending.get(key) is text:
                            del self._pending[key]
                        if self._keys is not None and not self._broken:
                            self._keys.add(key)
                    self._writing = False
                    self._cond.notify_all()

    def _open_for_writing(self) -> sqlite3.Connection | None:
        assert self.directory is not None
        try:
            if not _usable(self.directory, create=True):
                self._broken = True
                return None
            ignore_in_git(self.directory.parent)
            db = _connect(self.directory / DB_NAME)
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            db.execute("PRAGMA synchronous=NORMAL")  # a commit is atomic; durability to the last one is not needed
            db.execute(_SCHEMA)
            return db
        except (OSError, sqlite3.Error):
            self._broken = True
            return None

    def _remember(self, key: str, text: str) -> None:
        self._memory[key] = text
        self._memory.move_to_end(key)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _connect(path: Path) -> sqlite3.Connection:
    # The module's default transaction handling: an INSERT opens a transaction, `with db:` commits it.
    return sqlite3.connect(str(path), timeout=2.0)


def _usable(directory: Path, *, create: bool) -> bool:
    """The cache directory (``<workspace>/.lanser/cache``) and the database's files may be used:
    no component is a symlink (a repository can commit one, to send lanser's writes elsewhere),
    every one a real directory or regular file.  A refusal is reported once on stderr."""
    base, rel = directory.parent.parent, f"{directory.parent.name}/{directory.name}"
    if workspace_private(base, rel, create=create) is None:
        return False
    for name in (DB_NAME, *(DB_NAME + suffix for suffix in _DB_SIDE_FILES)):
        why = no_symlinks(base, f"{rel}/{name}")
        if why is not None:
            warn_once(f"{why} in {base}; lanser does not follow it and keeps no cache there")
            return False
    return True
