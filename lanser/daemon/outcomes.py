"""What became of a daemon's mutating requests, for a client whose daemon died.

A mutating request carries an id the client drew at random.  Before the
first byte of its edit is written the daemon records, per file, the hashes
before and after (:meth:`Outcomes.committing`); once answered it records
the bundle (:meth:`Outcomes.answered`).  A client that lost its daemon
mid-request asks the next daemon (``{"op": "outcome"}``) instead of running
the edit again, and :meth:`Outcomes.outcome` answers from the record:

``answered``
    the bundle the dead daemon was about to send;
``committed``
    written (every file has its new bytes) but not answered;
``not-committed``
    nothing was written: no record (the request never reached its commit
    point), or every file still has its old bytes (the apply was undone);
``unknown``
    the files are neither (someone else changed them since): the client
    says it cannot tell, and does not guess.

Records live in lanser's per-user state directory, keyed by workspace,
never in the workspace (whoever wrote the repository could forge them),
and are kept for a day.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from lanser.daemon import paths
from lanser.errors import FsPermissions

__all__ = ["Outcomes", "valid_id"]

_ID = re.compile(r"[0-9a-f]{32}")
#: Records older than this are removed when a daemon starts: a client waits minutes, not days.
KEEP_SECONDS = 86400.0
_log = logging.getLogger("lanser.daemon")


def valid_id(value: Any) -> str | None:
    """``value`` if it is a request id as clients draw them (32 hex digits), else None."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


class Outcomes:
    def __init__(self, workspace: Path) -> None:
        self.root = Path(os.path.realpath(workspace))
        self._dir: Path | None = None
        try:
            self._prune()
        except OSError:
            pass  # no state directory: the daemon still answers; an edit then says why it cannot record

    @property
    def dir(self) -> Path:
        """The records' directory, made (and checked) on first use."""
        if self._dir is None:
            self._dir = paths.requests_dir(str(self.root))
        return self._dir

    def committing(self, request_id: str, root: Path, files: list[tuple[str, str | None, str | None]]) -> None:
        try:
            self._write(request_id, {"state": "committing", "files": [list(f) for f in files]})
        except OSError as exc:  # never write what could not be recorded
            where = self._dir or "lanser's state directory (set XDG_STATE_HOME to a private directory)"
            raise FsPermissions(f"cannot record request {request_id} in {where} ({exc}); nothing was written") from exc

    def answered(self, request_id: str, text: str) -> None:
        try:
            self._write(request_id, {"state": "answered", "bundle": text})
        except OSError as exc:  # the answer is still sent; only a retry after a crash loses it
            _log.warning("cannot record the answer of request %s: %s", request_id, exc)

    def outcome(self, request_id: str) -> dict[str, Any]:
        try:
            record = self._read(request_id)
        except OSError as exc:
            return {"state": "unknown", "why": f"the records cannot be read ({exc})"}
        if record is None:
            return {"state": "not-committed", "why": "the request never reached its commit point"}
        if record.get("state") == "answered" and isinstance(record.get("bundle"), str):
            return {"state": "answered", "bundle": record["bundle"]}
        files = record.get("files")
        if record.get("state") != "committing" or not isinstance(files, list):
            return {"state": "unknown", "why": "the record of the request is damaged"}
        now = [self._hash(entry[0]) if isinstance(entry, list) and len(entry) == 3 else "?" for entry in files]
        if all(isinstance(e, list) and len(e) == 3 and h == e[2] for h, e in zip(now, files, strict=False)):
            return {"state": "committed", "paths": sorted({str(e[0]) for e in files})}
        if all(isinstance(e, list) and len(e) == 3 and h == e[1] for h, e in zip(now, files, strict=False)):
            return {"state": "not-committed", "why": "every file still has its old content"}
        return {"state": "unknown", "why": "the files it was changing have neither their old nor their new content"}

    # -- storage ------------------------------------------------------------

    def _path(self, request_id: str) -> Path:
        if valid_id(request_id) is None:
            raise ValueError(f"not a request id: {request_id!r}")
        return self.dir / f"{request_id}.json"

    def _write(self, request_id: str, record: dict[str, Any]) -> None:
        record = {**record, "id": request_id, "workspace": str(self.root), "time": time.time()}
        final = self._path(request_id)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            try:
                view = memoryview(json.dumps(record).encode())
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _read(self, request_id: str) -> dict[str, Any] | None:
        try:
            fd = os.open(self._path(request_id), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(os.read(fd, 1 << 26))
        except ValueError:
            return {"state": "damaged"}
        finally:
            os.close(fd)
        if not isinstance(data, dict) or data.get("id") != request_id or data.get("workspace") != str(self.root):
            return {"state": "damaged"}
        return data

    def _hash(self, rel: Any) -> str | None:
        """The sha256 of workspace file ``rel`` now, None if absent, "?" if it may not be read."""
        from lanser.cancel import sha256_of

        if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in rel.split("/"):
            return "?"
        path = self.root / rel
        if os.path.realpath(path) != str(path):
            return "?"  # a symlink on the way: not the file the record names
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError:
            return "?"
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "?"
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return sha256_of(b"".join(chunks))

    def _prune(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        with os.scandir(self.dir) as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                except OSError:
                    continue
