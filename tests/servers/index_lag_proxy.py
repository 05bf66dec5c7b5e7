"""A pass-through LSP proxy in front of a real server whose index never covers the project.

Standard library only.  Usage::

    python index_lag_proxy.py -- COMMAND...

Starts COMMAND (the real server, clangd) and copies bytes both ways, except
that lanser's ``workspace/symbol`` requests are not forwarded: the proxy
answers each one itself with an empty list, as a server would whose
index has not reached any file yet.  Everything else (opening files,
diagnostics, rename, references) is the real server's, except that the
``initialize`` answer loses its ``serverInfo`` (an overridden server's
reported version is checked against the override's; clangd reports a long
version string, not the package version the test knows).  The server is
killed when the proxy dies (PR_SET_PDEATHSIG, passed on from lanser).
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
import threading


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _read(src) -> bytes | None:
    """One framed message's body, or None at the end of the stream."""
    length = 0
    while True:
        line = src.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        key, _, value = line.decode("ascii", "replace").partition(":")
        if key.strip().lower() == "content-length":
            length = int(value.strip())
    return src.read(length)


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def main() -> None:
    sep, *command = sys.argv[1:]
    assert sep == "--" and command, __doc__
    _die_with_parent()
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
    assert server.stdin is not None and server.stdout is not None
    upstream, downstream = server.stdin, server.stdout
    src, dst = sys.stdin.buffer, sys.stdout.buffer
    out_lock = threading.Lock()

    def send(body: bytes) -> None:
        with out_lock:
            dst.write(_frame(body))
            dst.flush()

    def to_server() -> None:
        while True:
            body = _read(src)
            if body is None:
                break
            try:
                msg = json.loads(body)
            except ValueError:
                msg = None
            if isinstance(msg, dict) and msg.get("method") == "workspace/symbol" and "id" in msg:
                send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": []}).encode())
                continue
            upstream.write(_frame(body))
            upstream.flush()
        upstream.close()

    def to_client() -> None:
        while True:
            body = _read(downstream)
            if body is None:
                break
            try:
                msg = json.loads(body)
            except ValueError:
                msg = None
            result = msg.get("result") if isinstance(msg, dict) else None
            if isinstance(result, dict) and "capabilities" in result and "serverInfo" in result:
                del result["serverInfo"]
                body = json.dumps(msg).encode()
            send(body)

    threads = [threading.Thread(target=to_server, daemon=True), threading.Thread(target=to_client, daemon=True)]
    for t in threads:
        t.start()
    threads[1].join()
    server.wait()


if __name__ == "__main__":
    main()
