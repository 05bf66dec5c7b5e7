"""Sessions per server, restarted with backoff when they crash.

``ServerPool.call`` runs one operation against the session of a language.
A crash (exit, closed pipe, garbage on the wire) restarts the server after
a backoff and retries the operation once; if it fails again the error is
:class:`LsCrash`.  A server that answers a request with an error of its
own (JSON-RPC InternalError and the like: an :class:`LsCrash` with an
``rpcCode``) is alive: the operation is asked again once and the server
is not restarted (a restart costs every other request a cold server).  ``ContentModified`` answers are retried a few
times before they surface.  Timeouts are not retried: the deadline is the
caller's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lanser.errors import ContentModified, LsCrash
from lanser.lsp.registry import ServerSpec, server_for_language
from lanser.lsp.session import LspSession
from lanser.lsp.transport import FrameSink, Transport

__all__ = ["ServerPool"]

log = logging.getLogger("lanser.lsp")

T = TypeVar("T")


class ServerPool:
    def __init__(
        self,
        root: Path,
        *,
        start_timeout: float,
        settings_for: Callable[[ServerSpec], dict[str, Any]],
        extra_args_for: Callable[[ServerSpec], list[str]],
        backoff: float = 0.2,
        content_modified_retries: int = 3,
        specs: Callable[[str], ServerSpec] | None = None,
        transport_for: Callable[[ServerSpec], Transport] | None = None,
        frame_sink: FrameSink | None = None,
    ) -> None:
        self._specs = specs or server_for_language
        #: Specs by language: resolving the registry (pins, installed versions) costs
        #: a fraction of a millisecond per request otherwise.
        self._spec_cache: dict[str, ServerSpec] = {}
        self.transport_for = transport_for
        self.frame_sink = frame_sink
        self.root = root
        self.start_timeout = start_timeout
        self.settings_for = settings_for
        self.extra_args_for = extra_args_for
        self.backoff = backoff
        self.content_modified_retries = content_modified_retries
        self.sessions: dict[str, LspSession] = {}
        self.restarts: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def reconfigure(self) -> None:
        """A configuration file changed: compute every server's arguments (and digests) again."""
        self._spec_cache.clear()

    def spec_for(self, language: str) -> ServerSpec:
        cached = self._spec_cache.get(language)
        if cached is not None:
            return cached
        spec = self._specs(language)
        extra = self.extra_args_for(spec)
        result = dataclasses.replace(spec, command=spec.command + tuple(extra)) if extra else spec
        self._spec_cache[language] = result
        return result

    async def session(self, language: str) -> LspSession:
        spec = self.spec_for(language)
        lock = self._locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            current = self.sessions.get(spec.name)
            if current is not None and current.alive:
                return current
            if current is not None:
                await current.close()
            session = LspSession(
                spec,
                self.root,
                settings=self.settings_for(spec),
                transport=self.transport_for(spec) if self.transport_for else None,
                frame_sink=self.frame_sink,
            )
            try:
                await session.start(self.start_timeout)
            except BaseException:
                await session.close()
                raise
            self.sessions[spec.name] = session
            return session

    async def call(self, language: str, op: Callable[[LspSession], Awaitable[T]]) -> T:
        crashes = 0
        modified = 0
        asked_again = False
        while True:
            session = None
            try:
                session = await self.session(language)
                return await op(session)
            except LsCrash as exc:
                if "rpcCode" in exc.details and session is not None and session.alive:
                    # The server answered, with an error: it is up, and a restart would make every
                    # other request wait for a cold server.  Ask once more, then give up on the request.
                    if asked_again:
                        exc.details.setdefault("attempts", 2)
                        raise
                    asked_again = True
                    log.warning("%s answered with an error; asking again: %s", session.spec.name, exc)
                    continue
                crashes += 1
                name = session.spec.name if session is not None else language
                # Requests in flight together see one crash together: the first to get
                # here retires the session and counts the restart, the others retry on
                # whatever session is current by then.
                if session is None or self.sessions.get(name) is session:
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    log.warning("restarting %s: %s", name, exc)
                    if session is not None:
                        self.sessions.pop(name, None)
                if session is not None:
                    await session.close()
                if crashes >= 2:
                    exc.details.setdefault("attempts", crashes)
                    raise
                await asyncio.sleep(self.backoff * (2 ** min(self.restarts.get(name, 1) - 1, 5)))
            except ContentModified:
                modified += 1
                if modified > self.content_modified_retries:
                    raise
                await asyncio.sleep(self.backoff * modified)

    async def close(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(s.shutdown() for s in sessions), return_exceptions=True)
