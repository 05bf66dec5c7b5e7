"""The thin client: find or start the workspace's daemon, send, receive.

Standard library only: this is the hot path of every CLI call.  Messages
are one JSON object per line over a Unix socket in an owner-only
directory.  Starting is serialised with ``flock`` so two first calls start
one daemon; a socket nobody answers on is stale and is replaced.

While a message is out, SIGINT and SIGTERM do not kill the client: they
send the daemon ``{"op": "cancel"}`` on the same connection and the client
waits for its answer (the request cancelled, or, past its commit point,
done).  A mutating request carries a random id; if the daemon goes away
before answering it (:class:`DaemonLost`), the client asks the next daemon
what became of that id (:func:`outcome`) and never sends it again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from lanser.daemon import paths

__all__ = [
    "DaemonLost",
    "DaemonUnavailable",
    "Exchange",
    "batch_ids",
    "call",
    "ensure_daemon",
    "mutates",
    "new_id",
    "outcome",
    "request",
    "send",
    "send_lines",
    "stop",
    "status",
    "stream",
]

START_TIMEOUT = 60.0


class DaemonUnavailable(Exception):
    """The daemon could not be reached or started (the caller falls back to in-process)."""


class DaemonLost(DaemonUnavailable):
    """The daemon went away after a mutating request was sent, without answering it.

    It may have written: the caller must ask :func:`outcome`, never run the request again.
    """

    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"the daemon went away before answering request {request_id} ({why})")
        self.request_id = request_id


@dataclasses.dataclass
class Exchange:
    """What happened to one message on its way: sent at all, interrupted by a signal."""

    sent: bool = False
    interrupted: bool = False
    replies: int = 0


_CANCEL = b'{"op": "cancel"}\n'


def _connect(sock_path: Path, timeout: float | None = None) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock_path))
    except (TimeoutError, FileNotFoundError, ConnectionRefusedError):
        s.close()
        return None
    return s


def ensure_daemon(workspace: str, python: str | None, version: str, idle: float) -> Path:
    """The socket of a live daemon for this workspace, starting one if needed."""
    import fcntl  # only when a daemon may have to be started: not on the warm path
    import subprocess

    key = paths.daemon_key(workspace, python, version)
    sock_path = paths.socket_path(key)
    probe = _connect(sock_path, timeout=2.0)
    if probe is not None:
        probe.close()
        return sock_path
    with open(paths.lock_path(key), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        probe = _connect(sock_path, timeout=2.0)  # someone else may have started it meanwhile
        if probe is not None:
            probe.close()
            return sock_path
        try:
            sock_path.unlink()  # stale: nobody answers on it
        except FileNotFoundError:
            pass
        argv = [
            sys.executable,
            "-m",
            "lanser.daemon.server",
            "--workspace",
            os.path.realpath(workspace),
            "--socket",
            str(sock_path),
            "--idle",
            str(idle),
        ]
        if python:
            argv += ["--python", python]
        with open(paths.log_path(key), "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            probe = _connect(sock_path, timeout=2.0)
            if probe is not None:
                probe.close()
                return sock_path
            if proc.poll() is not None:
                raise DaemonUnavailable(f"daemon exited with code {proc.returncode}; see {paths.log_path(key)}")
            time.sleep(0.02)
        proc.kill()
        raise DaemonUnavailable(f"daemon did not start within {START_TIMEOUT:g}s")


def stream(sock_path: Path, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Send one message; yield each JSON line of the reply until the daemon closes."""
    s = _connect(sock_path)
    if s is None:
        raise DaemonUnavailable("daemon went away")
    yield from _exchange(s, message)


def send(
    workspace: str,
    python: str | None,
    version: str,
    idle: float,
    message: dict[str, Any],
    exchange: Exchange | None = None,
) -> Iterator[dict[str, Any]]:
    """Send ``message`` to the workspace's daemon, starting it only if nobody answers.

    One connection when the daemon is warm: no separate liveness probe.
    """
    return (json.loads(line) for line in send_lines(workspace, python, version, idle, message, exchange))


def mutates(raw: Any) -> bool:
    """Whether a raw request writes (``args.apply``): such a request is never sent twice."""
    args = raw.get("args") if isinstance(raw, dict) else None
    return isinstance(args, dict) and bool(args.get("apply"))


def new_id() -> str:
    """A request id: 128 random bits (os.urandom, not secrets, which imports OpenSSL: milliseconds)."""
    return os.urandom(16).hex()


def batch_ids(requests: list[Any]) -> dict[str, str]:
    """An id for each line of a batch that writes, by its index (as a JSON key)."""
    return {str(i): new_id() for i, raw in enumerate(requests) if mutates(raw)}


