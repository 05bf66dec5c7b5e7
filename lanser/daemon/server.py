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
from pathlib import Path
from typing import Any

from lanser import __version__
from lanser.bundle.hashing import render_json
from lanser.errors import LanserError
from lanser.orchestrator import Orchestrator, Rendered, failure_bundle
from lanser.pipeline import answer_batch, parse_request

__all__ = ["Daemon", "main"]


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
        self.active += 1
        try:
            line = await reader.readline()
            try:
                message = json.loads(line)
            except ValueError:
                message = {"op": "invalid"}
            async with contextlib.aclosing(self._handle(message)) as replies:
                async for reply in replies:
                    # Bundles arrive rendered (a cache hit is sent as stored); other replies are data.
                    text = reply if isinstance(reply, str) else render_json(reply)
                    writer.write(text.encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            self.active -= 1
            self.last = time.monotonic()
            writer.close()

    async def _handle(self, message: dict[str, Any]):  # type: ignore[no-untyped-def]
        op = message.get("op")
        if op == "run":
            self._apply_options(message.get("options") or {})
            yield (await self.run_one(message.get("request"))).text
        elif op == "batch":
            options = message.get("options") or {}
            self._apply_options(options)
            # "coded": each line is "<exit code> <bundle>", so that the client
            # need not parse a bundle to learn its exit code.
            coded = bool(options.get("coded"))
            requests = message.get("requests") or []
            self.requests += len(requests)
            async with contextlib.aclosing(answer_batch(self.orch, requests, window=_window(options))) as answers:
                async for answer in answers:
                    self.last = time.monotonic()
                    yield f"{answer.exit_code} {answer.text}" if coded else answer.text
        elif op == "status":
            yield self.status()
        elif op == "stop":
            yield {"stopping": True}
            self._stop.set()
        else:
            yield {"error": f"unknown op {op!r}"}

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
            name: {"pid": s.process.pid if s.process else None, "alive": s.alive,
                   "documents": len(s.documents), "restarts": self.orch.pool.restarts.get(name, 0)}
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
            "cache": {"hits": cache.hits, "misses": cache.misses} if cache else None,
            "servers": sessions,
        }


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
