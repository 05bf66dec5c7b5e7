"""Whether a session's server is still there, and the error everyone waiting gets once it is not.

A server is gone when its process exits, its stdout closes, or it writes
bytes that are not JSON-RPC; each ends the session with one
:class:`LsCrash` (exit code and stderr tail) that every pending wait raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from lanser.errors import LanserError, LsCrash, LsTimeout
from lanser.lsp.process import ServerProcess

__all__ = ["Liveness"]

log = logging.getLogger("lanser.lsp")


class Liveness:
    """The death of one server incarnation, as a future every wait races against."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.process: ServerProcess | None = None
        self.dead: asyncio.Future[LanserError] | None = None
        self.tasks: list[asyncio.Task[Any]] = []

    @property
    def alive(self) -> bool:
        return self.dead is not None and not self.dead.done()

    def begin(self) -> None:
        self.dead = asyncio.get_running_loop().create_future()

    def watch(self, process: ServerProcess, reader: asyncio.Task[Any]) -> None:
        """Watch ``process`` exit and ``reader`` (the task reading its stdout) end."""
        self.process = process
        self.tasks.append(reader)
        reader.add_done_callback(lambda _t: self._on_stream_closed())
        self.tasks.append(asyncio.ensure_future(self._watch_exit()))

    async def stop(self) -> None:
        """Kill the process, fail every wait, stop watching; idempotent."""
        if self.process is not None:
            await self.process.close()
        self.fail(LsCrash(f"{self.server} session closed", server=self.server))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def crash(self, what: str) -> LsCrash:
        tail = list(self.process.stderr_tail)[-10:] if self.process else []
        return LsCrash(
            f"{self.server} {what}",
            server=self.server,
            exitCode=self.process.returncode if self.process else None,
            stderrTail=tail,
        )

    def fail(self, error: LanserError) -> None:
        """The session is over: every wait (on :attr:`dead`) raises ``error``."""
        if self.dead is not None and not self.dead.done():
            self.dead.set_result(error)

    def violation(self, reason: str) -> None:
        log.warning("%s: %s", self.server, reason)
        self.fail(self.crash(f"broke the protocol: {reason}"))
        if self.process is not None:
            self.process.kill()

    async def bounded(self, coro: Coroutine[Any, Any, Any], timeout: float, what: str) -> Any:
        """``coro``'s result, unless the server dies first or ``timeout`` passes."""
        assert self.dead is not None
        task = asyncio.ensure_future(coro)
        done, _ = await asyncio.wait({task, self.dead}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        if self.dead in done:
            raise self.dead.result()
        raise LsTimeout(
            f"{self.server} did not finish {what} within {timeout:g}s",
            server=self.server,
            method=what,
            timeout=timeout,
        )

    def _on_stream_closed(self) -> None:
        if self.process is not None and self.process.returncode is None and self.alive:
            # stdout usually closes a moment before the exit is reported;
            # wait for it, so the error carries the real exit code.  Killing
            # at once would reap the child behind asyncio's back (it would
            # then report 255).
            self.tasks.append(asyncio.ensure_future(self._closed_output()))

    async def _closed_output(self) -> None:
        assert self.process is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.process.wait()), 1.0)
        except TimeoutError:
            self.fail(self.crash("closed its output"))
            self.process.kill()

    async def _watch_exit(self) -> None:
        assert self.process is not None
        await self.process.wait()
        await asyncio.sleep(0)  # let the stderr drain catch the last lines
        # A replayed server that was asked something the trace never saw ends
        # with that failure (E/REPLAY_MISMATCH) rather than a crash.
        self.fail(getattr(self.process, "failure", None) or self.crash(f"exited with code {self.process.returncode}"))