def request(
    workspace: str, python: str | None, version: str, idle: float, raw: Any, options: dict[str, Any], *, mutating: bool
) -> tuple[dict[str, Any], Exchange]:
    """One request through the daemon: its bundle, and how the exchange went.

    Raises :class:`DaemonUnavailable` when the request may be asked again
    elsewhere (never sent, or read-only), :class:`DaemonLost` when a
    mutating request was sent and not answered.
    """
    message: dict[str, Any] = {"op": "run", "request": raw, "options": options}
    request_id = None
    if mutating:
        request_id = message["id"] = new_id()
    exchange = Exchange()
    try:
        replies = list(send(workspace, python, version, idle, message, exchange))
    except (DaemonUnavailable, OSError, ValueError) as exc:
        if request_id is not None and exchange.sent:
            raise DaemonLost(request_id, str(exc)) from exc
        raise
    if len(replies) == 1:
        return replies[0], exchange
    if request_id is not None:
        raise DaemonLost(request_id, f"{len(replies)} replies")
    raise DaemonUnavailable(f"daemon sent {len(replies)} replies to one request")


def outcome(workspace: str, python: str | None, version: str, idle: float, request_id: str) -> dict[str, Any]:
    """What the workspace's daemon (started anew if need be) knows of mutating request ``request_id``."""
    return call(ensure_daemon(workspace, python, version, idle), {"op": "outcome", "id": request_id})


def send_lines(
    workspace: str,
    python: str | None,
    version: str,
    idle: float,
    message: dict[str, Any],
    exchange: Exchange | None = None,
) -> Iterator[str]:
    """:func:`send`, yielding each reply line as the daemon wrote it (one JSON object, no newline).

    The daemon renders bundles with ``render_json``, so a front door can
    print them without parsing and rendering them again.
    """
    sock_path = paths.socket_path(paths.daemon_key(workspace, python, version))
    s = _connect(sock_path)
    if s is None:
        sock_path = ensure_daemon(workspace, python, version, idle)
        s = _connect(sock_path)
        if s is None:
            raise DaemonUnavailable("daemon went away")
    return _lines(s, message, exchange or Exchange())


def _exchange(s: socket.socket, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for line in _lines(s, message, Exchange()):
        yield json.loads(line)


def _lines(s: socket.socket, message: dict[str, Any], exchange: Exchange) -> Iterator[str]:
    # The connection stays open both ways while the reply comes: the daemon reads a
    # cancellation on it, and takes its closing for the client gone.
    with s, _Interrupts(s, exchange) as interrupts:
        s.sendall(json.dumps(message).encode() + b"\n")
        interrupts.now_sent()
        buf = b""
        while True:
            try:
                chunk = s.recv(1 << 18)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            if b"\n" in chunk:
                *complete, buf = buf.split(b"\n")
                for line in complete:
                    if line.strip():
                        exchange.replies += 1
                        yield line.decode()
        if buf.strip():
            exchange.replies += 1
            yield buf.decode()


class _Interrupts:
    """SIGINT and SIGTERM, while a message is out: cancel it at the daemon, do not die.

    Python runs signal handlers between bytecodes of the main thread, and a
    ``recv`` a handler interrupted is resumed (PEP 475): the client goes on
    waiting for the daemon's answer to the cancellation.  Only the main
    thread can set handlers; elsewhere (the MCP server's worker threads)
    signals are left alone.
    """

    def __init__(self, s: socket.socket, exchange: Exchange) -> None:
        self.s = s
        self.exchange = exchange
        self._cancel_sent = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def now_sent(self) -> None:
        self.exchange.sent = True
        if self.exchange.interrupted:
            self._cancel()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.exchange.interrupted = True
        if self.exchange.sent:  # else the message is still being written: cancel right after it
            self._cancel()

    def _cancel(self) -> None:
        if self._cancel_sent:
            # Leaving now would leave the user not knowing whether an edit was written.
            sys.stderr.write("lanser: still waiting for the daemon to confirm the cancellation\n")
            sys.stderr.flush()
            return
        self._cancel_sent = True
        try:
            self.s.sendall(_CANCEL)
        except OSError:
            pass  # the daemon is gone: the caller finds out from the reply it does not get
        sys.stderr.write("lanser: interrupted; cancelling the request at the daemon\n")
        sys.stderr.flush()


def call(sock_path: Path, message: dict[str, Any]) -> dict[str, Any]:
    replies = list(stream(sock_path, message))
    if len(replies) != 1:
        raise DaemonUnavailable(f"daemon sent {len(replies)} replies to one request")
    return replies[0]


def status(workspace: str, python: str | None, version: str) -> dict[str, Any] | None:
    key = paths.daemon_key(workspace, python, version)
    sock_path = paths.socket_path(key)
    if _connect(sock_path, timeout=2.0) is None:
        return None
    return call(sock_path, {"op": "status"})


def stop(workspace: str, python: str | None, version: str) -> bool:
    key = paths.daemon_key(workspace, python, version)
    sock_path = paths.socket_path(key)
    if _connect(sock_path, timeout=2.0) is None:
        return False
    call(sock_path, {"op": "stop"})
    return True
