"""A tiny misbehaving language server for lanser's failure-path tests.

Standard library only; speaks LSP over stdio (``Content-Length`` framing,
JSON bodies).  Usage::

    python fake_lsp.py MODE [LOG]

``LOG`` is an optional file the server appends to, one line per event, so a
test can see what happened and keep state across restarts::

    start <pid>          the process started
    recv <method> <pid>  a request or notification arrived

Modes (what happens on ``textDocument/definition`` unless said otherwise):

``ok``
    answers with a Location in the same file (line 0, columns 0-1);
    advertises definition, hover and references; ``serverInfo`` is
    ``{"name": "fake", "version": "1.0"}``.
``crash-on-request``
    writes one line to stderr and exits with code 3.
``crash-once``
    like ``crash-on-request`` for the first definition request recorded in
    ``LOG`` (over all processes), like ``ok`` afterwards.
``hang``
    never answers it (everything else is answered), and does not exit
    when its stdin closes: only ``exit`` or a signal ends it.
``garbage``
    writes bytes that are not LSP framing to stdout.
``garbage-json``
    writes a well-framed message whose body is not JSON.
``content-modified``
    answers with JSON-RPC error -32801 (ContentModified).
``cancelled``
    answers with JSON-RPC error -32800 (RequestCancelled).
``no-definition``
    does not advertise ``definitionProvider`` (answers like ``ok`` if asked).
``skew``
    like ``ok`` but reports ``serverInfo.version`` ``"9.9"``.
``die-at-start``
    exits with code 4 (after a line on stderr) before answering ``initialize``.
``internal-error-once``
    answers the first definition request recorded in ``LOG`` with
    JSON-RPC error -32603 (InternalError) and stays up; like ``ok`` afterwards.
``slow``
    answers like ``ok`` after ``FAKE_DELAY`` seconds (default 0.4), one
    request after another; honours ``$/cancelRequest`` as a real server
    does (a cancelled request is answered with error -32800, at once if
    its turn had not come).
``gather``
    holds definition requests until ``FAKE_GATHER`` (default 3) of them
    have arrived, then answers them newest first, each with a Location at
    the line it was asked about, and logs ``answered <n>``: a client that
    waits for each answer before sending the next never gets one.

``shutdown`` is answered with ``null``; ``exit`` ends the process with 0 if
``shutdown`` came first, else 1; so does stdin closing (except in ``hang``).
Unknown requests get ``null``.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time

MODES = (
    "ok",
    "crash-on-request",
    "crash-once",
    "hang",
    "garbage",
    "garbage-json",
    "content-modified",
    "cancelled",
    "no-definition",
    "skew",
    "die-at-start",
    "gather",
    "slow",
    "internal-error-once",
)

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"
GATHER = int(os.environ.get("FAKE_GATHER", "3"))
#: Ids of requests the client cancelled, noted as soon as the cancellation is read.
CANCELLED: set = set()
HELD: list[dict] = []
LOG = sys.argv[2] if len(sys.argv) > 2 else None
STDIN = sys.stdin.buffer
STDOUT = sys.stdout.buffer


def log(event: str) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(f"{event} {os.getpid()}\n")


def logged(prefix: str) -> int:
    if not LOG or not os.path.exists(LOG):
        return 0
    with open(LOG, encoding="utf-8") as f:
        return sum(1 for line in f if line.startswith(prefix))


def read_message() -> dict | None:
    length = None
    while True:
        line = STDIN.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return json.loads(STDIN.read(length or 0))


def write_raw(data: bytes) -> None:
    STDOUT.write(data)
    STDOUT.flush()


def send(message: dict) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
    write_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)


def die(code: int, why: str) -> None:
    sys.stderr.write(f"fake_lsp: {why} (mode {MODE})\n")
    sys.stderr.flush()
    os._exit(code)


def initialize_result() -> dict:
    caps: dict = {"hoverProvider": True, "referencesProvider": True, "textDocumentSync": 1}
    if MODE != "no-definition":
        caps["definitionProvider"] = True
    version = "9.9" if MODE == "skew" else "1.0"
    return {"capabilities": caps, "serverInfo": {"name": "fake", "version": version}}


def definition(msg: dict) -> None:
    """Answer (or fail to answer) a definition request according to MODE."""
    msg_id = msg["id"]
    if MODE == "crash-on-request" or (MODE == "crash-once" and logged("recv textDocument/definition") == 1):
        die(3, "crashing on a definition request")
    if MODE == "hang":
        return
    if MODE == "garbage":
        write_raw(b"Traceback (most recent call last):\n  this is not LSP\n")
        return
    if MODE == "garbage-json":
        write_raw(b"Content-Length: 12\r\n\r\n{not json!!}")
        return
    if MODE == "content-modified":
        send({"id": msg_id, "error": {"code": -32801, "message": "content modified"}})
        return
    if MODE == "internal-error-once" and logged("recv textDocument/definition") == 1:
        send({"id": msg_id, "error": {"code": -32603, "message": "Debug Failure. Did not find evaluation scope"}})
        return
    if MODE == "cancelled":
        send({"id": msg_id, "error": {"code": -32800, "message": "request cancelled"}})
        return
    if MODE == "slow":
        if msg_id not in CANCELLED:
            time.sleep(float(os.environ.get("FAKE_DELAY", "0.4")))
        if msg_id in CANCELLED:
            send({"id": msg_id, "error": {"code": -32800, "message": "request cancelled"}})
            return
    if MODE == "gather":
        HELD.append(msg)
        if len(HELD) < GATHER:
            return
        log(f"answered {len(HELD)}")
        while HELD:
            held = HELD.pop()
            line = held["params"]["position"]["line"]
            rng = {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 1}}
            send({"id": held["id"], "result": {"uri": held["params"]["textDocument"]["uri"], "range": rng}})
        return
    uri = msg["params"]["textDocument"]["uri"]
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}
    send({"id": msg_id, "result": {"uri": uri, "range": rng}})


def main() -> None:
    if MODE not in MODES:
        die(2, f"unknown mode; expected one of {', '.join(MODES)}")
    log("start")
    if MODE == "die-at-start":
        die(4, "dying before initialize")
    shut_down = False
    inbox: queue.Queue = queue.Queue()

    def reader() -> None:  # reads ahead, so that a cancellation is seen while a request is worked on
        while True:
            msg = read_message()
            if msg is not None and msg.get("method") == "$/cancelRequest":
                CANCELLED.add(msg["params"]["id"])
            inbox.put(msg)
            if msg is None:
                return

    threading.Thread(target=reader, daemon=True).start()
    while True:
        msg = inbox.get()
        if msg is None:  # stdin closed without exit
            while MODE == "hang":  # a stuck server does not notice its client is gone
                time.sleep(3600)
            sys.exit(1)
        method = msg.get("method")
        if method is None:
            continue  # a response to a request we never sent
        log(f"recv {method}")
        if method == "exit":
            sys.exit(0 if shut_down else 1)
        if "id" not in msg:
            continue  # notifications need no answer
        if method == "initialize":
            send({"id": msg["id"], "result": initialize_result()})
        elif method == "shutdown":
            shut_down = True
            send({"id": msg["id"], "result": None})
        elif method == "textDocument/definition":
            definition(msg)
        else:
            send({"id": msg["id"], "result": None})


if __name__ == "__main__":
    main()
