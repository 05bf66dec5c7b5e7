"""JSON-RPC with one server, on pygls' public interface only.

pygls' protocol object frames, types and dispatches the messages; lanser
keeps three small things of its own rather than reach into pygls' private
state (the client's ``_stop_event``, the protocol's ``_request_futures`` and
``_converter``):

- the converter: made here with :func:`pygls.protocol.default_converter`
  and handed to the client (``converter_factory``), so :meth:`to_data` uses
  the very object pygls types messages with;
- the stop event of the reader loop (:func:`pygls.io_.run_async` takes it as
  an argument; the client's own is private);
- abandoning a request.  pygls offers no public way to forget a pending
  request, and cancelling the future it returns makes the late answer fail
  in pygls' reader (``set_result`` on a cancelled future), which lanser
  would take for a protocol violation and kill the server.  So
  :meth:`Rpc.send_request` hands out an asyncio future of its own that
  follows pygls' future; cancelling it leaves pygls' entry pending until the
  server answers (servers answer every request, a cancelled one with
  ``RequestCancelled``), and the late answer is dropped.  An entry a server
  never answers lives as long as the session.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from cattrs import Converter
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.io_ import run_async
from pygls.lsp.client import BaseLanguageClient
from pygls.protocol import default_converter

from lanser.errors import ContentModified, LanserError, LsCrash, NotFound, RequestCancelled, UnsupportedCap

__all__ = ["Rpc", "translate_rpc_error"]

log = logging.getLogger("lanser.lsp")

_HEADER = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*: [^\r\n]*\r\n$|^\r\n$")


class CheckedReader:
    """Wraps the server's stdout and rejects anything that is not LSP framing.

    pygls' reader silently skips header lines it does not understand, so a
    server printing garbage would look like a hang; here it is a crash.
    """

    def __init__(self, stream: Any, on_violation: Callable[[str], None]) -> None:
        self._stream = stream
        self._on_violation = on_violation

    async def readline(self) -> bytes:
        line: bytes = await self._stream.readline()
        if line and not _HEADER.match(line):
            self._on_violation(f"malformed header from server: {line[:80]!r}")
            return b""
        return line

    async def readexactly(self, n: int) -> bytes:
        try:
            data: bytes = await self._stream.readexactly(n)
            return data
        except asyncio.IncompleteReadError:
            return b""


class Rpc:
    """One JSON-RPC connection: pygls' client protocol plus the few parts lanser owns."""

    def __init__(self, name: str, version: str) -> None:
        make: Callable[[], Converter] = default_converter  # pygls leaves it unannotated
        self.converter = make()
        self.client = BaseLanguageClient(name, version, converter_factory=lambda: self.converter)
        self.stop_event = threading.Event()
        self._ids = itertools.count(1)

    def feature(self, method: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: handle ``method`` when the server sends it."""
        decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = self.client.feature(method)
        return decorator

    def reader_task(self, channel: Any, on_violation: Callable[[str], None]) -> asyncio.Task[None]:
        """Write to ``channel.writer``; read ``channel.reader`` until it ends or :meth:`stop`."""
        self.client.protocol.set_writer(channel.writer)
        return asyncio.ensure_future(
            run_async(
                stop_event=self.stop_event,
                reader=CheckedReader(channel.reader, on_violation),
                protocol=self.client.protocol,
                logger=log,
                error_handler=lambda exc, _src: on_violation(f"malformed message from server: {exc}"),
            )
        )

    def stop(self) -> None:
        self.stop_event.set()

    def send_request(self, method: str, params: Any) -> tuple[str, asyncio.Future[Any]]:
        """Send a request; its id and a future of its answer that may be cancelled freely.

        String ids: pygls keeps the server's incoming request ids in the same
        table as ours, so small integers from both sides would collide.
        """
        msg_id = f"lanser-{next(self._ids)}"
        pending = self.client.protocol.send_request(method, params, msg_id=msg_id)
        return msg_id, _follow(pending)

    def cancel(self, msg_id: str) -> None:
        """Ask the server to cancel a request (``$/cancelRequest``); quiet if it is gone."""
        try:
            self.notify("$/cancelRequest", lsp.CancelParams(id=msg_id))
        except Exception:  # the server may already be gone
            pass

    def notify(self, method: str, params: Any) -> None:
        self.client.protocol.notify(method, params)

    def to_data(self, value: Any) -> Any:
        """Plain JSON-like data from an lsprotocol value."""
        return self.converter.unstructure(value)


def _follow(pending: Future[Any]) -> asyncio.Future[Any]:
    """An asyncio future that takes ``pending``'s outcome; cancelling it does not touch ``pending``."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()

    def copy(done: Future[Any]) -> None:
        if answer.done():
            return  # abandoned: the late answer is dropped
        if done.cancelled():
            answer.cancel()
        elif (exc := done.exception()) is not None:
            answer.set_exception(exc)
        else:
            answer.set_result(done.result())

    def resolved(done: Future[Any]) -> None:
        try:
            loop.call_soon_threadsafe(copy, done)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    pending.add_done_callback(resolved)
    return answer


#: Requests whose error answers are the server's refusal rather than its failure.
_REFUSABLE = frozenset({"textDocument/rename", "textDocument/prepareRename"})


def translate_rpc_error(exc: JsonRpcException, method: str, server: str) -> LanserError:
    """The lanser error for a JSON-RPC error answer to ``method``."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc)
    if code == -32801:
        return ContentModified(f"{server}: content modified during {method}", server=server, method=method)
    if code == -32800:
        return RequestCancelled(f"{server} cancelled {method}", server=server, method=method)
    if code == -32601:
        return UnsupportedCap(f"{server} does not implement {method}", server=server, method=method)
    if method in _REFUSABLE and code != -32603:
        # An answer, not a failure: clangd says "symbol is not a supported kind (e.g. namespace,
        # macro)", "there is no symbol at the given location", "invalid name" with a request
        # error.  Asked again, it says the same; the server is fine.  (-32603, InternalError, is
        # a server bug such as basedpyright's "Debug Failure" and stays a crash.)
        if "no symbol" in message.lower():
            return NotFound(
                f"{server} finds no symbol to rename: {message}",
                server=server,
                method=method,
                rpcCode=code,
                refusal=True,
            )
        return UnsupportedCap(
            f"{server} refuses {method}: {message}", server=server, method=method, rpcCode=code, refusal=True
        )
    return LsCrash(f"{server} failed {method}: {message}", server=server, method=method, rpcCode=code)
