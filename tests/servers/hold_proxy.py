"""A pass-through LSP proxy in front of a real server, able to hold one request.

Standard library only.  Usage::

    python hold_proxy.py CONTROL_DIR METHOD -- COMMAND...

Starts COMMAND (the real server) and copies bytes both ways.  The first
message from lanser whose method is METHOD is held: the proxy creates
``CONTROL_DIR/held`` and forwards it (and everything lanser sends after it)
only once ``CONTROL_DIR/release`` exists.  A test waits for ``held`` to
interrupt lanser at a known point of a request (no timing guesses), then
creates ``release`` to let the real server carry on.  The proxy ends when
the server does, and the server is killed when the proxy dies (its parent,
lanser, gave the proxy PR_SET_PDEATHSIG; the proxy passes it on).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main() -> None:
    control, method, sep, *command = sys.argv[1:]
    assert sep == "--" and command, __doc__
    control_dir = Path(control)
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
    assert server.stdin is not None and server.stdout is not None
    upstream, downstream = server.stdin, server.stdout
    src, dst = sys.stdin.buffer, sys.stdout.buffer

    def to_server() -> None:
        held = False
        while True:
            headers = b""
            length = 0
            while True:
                line = src.readline()
                if not line:
                    upstream.close()
                    return
                headers += line
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = src.read(length)
            if not held and json.loads(body).get("method") == method:
                held = True
                (control_dir / "held").write_text(str(os.getpid()))
                while not (control_dir / "release").exists():
                    time.sleep(0.02)
            upstream.write(headers + body)
            upstream.flush()

    threading.Thread(target=to_server, daemon=True).start()
    while True:
        chunk = downstream.read1(1 << 16)
        if not chunk:
            break
        dst.write(chunk)
        dst.flush()
    os._exit(server.wait())


if __name__ == "__main__":
    main()
