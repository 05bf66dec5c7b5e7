"""The transport seam: how a session reaches its server.

A :class:`Channel` is a reader of LSP frames, a writer of them and the
process-like object behind them.  :class:`ProcessTransport` starts the real
server; ``lanser.trace.ReplayTransport`` answers from a recorded trace with
no server at all; :func:`tap` records every frame crossing a channel.
Sessions never know which one they have.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lanser.lsp.process import spawn
from lanser.lsp.registry import ServerSpec

__all__ = ["Channel", "ProcessTransport", "Transport", "tap"]

#: (server name, "in" | "out", JSON-RPC message)
FrameSink = Callable[[str, str, dict[str, Any]], None]


@dataclass
class Channel:
    reader: Any  # readline() / readexactly(n) coroutines
    writer: Any  # write(bytes), close()
    process: Any  # pid, returncode, wait(), kill(), close(), stderr_tail


class Transport(Protocol):
    async def open(self, spec: ServerSpec, cwd: str, env: dict[str, str] | None) -> Channel: ...


class ProcessTransport:
    async def open(self, spec: ServerSpec, cwd: str, env: dict[str, str] | None) -> Channel:
        proc = await spawn(spec.argv(), cwd=cwd, env=env, sandbox=spec.sandbox())
        return Channel(proc.proc.stdout, proc.proc.stdin, proc)


class _TapWriter:
    def __init__(self, inner: Any, sink: FrameSink, server: str) -> None:
        self._inner, self._sink, self._server = inner, sink, server

    def write(self, data: bytes) -> Any:
        _, _, body = data.partition(b"\r\n\r\n")
        try:
            self._sink(self._server, "out", json.loads(body))
        except ValueError:
            pass
        return self._inner.write(data)

    def close(self) -> Any:
        return self._inner.close()


class _TapReader:
    def __init__(self, inner: Any, sink: FrameSink, server: str) -> None:
        self._inner, self._sink, self._server = inner, sink, server

    async def readline(self) -> bytes:
        line: bytes = await self._inner.readline()
        return line

    async def readexactly(self, n: int) -> bytes:
        body: bytes = await self._inner.readexactly(n)
        try:
            self._sink(self._server, "in", json.loads(body))
        except ValueError:
            pass
        return body


def tap(channel: Channel, sink: FrameSink, server: str) -> Channel:
    return Channel(_TapReader(channel.reader, sink, server), _TapWriter(channel.writer, sink, server), channel.process)
