"""One exclusive file lock, for every cache the harness fills from several processes."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from lanser.harness.errors import InfrastructureError

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: Path, *, stage: str, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (made, with its directory, if missing) for the block.

    A lock that cannot be opened is an InfrastructureError of ``stage``,
    naming ``what`` is locked (default: the path).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise InfrastructureError(f"cannot lock {what or path}: {exc}", stage=stage) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
