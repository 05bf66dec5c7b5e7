"""Cancelling a request, up to its commit point and never after it.

A front door (the daemon for each connection, the CLI for an in-process
run) opens a :class:`Scope` around a request and makes it current
(:data:`CURRENT`, a context variable, so the request's tasks see it).
Ctrl-C, a client's cancel message or a client gone calls
:meth:`Scope.cancel`.  Before the commit point that cancels the request's
tasks: the orchestrator turns the cancellation into an
``E/REQUEST_CANCELLED`` bundle, and nothing was written.  The commit point
is :func:`commit_point`, entered synchronously right before an apply
writes its first byte; it refuses a request already cancelled, and from
there on a cancellation waits until the answer is delivered
(:meth:`Scope.delivered`): a written edit is reported as written, never as
cancelled.

A scope with a :class:`CommitLog` records the request's files (their hashes
before and after) before anything is written, so that a daemon that dies
mid-request leaves enough for the next one to tell whether it committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lanser.errors import RequestCancelled

if TYPE_CHECKING:
    from lanser.edits.plan import ChangeSet

__all__ = ["CURRENT", "CommitLog", "PAUSE_ENV", "Scope", "commit_point", "pause", "sha256_of"]

#: Test hook: ``LANSER_DAEMON_PAUSE=<stage>:<dir>`` stops at ``stage`` (``commit``, ``applied``,
#: ``answered``) of a mutating request: writes ``<dir>/<stage>`` (this pid) and waits, blocking,
#: until ``<dir>/<stage>.go`` exists; once (not if ``<dir>/<stage>`` exists).  Lets tests interrupt or
#: kill at a known point.
PAUSE_ENV = "LANSER_DAEMON_PAUSE"


class CommitLog(Protocol):
    def committing(self, request_id: str, root: Path, files: list[tuple[str, str | None, str | None]]) -> None:
        """Durably note, before anything is written, which files the request changes and how."""


class Scope:
    """One request's cancellation state."""

    def __init__(self, *, request_id: str | None = None, log: CommitLog | None = None) -> None:
        self.request_id = request_id
        self.log = log
        self.cancelled = False
        #: True from the commit point until the answer was delivered: cancel() then waits.
        self.committing = False
        #: Whether this request reached its commit point at all.
        self.committed = False
        self._deferred = False
        self._tasks: set[asyncio.Future[Any]] = set()

    def watch(self, task: asyncio.Future[Any]) -> None:
        """Cancel ``task`` when the request is cancelled."""
        if self.cancelled and not self.committing:
            task.cancel()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> bool:
        """Cancel the request; True if it is cancelled now, False if it is past its commit point
        (the cancellation then applies after its answer is delivered)."""
        if self.committing:
            self._deferred = True
            return False
        self.cancelled = True
        for task in list(self._tasks):
            task.cancel()
        return True

    @property
    def watched(self) -> bool:
        """Whether a task of the request is still running (a cancellation then stops it)."""
        return bool(self._tasks)

    @property
    def deferred(self) -> bool:
        """A cancellation came after the commit point and waits for the answer to be delivered."""
        return self._deferred

    def forget(self) -> None:
        """Stop cancelling tasks (the request is answered; what follows is cleanup)."""
        self._tasks.clear()

    def delivered(self) -> None:
        """The answer of the request that committed was handed to its reader."""
        self.committing = False
        if self._deferred:
            self._deferred = False
            self.cancel()


#: The scope of the request the current task works for (None: nobody can cancel it).
CURRENT: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("lanser_scope", default=None)


def sha256_of(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def commit_point(root: Path, changes: ChangeSet) -> Iterator[None]:
    """Around the write of an apply (entered synchronously, right before it starts).

    Raises E/REQUEST_CANCELLED, with nothing written, when the request was
    cancelled; otherwise the request is not cancellable any more until its
    answer is delivered.
    """
    scope = CURRENT.get()
    if scope is None:
        yield
        return
    if scope.cancelled:
        raise RequestCancelled("request cancelled before anything was written")
    if scope.log is not None and scope.request_id is not None:
        files = [(rel, sha256_of(before), sha256_of(after)) for rel, before, after in changes.steps()]
        scope.log.committing(scope.request_id, root, files)
    scope.committing = scope.committed = True
    pause("commit")
    yield
    pause("applied")


def pause(stage: str) -> None:
    """The :data:`PAUSE_ENV` test hook; nothing unless it names ``stage``."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    want, _, where = spec.partition(":")
    if want != stage or not where:
        return
    marker = Path(where) / stage
    if marker.exists():
        return  # once: a request run again must not stop there too
    # Written aside, then renamed: a test waiting for the marker never reads it empty.
    aside = marker.with_name(f".{stage}.{os.getpid()}")
    aside.write_text(str(os.getpid()))
    os.replace(aside, marker)
    go = Path(where) / f"{stage}.go"
    while not go.exists():
        time.sleep(0.02)
