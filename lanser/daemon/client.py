"""The thin client: find or start the workspace's daemon, send, receive.

Standard library only: this is the hot path of every CLI call.  Messages
are one JSON object per line over a Unix socket in an owner-only
directory.  Starting is serialised with ``flock`` so two first calls start
one daemon; a socket nobody answers on is stale and is replaced.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lanser.daemon import paths

__all__ = ["DaemonUnavailable", "call", "ensure_daemon", "send", "send_lines", "stop", "status", "stream"]

START_TIMEOUT = 60.0


class DaemonUnavailable(Exception):
    """The daemon could not be reached or started (the caller falls back to in-process)."""


def _connect(sock_path: Path, timeout: float | None = None) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(sock_path))
    except (FileNotFoundError, ConnectionRefusedError, socket.timeout):
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
        argv = [sys.executable, "-m", "lanser.daemon.server", "--workspace", os.path.realpath(workspace),
                "--socket", str(sock_path), "--idle", str(idle)]
        if python:
            argv += ["--python", python]
        with open(paths.log_path(key), "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True)
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


def send(workspace: str, python: str | None, version: str, idle: float,
         message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Send ``message`` to the workspace's daemon, starting it only if nobody answers.

    One connection when the daemon is warm: no separate liveness probe.
    """
    return (json.loads(line) for line in send_lines(workspace, python, version, idle, message))


def send_lines(workspace: str, python: str | None, version: str, idle: float,
               message: dict[str, Any]) -> Iterator[str]:
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
    return _lines(s, message)


def _exchange(s: socket.socket, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for line in _lines(s, message):
        yield json.loads(line)


def _lines(s: socket.socket, message: dict[str, Any]) -> Iterator[str]:
    with s:
        s.sendall(json.dumps(message).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            chunk = s.recv(1 << 18)
            if not chunk:
                break
            buf += chunk
            if b"\n" in chunk:
                *complete, buf = buf.split(b"\n")
                for line in complete:
                    if line.strip():
                        yield line.decode()
        if buf.strip():
            yield buf.decode()


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
