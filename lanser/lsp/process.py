"""Starting server processes so that none outlives lanser.

Three layers, because any one can fail: the child asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, Linux), every live
child is killed at interpreter exit, and sessions kill their child on
shutdown and on any protocol failure.

A server given a :class:`~lanser.lsp.sandbox.Sandbox` runs inside bubblewrap
(see :mod:`lanser.lsp.sandbox`): :func:`spawn` wraps its argv, gives it a
minimal environment and records on the process whether it is sandboxed.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import signal
import sys
from collections import deque

from lanser.lsp.sandbox import (
    Sandbox,
    bwrap_argv,
    host_env,
    mode,
    probe_argv,
    refuse,
    refuse_escapes,
    server_env,
    unusable,
    which_bwrap,
)

__all__ = ["ServerProcess", "sandbox_status", "spawn"]

_LIVE: set[int] = set()
_PR_SET_PDEATHSIG = 1


def _load_libc() -> ctypes.CDLL | None:
    # Loaded in the parent: the child runs between fork and exec, where
    # searching for a library (find_library spawns ldconfig) is unsafe.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover - non-glibc systems
        return None


_LIBC = _load_libc() if sys.platform.startswith("linux") else None


def _set_pdeathsig() -> None:  # runs in the child, between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@atexit.register
def _kill_all() -> None:
    for pid in list(_LIVE):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _LIVE.clear()


class ServerProcess:
    """A running server with its stderr drained into a bounded tail.

    Servers log to stderr (clangd a lot); an undrained pipe fills up and
    blocks the server, so stderr is always read, and the last lines are
    kept to explain a crash.
    """

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr_tail: deque[str] = deque(maxlen=40)
        self._drain = asyncio.ensure_future(self._drain_stderr())
        #: "bwrap" when the server runs sandboxed, "none: <why>" when a sandbox was asked for and
        #: could not be had (or was turned off), None for servers started without one (tests' fakes).
        self.sandbox: str | None = None
        _LIVE.add(proc.pid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    async def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        if stream is None:
            return
        while True:
            line = await stream.readline()
            if not line:
                return
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    async def wait(self) -> int:
        code = await self.proc.wait()
        _LIVE.discard(self.proc.pid)
        return code

    def kill(self) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    async def close(self) -> None:
        self.kill()
        try:
            await asyncio.wait_for(self.wait(), 5)
        except TimeoutError:  # pragma: no cover - SIGKILL not delivered
            pass
        self._drain.cancel()
        for stream in (self.proc.stdin,):
            if stream is not None:
                stream.close()
        _LIVE.discard(self.proc.pid)


#: (bwrap's path, why it cannot be used or None), probed once per process.
_PROBED: tuple[str | None, str | None] | None = None


async def sandbox_status() -> tuple[str | None, str | None]:
    """bwrap's path and why it cannot be used here (None when it can), probed once per process:
    a trivial command in a sandbox made as the servers' are."""
    global _PROBED
    if _PROBED is None:
        found = which_bwrap()
        if found is None:
            _PROBED = (None, unusable(None, "", None))
        else:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *probe_argv(found),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    env=server_env(),
                )
                _out, err = await asyncio.wait_for(proc.communicate(), 30)
                _PROBED = (found, unusable(proc.returncode, err.decode("utf-8", "replace"), found))
            except (OSError, TimeoutError) as exc:
                _PROBED = (found, f"bwrap does not work here: {exc}")
    return _PROBED


async def _sandboxed(
    argv: list[str], cwd: str, env: dict[str, str] | None, sandbox: Sandbox
) -> tuple[list[str], dict[str, str] | None, str]:
    chosen = mode()
    if chosen == "off":
        return argv, host_env() if env is None else env, "none: LANSER_SANDBOX=off"
    found, reason = await sandbox_status()
    if reason is None and found is not None:
        return bwrap_argv(found, argv, cwd=cwd, sandbox=sandbox), server_env(), "bwrap"
    reason = reason or "bwrap not found"
    if chosen == "require":
        raise refuse(reason)
    escapes = sandbox.escapes(cwd) if sandbox.escapes is not None else []
    if escapes:
        raise refuse_escapes(reason, escapes)
    return argv, host_env() if env is None else env, f"none: {reason}"


async def spawn(
    argv: list[str], cwd: str, env: dict[str, str] | None = None, sandbox: Sandbox | None = None
) -> ServerProcess:
    """Start ``argv`` in ``cwd``; inside bubblewrap when ``sandbox`` is given and the mode allows."""
    label = None
    if sandbox is not None:
        argv, env, label = await _sandboxed(argv, cwd, env, sandbox)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
        preexec_fn=_set_pdeathsig if _LIBC is not None else None,
        # A process group of its own: a terminal's Ctrl-C goes to the foreground group, and
        # the server must not die under a request that lanser is cancelling cleanly (exit 73,
        # nothing written); lanser stops it itself, and PDEATHSIG covers lanser's own death.
        process_group=0,
        limit=1 << 24,
    )
    server = ServerProcess(proc)
    server.sandbox = label
    return server
