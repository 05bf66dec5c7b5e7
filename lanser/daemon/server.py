"""The daemon: one warm Orchestrator per workspace, served over a Unix socket.

Started in the background by the first CLI call (``lanser.daemon.client``)
or by ``lanser daemon start``.  It exits after ``--idle`` seconds without
a request, on ``stop``, or on SIGTERM; its servers go with it (they hold
PR_SET_PDEATHSIG, so they go even on SIGKILL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanser import __version__
from lanser.bundle.hashing import render_json
from lanser.cancel import CURRENT, Scope, pause
from lanser.daemon import paths
from lanser.daemon.outcomes import Outcomes, valid_id
from lanser.errors import LanserError, RequestCancelled
from lanser.orchestrator import Orchestrator, Rendered, failure_bundle
from lanser.pipeline import answer_batch, parse_request

__all__ = ["Daemon", "main"]

EXIT_CANCELLED = RequestCancelled.exit_code


class Daemon:
    def __init__(self, workspace: Path, sock: Path, idle: float, python: str | None) -> None:
        self.orch = Orchestrator(workspace, python=python, disk_cache=True)
        self.sock = sock
        self.idle = idle
        self.started = time.time()
        self.last = time.monotonic()
        self.requests = 0
        self.active = 0
        self._stop = asyncio.Event()
        #: Records of mutating requests, outside the workspace (lanser.daemon.outcomes).
        self.outcomes = Outcomes(self.orch.root)
        #: Requests cancelled by their client (a cancel message, or the client gone).
        self.cancelled = 0
        #: Mutating requests being answered, by id.
        self.inflight: dict[str, asyncio.Future[Rendered]] = {}

    async def serve(self) -> None:
        tmp = self.sock.with_suffix(f".{os.getpid()}.tmp")
        server = await asyncio.start_unix_server(self._client, path=str(tmp), limit=1 << 26)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.sock)  # appear only when ready to accept
        # Everything imported so far (pygls, lsprotocol, cattrs, pydantic: hundreds of
        # thousands of objects) lives as long as the daemon: keep it out of every future
        # garbage collection, which otherwise traverses it again and again while answering.
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        watcher = asyncio.ensure_future(self._idle_watch())
        try:
            await self._stop.wait()
        finally:
            watcher.cancel()
            server.close()
            try:
                if self.sock.exists() and os.path.samefile(self.sock, self.sock):
                    self.sock.unlink()
            except OSError:
                pass
            await self.orch.close()

    async def _idle_watch(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, max(self.idle / 4, 0.05)))
            if self.active == 0 and time.monotonic() - self.last > self.idle:
                self._stop.set()
                return

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: one message, its replies, and a watch on the connection meanwhile.

        The client keeps its end open while it waits.  A ``{"op": "cancel"}``
        line or the connection closing (the client was killed) cancels the
        request, unless it is past its commit point: then it finishes and its
        answer is sent (:mod:`lanser.cancel`).
        """
        self.active += 1
        watcher: asyncio.Future[None] | None = None
        try:
            line = await reader.readline()
            try:
                message = json.loads(line)
            except ValueError:
                message = {"op": "invalid"}
            if not isinstance(message, dict):
                message = {"op": "invalid"}
            request_id = valid_id(message.get("id")) if message.get("op") == "run" else None
            recorded = request_id is not None or (message.get("op") == "batch" and bool(message.get("ids")))
            scope = Scope(request_id=request_id, log=self.outcomes if recorded else None)
            CURRENT.set(scope)  # this task's context: the request's tasks inherit it
            watcher = asyncio.ensure_future(_watch(reader, scope, self._count_cancelled))
            async with contextlib.aclosing(self._handle(message, scope)) as replies:
                async for reply in replies:
                    # Bundles arrive rendered (a cache hit is sent as stored); other replies are data.
                    text = reply if isinstance(reply, str) else render_json(reply)
                    if request_id is not None:
                        self.outcomes.answered(request_id, text)
                        pause("answered")
                    writer.write(text.encode() + b"\n")
                    await writer.drain()
                    scope.delivered()
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            if watcher is not None:
                watcher.cancel()
            self.active -= 1
            self.last = time.monotonic()
            writer.close()

    def _count_cancelled(self) -> None:
        self.cancelled += 1

    async def _handle(self, message: dict[str, Any], scope: Scope):  # type: ignore[no-untyped-def]
        op = message.get("op")
        if op == "run":
            self._apply_options(message.get("options") or {})
            request_id = scope.request_id
            task = asyncio.ensure_future(self.run_one(message.get("request")))
            scope.watch(task)
            if request_id is not None:
                self.inflight[request_id] = task
            try:
                rendered = await _cancelled_as_bundle(task, message.get("request"))
            finally:
                if request_id is not None:
                    self.inflight.pop(request_id, None)
            yield rendered.text
        elif op == "batch":
            options = message.get("options") or {}
            self._apply_options(options)
            # "coded": each line is "<exit code> <bundle>", so that the client
            # need not parse a bundle to learn its exit code.
            coded = bool(options.get("coded"))
            requests = message.get("requests")
            if not isinstance(requests, list):
                requests = []
            self.requests += len(requests)
            ids = _batch_ids(message.get("ids"), len(requests))
            answered = 0
            async with contextlib.aclosing(
                answer_batch(self.orch, requests, window=_window(options), ids=ids)
            ) as answers:
                while answered < len(requests) and not scope.cancelled:
                    # Each step in its own task, so that a cancellation reaches the request being answered.
                    step = asyncio.ensure_future(answers.__anext__())
                    scope.watch(step)
                    try:
                        answer = await step
                    except StopAsyncIteration:
                        break
                    except asyncio.CancelledError:
                        if not step.cancelled():
                            raise  # this connection is being torn down
                        break
                    self.last = time.monotonic()
                    if answered in ids:  # a line that writes: its answer is recorded before it is sent
                        self.outcomes.answered(ids[answered], answer.text)
                        pause("answered")
                    answered += 1
                    yield f"{answer.exit_code} {answer.text}" if coded else answer.text
            for raw in requests[answered:]:  # cancelled: the rest are answered as such, not run
                text = _cancelled(raw).text
                yield f"{EXIT_CANCELLED} {text}" if coded else text
        elif op == "outcome":
            yield await self.outcome(message.get("id"))
        elif op == "status":
            yield self.status()
        elif op == "stop":
            yield {"stopping": True}
            self._stop.set()
        else:
            yield {"error": f"unknown op {op!r}"}

    async def outcome(self, raw_id: Any) -> dict[str, Any]:
        """What became of mutating request ``raw_id`` (:mod:`lanser.daemon.outcomes`)."""
        request_id = valid_id(raw_id)
        if request_id is None:
            return {"state": "unknown", "why": "not a request id"}
        running = self.inflight.get(request_id)
        if running is not None:  # its connection broke but this daemon still answers it
            await asyncio.wait([running])
        return self.outcomes.outcome(request_id)

    def _apply_options(self, options: dict[str, Any]) -> None:
        if "timeout" in options:
            self.orch.timeout = float(options["timeout"])
        self.orch.verbose = bool(options.get("verbose", False))

    async def run_one(self, raw: Any) -> Rendered:
        """The bundle answering ``raw``, rendered as one line of JSON (:func:`render_json`)."""
        self.requests += 1
        self.last = time.monotonic()
        try:
            request = parse_request(raw)
        except LanserError as exc:
            data = failure_bundle(None, exc)
            return Rendered(render_json(data), data)
        return await self.orch.run_json(request)

    def status(self) -> dict[str, Any]:
        sessions = {
            name: {
                "pid": s.process.pid if s.process else None,
                "alive": s.alive,
                "documents": len(s.documents),
                "restarts": self.orch.pool.restarts.get(name, 0),
            }
            for name, s in self.orch.pool.sessions.items()
        }
        cache = self.orch.cache
        return {
            "pid": os.getpid(),
            "workspace": str(self.orch.root),
            "lanser": __version__,
            "uptimeS": round(time.time() - self.started, 1),
            "idleTimeoutS": self.idle,
            "requests": self.requests,
            "active": self.active,
            "cancelled": self.cancelled,
            "cache": {"hits": cache.hits, "misses": cache.misses} if cache else None,
            "servers": sessions,
            # lanser's settings among those keying this daemon (a call under others gets another).
            "settings": {k: os.environ[k] for k in paths._KEY_ENV if k.startswith("LANSER_") and k in os.environ},
        }


