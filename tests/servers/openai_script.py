"""A scripted OpenAI-compatible Chat Completions server on loopback (the transport seam of the LLM agent).

``ScriptServer(script)`` answers ``POST /v1/chat/completions`` from a list of
steps, one step per request, in order; every request body is recorded in
``.requests``.  A step is a dict:

- ``{"tool_calls": [{"name": N, "arguments": {...} or "raw json"}], "usage": {...}}``
- ``{"content": "text", "usage": {...}}`` (a plain-text answer)
- ``{"status": 429|500|..., "body": {...}}`` an HTTP error (``"repeat": K`` answers it K times)
- ``{"hang": SECONDS}`` sleeps before answering nothing (the client must time out)
- ``{"cut_short": True}`` a 200 whose body ends before its Content-Length (the connection closes)
- ``{"context_overflow": True}`` the 400 ``context_length_exceeded`` error most servers send

When the script is exhausted the server answers 500 (a test that asks for more
than it scripted fails loudly, it does not hang).  ``usage`` defaults to zeros.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptServer"]


class ScriptServer:
    def __init__(self, script: list[dict[str, Any]], model: str = "scripted") -> None:
        self.steps: list[dict[str, Any]] = []
        for step in script:
            self.steps.extend([step] * int(step.get("repeat", 1)))
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet under pytest
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsable": raw.decode("utf-8", "replace")}
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    step = (
                        server.steps.pop(0)
                        if server.steps
                        else {"status": 500, "body": {"error": {"message": "script exhausted"}}}
                    )
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if "hang" in step:
                    server._stop.wait(float(step["hang"]))
                    return
                if step.get("cut_short"):  # promise more bytes than are sent, then close
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"choices": [')
                    self.close_connection = True
                    return
                if step.get("context_overflow"):
                    return self._send(
                        400,
                        {
                            "error": {
                                "message": "This model's maximum context length is 4096 tokens.",
                                "type": "invalid_request_error",
                                "code": "context_length_exceeded",
                            }
                        },
                    )
                if "status" in step:
                    return self._send(int(step["status"]), step.get("body") or {"error": {"message": "scripted"}})
                usage = {"prompt_tokens": 0, "completion_tokens": 0, **(step.get("usage") or {})}
                if all(isinstance(usage[k], int) for k in ("prompt_tokens", "completion_tokens")):
                    usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
                message: dict[str, Any] = {"role": "assistant", "content": step.get("content")}
                if step.get("tool_calls"):
                    message["tool_calls"] = [
                        {
                            "id": f"call_{len(server.requests)}_{i}",
                            "type": "function",
                            "function": {
                                "name": c["name"],
                                "arguments": c["arguments"]
                                if isinstance(c["arguments"], str)
                                else json.dumps(c["arguments"]),
                            },
                        }
                        for i, c in enumerate(step["tool_calls"])
                    ]
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": server.model,
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "finish_reason": "tool_calls" if step.get("tool_calls") else "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