async def _watch(reader: asyncio.StreamReader, scope: Scope, cancelled: Callable[[], None]) -> None:
    """Cancel ``scope`` when the client sends ``{"op": "cancel"}`` or goes away; ``cancelled()``
    when that cancelled a request."""
    while True:
        try:
            line = await reader.readline()
        except (ConnectionError, ValueError):
            line = b""
        if not line:
            break  # the client is gone: nobody will read the answer
        try:
            if json.loads(line).get("op") == "cancel":
                break
        except (ValueError, AttributeError):
            continue
    if scope.cancel() and scope.watched:
        cancelled()


async def _cancelled_as_bundle(task: asyncio.Future[Rendered], raw: Any) -> Rendered:
    """``task``'s answer; an E/REQUEST_CANCELLED bundle if it was cancelled before it had one."""
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the daemon itself is going away
        return _cancelled(raw)


def _cancelled(raw: Any) -> Rendered:
    try:
        request = parse_request(raw)
    except LanserError:
        request = None
    data = failure_bundle(request, RequestCancelled("request cancelled"))
    return Rendered(render_json(data), data)


def _batch_ids(raw: Any, count: int) -> dict[int, str]:
    """The request ids of a batch's lines that write, by index; whatever is not one is left out."""
    if not isinstance(raw, dict):
        return {}
    out = {}
    for key, value in raw.items():
        if isinstance(key, str) and key.isdigit() and int(key) < count and valid_id(value) is not None:
            out[int(key)] = value
    return out


def _window(options: dict[str, Any]) -> int | None:
    """The client's window, or None (the pipeline's default) when it sent none or nonsense."""
    window = options.get("window")
    return window if isinstance(window, int) and not isinstance(window, bool) else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lanser-daemon")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--idle", type=float, default=900.0)
    parser.add_argument("--python", default=None)
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")

    async def go() -> None:
        daemon = Daemon(Path(args.workspace), Path(args.socket), args.idle, args.python)
        await daemon.serve()

    asyncio.run(go())


if __name__ == "__main__":
    main()
